"""Benchmark: a landing mapping (docs/mappings.md, example (a)) on a generated invoice export.

Writes twelve monthly CSV files of invoice lines in the layout of
tests/fixtures/mappings/online_retail (seeded: the same files every time),
copies that example's retention.yml beside them, and extracts customers,
orders and order lines into a fresh warehouse: the first load, then a night
without new files. Prints the times, the rows and the process's peak RSS.

    .venv/bin/python bench/bench_mapping.py /tmp/bench_mapping --invoices-per-month 4000
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "tests" / "fixtures" / "mappings" / "online_retail" / "retention.yml"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def write_invoices(folder: Path, per_month: int, seed: int = 1) -> int:
    """Monthly files: 20% guest invoices, 2% credit notes, 1-19 lines each. Returns the lines written."""
    rng, start, lines = random.Random(seed), datetime(2010, 12, 1, 8), 0
    folder.mkdir(parents=True, exist_ok=True)
    for month in range(12):
        rows = [HEADER]
        for i in range(per_month):
            number = 500_000 + month * 100_000 + i
            customer = "" if rng.random() < 0.2 else str(12_000 + rng.randrange(4_000))
            at = start + timedelta(days=month * 30 + i * 30 / per_month, minutes=rng.randrange(600))
            stamp = f"{at.month}/{at.day}/{at.year} {at.hour}:{at.minute:02d}"
            credit = rng.random() < 0.02
            for line in range(rng.randrange(1, 20)):
                quantity = rng.randrange(1, 24) * (-1 if credit else 1)
                rows.append(f"{'C' if credit else ''}{number},{20_000 + line},ITEM,{quantity},{stamp},"
                            f"{rng.randrange(29, 999) / 100},{customer},United Kingdom")
        (folder / f"{month:02d}.csv").write_text("\n".join(rows) + "\n")
        lines += len(rows) - 1
    return lines


def main() -> None:
    from assets.extraction.dialect import landing_options
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.extraction.sources import LandingSource
    from assets.user_config import load_user_config
    from assets.warehouse import connect

    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--invoices-per-month", type=int, default=4_000)
    args = parser.parse_args()
    shutil.rmtree(args.folder, ignore_errors=True)
    written = write_invoices(args.folder / "invoices", args.invoices_per_month)
    shutil.copy(EXAMPLE, args.folder / "retention.yml")
    source = LandingSource(
        args.folder, currency="GBP", options=landing_options(load_user_config(args.folder / "retention.yml"))
    )
    con = connect(args.folder / "warehouse.duckdb")
    request = ExtractRequest(("customers", "orders", "order_lines"))
    for label, run_id in (("first load", "bench-1"), ("night without new files", "bench-2")):
        started = time.monotonic()
        totals = run_extraction(con, source, request, run_id, log=lambda m: None)
        rows = ", ".join(f"{e} {s.rows_read:,}" for e, s in totals.items())
        print(f"{label}: {time.monotonic() - started:.1f} s ({rows}; {written:,} invoice lines in the files)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
