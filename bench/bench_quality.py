"""Benchmark the quality gates: validation time and peak RSS at 1M and 10M orders.

Per size:
1. `prepare` (once, cached in --work-dir/<orders>/): the sample shop is
   extracted into a fresh build warehouse (`run_extraction`, like the
   extraction asset), then dbt builds staging / intermediate / marts into it
   (`dbt run`, skipped with --no-dbt or when dbt fails; the mart suites are
   then reported as not measured);
2. `validate` runs in a FRESH subprocess that imports the project and
   Great Expectations, clears the audit schema (a first validation), then
   validates every raw suite and every mart suite exactly as the asset checks
   do (GX Checkpoints on the DuckDB SQL data source, audit rows written,
   Data Docs built)
   three times: the full first run; a night with no new data; a night with
   one new day (the newest day's rows of every raw table re-stamped as loaded
   now). Peak RSS is the process figure (interpreter + imports + DuckDB
   buffers + GX).

    .venv/bin/python bench/bench_quality.py --orders 1000000 10000000
    .venv/bin/python bench/bench_quality.py --orders 1000000 --phase prepare   # data only

Prints a JSON line per size and a markdown table for docs/quality.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def prepare(orders: int, work: Path, dbt: bool) -> dict:
    from assets.extraction.contract import ENTITIES
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.extraction.sample_shop import SampleShopConfig
    from assets.extraction.sources import SampleShopSource
    from assets.warehouse import connect

    db = work / "build" / "warehouse.duckdb"
    marker = work / "prepared.json"
    if marker.exists():
        return json.loads(marker.read_text())
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = time.monotonic()
    source = SampleShopSource(SampleShopConfig(orders=orders))
    con = connect(db)
    try:
        run_extraction(con, source, ExtractRequest(entities=tuple(ENTITIES)), "bench", log=lambda m: None)
        counts = {e: con.execute(f"SELECT count(*) FROM raw.{e}").fetchone()[0] for e in ENTITIES}
    finally:
        con.close()
    info = {"orders": orders, "raw_rows": counts, "extract_seconds": round(time.monotonic() - started, 1)}
    info["marts"] = False
    if dbt:
        started = time.monotonic()
        env = {**os.environ, "RETENTION_BUILD_DB": str(db), "DO_NOT_TRACK": "1"}
        proc = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "dbt"), "run", "--vars", json.dumps({"shop_timezone": source.timezone}),
             "--target-path", str(work / "dbt_target"), "--log-path", str(work / "dbt_logs")],
            cwd=ROOT / "dbt_project", env=env, capture_output=True, text=True,
        )
        info["marts"] = proc.returncode == 0
        info["dbt_seconds"] = round(time.monotonic() - started, 1)
        if proc.returncode != 0:
            info["dbt_error"] = proc.stdout[-2000:]
    marker.write_text(json.dumps(info))
    return info


def _validate_all(con, suites, run_id: str, work: Path, config) -> tuple[float, dict, dict]:
    from assets.quality.engine import run_suite

    per_suite, failed = {}, {}
    started = time.monotonic()
    cpu = time.process_time()
    for suite in suites:
        t = time.monotonic()
        run = run_suite(con, suite, run_id, config, docs_root=work / "quality", log_fn=lambda m: None)
        per_suite[suite.name] = {"seconds": round(time.monotonic() - t, 2), "rows": run.rows_validated,
                                 "chunks": run.chunks, "peak_mib_so_far": round(_rss_mib())}
        if run.failed():
            failed[suite.name] = [r.rule_id for r in run.failed()]
    # CPU seconds of the process (DuckDB's threads included): less sensitive than wall time to a busy machine
    per_suite["_cpu_seconds"] = round(time.process_time() - cpu, 1)
    return round(time.monotonic() - started, 1), per_suite, failed


def _stamp_newest_day(con) -> int:
    """Re-stamp the newest day's rows of every raw table as loaded now: what a nightly load of one day adds."""
    from assets.quality.config import DEFAULT_CONFIG
    from assets.extraction.contract import ENTITIES

    n = 0
    for e in ENTITIES:
        ts = DEFAULT_CONFIG.time_columns[e]
        n += con.execute(
            f"UPDATE raw.{e} SET _loaded_at = now()::TIMESTAMP + INTERVAL 1 SECOND "
            f"WHERE {ts}::DATE = (SELECT max({ts})::DATE FROM raw.{e})").fetchone()[0]
    return n


def validate(work: Path, marts: bool) -> dict:
    """Runs in its own process (see main): a first full validation, then two nights."""
    rss_start = _rss_mib()
    t0 = time.monotonic()
    from assets.quality.config import DEFAULT_CONFIG
    from assets.quality.engine import _gx
    from assets.quality.suites import mart_suites, raw_suites
    from assets.warehouse import connect

    _gx()
    import_s = time.monotonic() - t0
    rss_imports = _rss_mib()
    config = DEFAULT_CONFIG
    db = work / "build" / "warehouse.duckdb"
    con = connect(db)
    try:
        con.execute("DROP SCHEMA IF EXISTS audit CASCADE")  # a first validation: no earlier run to start from
        suites = raw_suites(config) + (mart_suites(config) if marts else [])
        full_s, per_suite, failed = _validate_all(con, suites, "bench-full", work, config)
        quiet_s, quiet, _ = _validate_all(con, suites, "bench-night-no-new-data", work, config)
        restamped = _stamp_newest_day(con)
        day_s, day, _ = _validate_all(con, suites, "bench-night-one-day", work, config)
    finally:
        con.close()
    return {
        "validation_seconds": full_s,
        "night_no_new_data_seconds": quiet_s,
        "night_one_day_seconds": day_s,
        "one_day_rows": restamped,
        "gx_import_seconds": round(import_s, 1),
        "peak_rss_mib": round(_rss_mib()),
        "rss_after_imports_mib": round(rss_imports),
        "rss_start_mib": round(rss_start),
        "suites": per_suite,
        "night_no_new_data": quiet,
        "night_one_day": day,
        "failed": failed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/bench_quality"))
    ap.add_argument("--phase", choices=["all", "prepare", "validate", "_worker"], default="all")
    ap.add_argument("--no-dbt", action="store_true")
    ap.add_argument("--marts", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase == "_worker":
        print(json.dumps(validate(args.work_dir, args.marts)))
        return

    rows = []
    for n in args.orders:
        work = args.work_dir / str(n)
        info = prepare(n, work, dbt=not args.no_dbt)
        print(json.dumps({"prepared": info}), flush=True)
        if args.phase == "prepare":
            continue
        if (work / "quality").exists():
            shutil.rmtree(work / "quality")
        proc = subprocess.run(
            [sys.executable, __file__, "--phase", "_worker", "--work-dir", str(work)]
            + (["--marts"] if info.get("marts") else []),
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(proc.returncode)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result.update(orders=n, raw_rows=sum(info["raw_rows"].values()), marts=info.get("marts"))
        print(json.dumps(result), flush=True)
        rows.append(result)

    if rows:
        print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"{platform.platform()}")
        print("| orders | raw rows | marts | full s | night, no new data s | night, one day s | GX import s "
              "| peak RSS MiB |")
        print("|---:|---:|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['orders']:,} | {r['raw_rows']:,} | {'yes' if r['marts'] else 'no'} | "
                  f"{r['validation_seconds']} | {r['night_no_new_data_seconds']} | {r['night_one_day_seconds']} | "
                  f"{r['gx_import_seconds']} | {r['peak_rss_mib']} |")


if __name__ == "__main__":
    main()
