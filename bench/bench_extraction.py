"""Benchmark: sample-shop generation and extraction at 1M and 10M orders.

Each measurement runs in a fresh subprocess so that its peak RSS
(`ru_maxrss` of the child) is its own. Results print as a Markdown table;
paste them into docs/benchmarks.md with the machine they ran on.

    .venv/bin/python bench/bench_extraction.py                 # 1M and 10M
    .venv/bin/python bench/bench_extraction.py --orders 1000000 --keep /tmp/wh1m
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    ap.add_argument("--child")
    ap.add_argument("--db")
    a = ap.parse_args()
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
