"""Benchmark: a nightly run (one more day, incremental dbt) versus a full rebuild.

Needs a raw-only warehouse of the sample shop extracted up to the day before
its last day (the 10M-order one takes ~15 minutes to extract; run it once):

    .venv/bin/python bench/bench_nightly.py --prepare --orders 10000000 --base /tmp/bench/nightly_base.duckdb
    .venv/bin/python bench/bench_nightly.py --orders 10000000 --base /tmp/bench/nightly_base.duckdb

What is measured (each step a fresh subprocess: wall time and peak RSS):

1. setup, not part of the comparison: copy the base, `dbt build` on it
   (the state the previous night left: marts up to the day before);
2. nightly extraction: the last day (sample shop, `until` = end of history,
   continuing from the base's high-water mark: new orders, updates, late
   refunds);
3. the publish copy: `cp` of the warehouse file (the nightly run publishes a
   copy of the build file; it is not free at this size);
4. nightly dbt: `dbt build` (models + tests), incremental;
5. full dbt: `dbt build --full-refresh` on a copy of the same warehouse
   taken before step 4 (identical raw data).

Steps 2-5 repeat `--repeat` times from a saved copy of step 1's result.
The ratio reported is nightly dbt / full dbt (and with extraction).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dbt import DEFAULT_VARS, measure as measure_dbt  # noqa: E402


def _extract_child(orders: int, db: str, until: str) -> None:
    sys.path.insert(0, str(ROOT))
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.extraction.sample_shop import ENTITY_NAMES, SampleShopConfig
    from assets.extraction.sources import SampleShopSource
    from assets.warehouse import connect

    source = SampleShopSource(SampleShopConfig(orders=orders))
    end = source.history_end()
    bound = end if until == "end" else end - timedelta(days=1)
    t0 = time.perf_counter()
    con = connect(db)
    totals = run_extraction(con, source, ExtractRequest(ENTITY_NAMES, until=bound), "bench", log=lambda m: None)
    con.execute("CHECKPOINT")
    con.close()
    print(json.dumps({
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "inserted": {e: s.inserted for e, s in totals.items()},
        "updated": {e: s.updated for e, s in totals.items()},
    }))


def extract(orders: int, db: Path, until: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child-extract", str(db), until, "--orders", str(orders)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def copy_seconds(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    subprocess.run(["sync"], check=True)
    return round(time.perf_counter() - t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--base", help="raw-only warehouse extracted up to the day before the last")
    ap.add_argument("--prepare", action="store_true", help="extract --base (up to the day before the last) and stop")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--vars", default=json.dumps(DEFAULT_VARS))
    ap.add_argument("--json", help="append every measurement as a JSON line here")
    ap.add_argument("--child-extract", nargs=2)
    a = ap.parse_args()
    if a.child_extract:
        _extract_child(a.orders, a.child_extract[0], a.child_extract[1])
        return
    if not a.base:
        ap.error("--base is required")
    base = Path(a.base)
    if a.prepare:
        r = extract(a.orders, base, "day-before")
        print(f"base extracted up to the day before the last: {r}")
        return

    def record(row: dict) -> None:
        if a.json:
            with open(a.json, "a") as fh:
                fh.write(json.dumps(row) + "\n")

    with tempfile.TemporaryDirectory(dir=base.parent) as tmp:
        tmp = Path(tmp)
        built = tmp / "built_day_before.duckdb"
        shutil.copyfile(base, built)
        setup = measure_dbt(built, tmp / "target_setup", ["build", "--vars", a.vars, "--full-refresh"])
        print(f"setup: dbt build on the base (up to the day before): {setup['seconds']} s, {setup['peak_mib']} MiB", flush=True)
        record({"step": "setup_build", **setup})
        print()
        print("| run | step | seconds | peak RSS MiB | notes |")
        print("|---:|---|---:|---:|---|")
        for i in range(1, a.repeat + 1):
            nightly, full = tmp / "nightly.duckdb", tmp / "full.duckdb"
            shutil.copyfile(built, nightly)
            ex = extract(a.orders, nightly, "end")
            size_gib = nightly.stat().st_size / 2**30
            cp = copy_seconds(nightly, full)  # also the full build's input: same raw data
            inc = measure_dbt(nightly, tmp / f"target_nightly_{i}", ["build", "--vars", a.vars])
            fr = measure_dbt(full, tmp / f"target_full_{i}", ["build", "--vars", a.vars, "--full-refresh"])
            rows = [
                ("nightly extraction (last day)", ex["seconds"], ex["peak_mib"],
                 f"orders +{ex['inserted']['orders']:,} new, {ex['updated']['orders']:,} updated"),
                ("publish copy (cp + sync)", cp, "", f"{size_gib:.1f} GiB file"),
                ("nightly dbt build (incremental)", inc["seconds"], inc["peak_mib"],
                 "top: " + ", ".join(f"{n} {s}" for n, s in inc["top"])),
                ("full dbt build --full-refresh", fr["seconds"], fr["peak_mib"],
                 "top: " + ", ".join(f"{n} {s}" for n, s in fr["top"])),
            ]
            for step, seconds, peak, notes in rows:
                print(f"| {i} | {step} | {seconds} | {peak} | {notes} |", flush=True)
            ratio = inc["seconds"] / fr["seconds"]
            print(f"| {i} | ratio nightly dbt / full dbt | {ratio:.1%} | | node seconds nightly {inc['node_seconds']}, full {fr['node_seconds']} |", flush=True)
            record({"step": "run", "run": i, "extract": ex, "cp_seconds": cp, "size_gib": round(size_gib, 2),
                    "nightly_dbt": inc, "full_dbt": fr, "ratio": round(ratio, 4)})
            for f in (nightly, full):
                f.unlink()
                Path(str(f) + ".wal").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
