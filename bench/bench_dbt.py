"""Benchmark: `dbt build` (models + tests) and `dbt run` (models only) on an extracted warehouse.

Input: a raw-only warehouse made by bench/bench_extraction.py, e.g.

    .venv/bin/python bench/bench_extraction.py --orders 1000000 --keep /tmp/bench
    .venv/bin/python bench/bench_dbt.py --warehouse /tmp/bench/warehouse_1000000.duckdb

The raw file is never written: every measurement copies it to a scratch file
first (the copy is not timed) and runs dbt on the copy with
`--full-refresh`, so each measurement is a from-scratch build and the raw
file can be reused.

Method: each measurement runs in a fresh Python subprocess that starts dbt as
its own child, times it with `time.perf_counter` (wall time of the whole dbt
CLI, parse included) and reads the dbt process' peak RSS from
`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` (a fresh parent per
measurement, so the figure is that one dbt run's peak). dbt's
run_results.json gives per-node timings; the top nodes are printed.
Each measurement runs `--repeat` times (default 2: the machine is shared,
report both).
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
DBT_PROJECT_DIR = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
DEFAULT_VARS = {"shop_timezone": "America/New_York"}


def dbt_command(args: list[str], target: Path) -> list[str]:
    return [
        str(DBT), *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target),
        "--log-path", str(target / "logs"),
    ]


def _child(db: str, target: str, args: list[str]) -> None:
    """Run dbt once on `db` and print one JSON line: seconds, peak MiB, top nodes."""
    env = {**os.environ, "RETENTION_BUILD_DB": db, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    t0 = time.perf_counter()
    proc = subprocess.run(dbt_command(args, Path(target)), env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-2000:])
        raise SystemExit(proc.returncode)
    print(json.dumps({"seconds": round(seconds, 1), "peak_mib": round(peak), **summarize(Path(target) / "run_results.json")}))


def summarize(run_results: Path, top: int = 5) -> dict:
    results = json.loads(run_results.read_text())["results"]
    nodes = sorted(results, key=lambda r: -r["execution_time"])
    by_type: dict[str, float] = {}
    for r in results:
        kind = r["unique_id"].split(".")[0]
        by_type[kind] = by_type.get(kind, 0.0) + r["execution_time"]
    return {
        "nodes": len(results),
        "node_seconds": {k: round(v, 1) for k, v in sorted(by_type.items())},
        "top": [(r["unique_id"].split(".", 2)[-1][:70], round(r["execution_time"], 2)) for r in nodes[:top]],
    }


def measure(db: Path, target: Path, args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(db), str(target), json.dumps(args)],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} on {db} failed:\n{out.stderr[-8000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table_rows(db: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND NOT starts_with(table_name, '_')"
        ).fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM raw."{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", action="append", help="raw-only warehouse(s) from bench_extraction.py")
    ap.add_argument("--scratch", help="folder for the scratch copies (default: a temp dir next to the warehouse)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--vars", default=json.dumps(DEFAULT_VARS))
    ap.add_argument("--commands", default="build,run", help="comma list of dbt commands to time")
    ap.add_argument("--json", help="also append every measurement as a JSON line here")
    ap.add_argument("--child", nargs=3)
    a = ap.parse_args()
    if a.child:
        _child(a.child[0], a.child[1], json.loads(a.child[2]))
        return
    print("| dbt command | raw orders | run | seconds | peak RSS MiB | nodes | models s / tests s / unit s | top 5 nodes (s) |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for wh in a.warehouse:
        raw = Path(wh)
        rows = table_rows(raw)
        scratch_parent = Path(a.scratch) if a.scratch else raw.parent
        scratch_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch_parent) as tmp:
            db = Path(tmp) / "build.duckdb"
            for command in a.commands.split(","):
                for i in range(1, a.repeat + 1):
                    shutil.copyfile(raw, db)
                    target = Path(tmp) / f"target_{command}_{i}"
                    r = measure(db, target, [command, "--vars", a.vars, "--full-refresh"])
                    r.update(command=command, run=i, warehouse=str(raw), raw_rows=rows)
                    ns = r["node_seconds"]
                    split = f"{ns.get('model', 0)} / {ns.get('test', 0)} / {ns.get('unit_test', 0)}"
                    top = ", ".join(f"{n} {s}" for n, s in r["top"])
                    print(f"| {command} | {rows.get('orders', 0):,} | {i} | {r['seconds']} | {r['peak_mib']} | {r['nodes']} | {split} | {top} |", flush=True)
                    if a.json:
                        with open(a.json, "a") as fh:
                            fh.write(json.dumps(r) + "\n")
                    db.unlink()
                    Path(str(db) + ".wal").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
