"""Benchmark: sample-shop generation and extraction at 1M and 10M orders.

Each measurement runs in a fresh subprocess so that its peak RSS
(`ru_maxrss` of the child) is its own. Results print as a Markdown table;
paste them into docs/benchmarks.md with the machine they ran on.

    .venv/bin/python bench/bench_extraction.py                 # 1M and 10M
    .venv/bin/python bench/bench_extraction.py --orders 1000000 --keep /tmp/wh1m

`--landing DIR` measures the landing-folder path instead (RETENTION_SOURCE=landing):
the sample shop written as Parquet files (one per block and entity, by
bench/landing.py), extracted in full, then one new day into a warehouse
holding all days but the last, then once more with nothing new; next to the
anchor, bare DuckDB reading, deduplicating and persisting the same files
(bench/anchors.py). Files and warehouses are kept in DIR for reruns.

    .venv/bin/python bench/bench_extraction.py --landing /tmp/bench_landing --orders 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/landing.py and bench/anchors.py (the pipeline benchmark's helpers) sit beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _landing_child(kind: str, folder: str, db: str) -> None:
    sys.path.insert(0, str(ROOT))
    from assets.extraction.contract import ENTITIES
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.extraction.sources import LandingSource
    from assets.warehouse import connect

    t0 = time.perf_counter()
    if kind == "anchor":
        from anchors import read_dedupe_persist

        rows = read_dedupe_persist(Path(folder), Path(db))["rows"]
    else:
        con = connect(db)
        totals = run_extraction(con, LandingSource(Path(folder)), ExtractRequest(tuple(ENTITIES)), "bench", log=lambda m: None)
        con.execute("CHECKPOINT")
        con.close()
        rows = {e: s.rows_read for e, s in totals.items()}
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "seconds": round(seconds, 2), "peak_mib": round(peak), "rows": rows}))


def _landing_measure(kind: str, folder: Path, db: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--landing-child", kind, str(folder), str(db)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def landing_main(work: Path, orders: int) -> None:
    """Full load, one new day and a night with nothing new, from Parquet landing folders."""
    from landing import history_days, write_day, write_landing

    work.mkdir(parents=True, exist_ok=True)
    full, base, day, night = (work / n for n in ("full", "base", "day", "night"))
    if not full.exists():
        write_landing(full, orders)
        write_landing(base, orders, days=history_days(orders) - 1)
        write_day(day, orders)
    # The night's folder: the base files (ingested by the base load) plus the new day's.
    shutil.rmtree(night, ignore_errors=True)
    for src in (base, day):
        for f in src.rglob("*.parquet"):
            (night / f.parent.name).mkdir(parents=True, exist_ok=True)
            os.link(f, night / f.parent.name / f.name)
    for f in day.rglob("*.parquet"):
        os.unlink(night / f.parent.name / f.name)  # absent at the base load
    for db in work.glob("*.duckdb*"):
        db.unlink()
    _landing_measure("extract", night, work / "base.duckdb")  # setup: all days but the last
    for f in day.rglob("*.parquet"):
        os.link(f, night / f.parent.name / f.name)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| step | rows (extraction: read; anchor: kept) | seconds | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    steps = [
        ("anchor: read, dedupe, persist (bare DuckDB)", "anchor", full, work / "anchor.duckdb"),
        ("extraction, full load", "extract", full, work / "full.duckdb"),
        ("extraction, one new day", "extract", night, work / "base.duckdb"),
        ("extraction, nothing new", "extract", night, work / "base.duckdb"),
    ]
    for label, kind, folder, db in steps:
        r = _landing_measure(kind, folder, db)
        print(f"| {label} | {sum(r['rows'].values()):,} | {r['seconds']} | {r['peak_mib']} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


def _child(kind: str, orders: int, db: str) -> None:
    sys.path.insert(0, str(ROOT))
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.extraction.sample_shop import ENTITY_NAMES, SampleShopConfig, iter_blocks
    from assets.extraction.sources import SampleShopSource
    from assets.warehouse import connect

    cfg = SampleShopConfig(orders=orders)
    t0 = time.perf_counter()
    rows: dict[str, int] = {}
    if kind == "generate":
        for block in iter_blocks(cfg):
            for name, df in block.items():
                rows[name] = rows.get(name, 0) + df.height
    else:
        con = connect(db)
        totals = run_extraction(con, SampleShopSource(cfg), ExtractRequest(ENTITY_NAMES), "bench", log=lambda m: None)
        con.execute("CHECKPOINT")
        con.close()
        rows = {e: s.rows_read for e, s in totals.items()}
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "orders": orders, "seconds": round(seconds, 1), "peak_mib": round(peak), "rows": rows}))


def measure(kind: str, orders: int, db: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--orders", str(orders), "--db", db],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, action="append", help="scale(s); default 1M and 10M")
    ap.add_argument("--keep", help="keep the extracted warehouse in this folder (for bench_dbt)")
    ap.add_argument("--landing", help="measure the landing-folder path in this work folder (see above)")
    ap.add_argument("--child")
    ap.add_argument("--landing-child", nargs=3)
    ap.add_argument("--db")
    a = ap.parse_args()
    if a.landing_child:
        _landing_child(*a.landing_child)
        return
    if a.landing:
        landing_main(Path(a.landing), (a.orders or [1_000_000])[0])
        return
    if a.child:
        _child(a.child, a.orders[0], a.db)
        return
    print("| step | orders | rows (all entities) | seconds | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for orders in a.orders or [1_000_000, 10_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(a.keep) if a.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            db = str(folder / f"warehouse_{orders}.duckdb")
            if os.path.exists(db):
                os.remove(db)
            for kind in ("generate", "extract"):
                r = measure(kind, orders, db)
                print(f"| {kind} | {orders:,} | {sum(r['rows'].values()):,} | {r['seconds']} | {r['peak_mib']} |", flush=True)


if __name__ == "__main__":
    main()
