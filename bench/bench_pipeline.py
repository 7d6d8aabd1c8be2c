"""Benchmark: the whole pipeline, full and nightly, beside bare DuckDB anchors, in one invocation.

    make bench                                                    # 1M orders
    .venv/bin/python bench/bench_pipeline.py --orders 10000000    # the long one
    .venv/bin/python bench/bench_pipeline.py --orders 20000 --markdown /tmp/bench.md

1. The sample shop as a Parquet landing folder (bench/landing.py), every day
   but the last, and the last day's files aside; cached by orders and seed
   under --work.
2. Anchors on the same files, each in a fresh process: bare DuckDB
   read-dedupe-persist of all entities, then the required marts in bare SQL
   (bench/anchors.py, bench/anchor_marts.sql).
3. The pipeline as users run it, `dagster asset materialize --select '*'` in
   a subprocess (RETENTION_SOURCE=landing, a throwaway DAGSTER_HOME with the
   project's dagster.yaml): the full run from an empty data folder, a night
   with the last day's files added, a night with no new file.
4. One table: wall time, peak RSS of the process tree, seconds per stage
   (from the run's Dagster event log), then each goal's ratio and verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SAMPLE_TIMEZONE = "America/New_York"  # the sample shop's own (assets/extraction/sample_shop.py)
SAMPLE_INTERVAL_S = 0.2
MIB = 1024 * 1024
GIB = 1024 * MIB

# Stages in pipeline order; a stage the Definitions add later gets a column after these.
STAGES = ("extraction", "raw checks", "dbt", "mart checks", "predictions", "publish")
QUALITY_STAGES = ("raw checks", "mart checks")
# Asset groups of the Definitions whose stage is not their own name.
STAGE_OF_GROUP = {"serving": "publish"}
# Groups that hold dbt models; a non-dbt asset in them is a Python model over the marts.
DBT_GROUPS = ("staging", "intermediate", "marts")
RUNS = ("full", "nightly one day", "nightly no data")


# ---------------------------------------------------------------------------
# Pure functions: stages from the event log, goals, the table.
# ---------------------------------------------------------------------------


def asset_stage(group: str, kinds: Iterable[str]) -> str:
    """The stage an asset belongs to, from its group and kinds in the Definitions."""
    if "dbt" in kinds:
        return "dbt"
    if group in DBT_GROUPS:
        return "predictions"
    return STAGE_OF_GROUP.get(group, group)


def step_stage(assets: Sequence[str], check_targets: Sequence[str], stage_of: Mapping[str, str]) -> str:
    """A step's stage: that of the assets it materializes, else 'raw checks' / 'mart checks' by its checks' targets.

    Checks on extraction's assets gate raw data; checks on anything built
    from it gate the marts.
    """
    if assets:
        found = {stage_of.get(a, "unclassified") for a in assets}
        return min(found, key=lambda s: STAGES.index(s) if s in STAGES else len(STAGES))
    if check_targets:
        if all(stage_of.get(t) == "extraction" for t in check_targets):
            return "raw checks"
        return "mart checks"
    return "unclassified"


def step_durations(events: Sequence[Mapping]) -> dict[str, float]:
    """Seconds per step: from STEP_START to its STEP_SUCCESS or STEP_FAILURE (a step never started: 0)."""
    start: dict[str, float] = {}
    end: dict[str, float] = {}
    for e in events:
        step = e.get("step")
        if not step:
            continue
        if e["type"] == "STEP_START":
            start[step] = e["ts"]
        elif e["type"] in ("STEP_SUCCESS", "STEP_FAILURE"):
            end[step] = e["ts"]
    return {s: round(end[s] - start[s], 3) for s in start if s in end}


def run_bounds(events: Sequence[Mapping]) -> tuple[float | None, float | None]:
    """Timestamps of RUN_START and of the run's end event (success or failure); None when missing."""
    ts = {e["type"]: e["ts"] for e in events if e["type"] in ("RUN_START", "RUN_SUCCESS", "RUN_FAILURE")}
    return ts.get("RUN_START"), ts.get("RUN_SUCCESS", ts.get("RUN_FAILURE"))


def run_span(events: Sequence[Mapping]) -> float | None:
    """Seconds from RUN_START to the run's end event."""
    start, end = run_bounds(events)
    return None if start is None or end is None else round(end - start, 3)


def outside_run(process_start: float, process_end: float, events: Sequence[Mapping]) -> tuple[float | None, float | None]:
    """Seconds of the CLI process before RUN_START (start-up, loading the Definitions) and after the run's end (exit)."""
    start, end = run_bounds(events)
    return (
        None if start is None else round(start - process_start, 3),
        None if end is None else round(process_end - end, 3),
    )


def stage_seconds(
    events: Sequence[Mapping], plan: Mapping[str, Mapping[str, Sequence[str]]], stage_of: Mapping[str, str]
) -> dict[str, float]:
    """Seconds per stage: step durations summed by step_stage (steps run one after another in one process)."""
    totals: dict[str, float] = {}
    for step, seconds in step_durations(events).items():
        outputs = plan.get(step, {})
        stage = step_stage(outputs.get("assets", ()), outputs.get("check_targets", ()), stage_of)
        totals[stage] = round(totals.get(stage, 0.0) + seconds, 3)
    return totals


def dbt_breakdown(invocations: Mapping[str, Mapping]) -> dict[str, float]:
    """dbt's own view of its invocations (run_results.json per step): elapsed seconds and node seconds by kind.

    Node seconds add up across dbt's threads, so they can exceed elapsed.
    """
    out = {"elapsed": 0.0, "model": 0.0, "test": 0.0, "unit_test": 0.0}
    for run_results in invocations.values():
        out["elapsed"] += run_results.get("elapsed_time", 0.0)
        for node in run_results.get("results", ()):
            kind = node["unique_id"].split(".", 1)[0]
            if kind in out:
                out[kind] += node.get("execution_time", 0.0)
    return {k: round(v, 3) for k, v in out.items()}


def ordered_stages(found: Iterable[str]) -> list[str]:
    """STAGES first, in pipeline order, then any other stage found, sorted."""
    found = set(found)
    return list(STAGES) + sorted(found - set(STAGES))


def descendants(root: int, parent_of: Mapping[int, int]) -> set[int]:
    """`root` and every process below it, given each process's parent."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    return tree


@dataclass
class RunResult:
    name: str
    wall: float
    peak_tree_bytes: int
    peak_process_bytes: int
    status: str = "?"
    stages: dict[str, float] = field(default_factory=dict)
    in_run: float | None = None
    summary_seconds: float | None = None
    startup: float | None = None
    after_run: float | None = None
    dbt: dict[str, float] = field(default_factory=dict)

    @property
    def between_steps(self) -> float | None:
        """Run time in no step: planning, launching steps, writing the event log."""
        return None if self.in_run is None else round(self.in_run - sum(self.stages.values()), 3)


@dataclass(frozen=True)
class Verdict:
    what: str
    measured: str
    ratio: float | None
    goal: str
    limit: float | None

    @property
    def met(self) -> str:
        if self.ratio is None or self.limit is None:
            return "n/a"
        return "met" if self.ratio <= self.limit else "not met"


# Full-run wall-time goals by scale (orders -> seconds).
WALL_GOALS = {1_000_000: 40.0, 10_000_000: 240.0}
PEAK_GOAL_BYTES = 4 * GIB


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


def verdicts(runs: Mapping[str, RunResult], anchor_extract_s: float, anchor_marts_s: float, orders: int) -> list[Verdict]:
    """Each project goal's ratio, its limit, and whether it is met."""
    full = runs.get("full")
    one_day, no_data = runs.get("nightly one day"), runs.get("nightly no data")
    out = []
    if full is None:
        return out
    extraction = full.stages.get("extraction")
    out.append(Verdict(
        "extraction / bare read-dedupe-persist", f"{extraction} s / {anchor_extract_s} s",
        _ratio(extraction, anchor_extract_s), "<= 2x", 2.0,
    ))
    dbt_budget = round(anchor_marts_s * 1.3 + 15, 2)
    dbt = full.stages.get("dbt")
    out.append(Verdict(
        "dbt step / (bare marts SQL x 1.3 + 15 s)", f"{dbt} s / {dbt_budget} s", _ratio(dbt, dbt_budget), "<= 1", 1.0,
    ))
    quality = round(sum(full.stages.get(s, 0.0) for s in QUALITY_STAGES), 3)
    out.append(Verdict("quality gates / wall (full)", f"{quality} s / {full.wall} s", _ratio(quality, full.wall), "<= 15%", 0.15))
    for run, limit in ((one_day, 0.10), (no_data, 0.05)):
        if run is not None:
            out.append(Verdict(
                f"{run.name} / full (wall)", f"{run.wall} s / {full.wall} s", _ratio(run.wall, full.wall), f"<= {limit:.0%}", limit,
            ))
    goal = WALL_GOALS.get(orders)
    out.append(Verdict(
        "full wall / goal at this scale", f"{full.wall} s" + (f" / {goal:.0f} s" if goal else " (goals at 1M and 10M only)"),
        _ratio(full.wall, goal), f"<= {goal:.0f} s" if goal else "-", 1.0 if goal else None,
    ))
    peak = max(r.peak_tree_bytes for r in runs.values())
    out.append(Verdict(
        "peak RSS (tree) / 4 GiB", f"{peak / MIB:,.0f} MiB", peak / PEAK_GOAL_BYTES, "<= 4 GiB", 1.0,
    ))
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; every column but the first right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def runs_table(runs: Sequence[RunResult], anchors: Mapping[str, Mapping]) -> str:
    """Runs and anchors: wall, peak RSS, seconds per stage."""
    stages = ordered_stages(s for r in runs for s in r.stages)
    header = ["run", "status", "wall s", "peak RSS MiB (tree)", "largest process MiB", *(f"{s} s" for s in stages),
              "start-up s", "between steps s", "after run s", "summary s"]
    rows = []
    for r in runs:
        rows.append([
            r.name, r.status, _fmt(r.wall), _fmt(r.peak_tree_bytes / MIB, 0), _fmt(r.peak_process_bytes / MIB, 0),
            *(_fmt(r.stages.get(s)) for s in stages), _fmt(r.startup), _fmt(r.between_steps), _fmt(r.after_run),
            _fmt(r.summary_seconds),
        ])
    for name, a in anchors.items():
        rows.append([
            f"anchor: {name}", "-", _fmt(a["wall"]), _fmt(a["peak_tree_bytes"] / MIB, 0),
            _fmt(a["peak_process_bytes"] / MIB, 0), *(["-"] * len(stages)), "-", "-", "-", "-",
        ])
    return markdown_table(header, rows)


def dbt_table(runs: Sequence[RunResult]) -> str:
    """The dbt step against dbt's own elapsed time and node seconds."""
    rows = []
    for r in runs:
        d, step = r.dbt, r.stages.get("dbt")
        outside = None if step is None or not d else step - d["elapsed"]
        rows.append([r.name, _fmt(step), _fmt(d.get("elapsed")), _fmt(outside), _fmt(d.get("model")),
                     _fmt(d.get("test")), _fmt(d.get("unit_test"))])
    return markdown_table(
        ["run", "dbt step s", "dbt elapsed s", "step less dbt elapsed s", "node s: models", "node s: data tests",
         "node s: unit tests"], rows)


def verdicts_table(items: Sequence[Verdict]) -> str:
    rows = [[v.what, v.measured, "-" if v.ratio is None else f"{v.ratio:.2f}", v.goal, v.met] for v in items]
    return markdown_table(["goal", "measured", "ratio", "limit", "verdict"], rows)


# ---------------------------------------------------------------------------
# Measuring a process tree (Linux /proc).
# ---------------------------------------------------------------------------


def _parents() -> dict[int, int]:
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    # the command name may hold spaces and parentheses: the fields follow its last ')'
                    out[int(entry.name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def measure(cmd: Sequence[str], env: Mapping[str, str], log: Path) -> dict:
    """Run `cmd`; wall seconds, peak summed RSS of its process tree (sampled), ru_maxrss of its largest process."""
    with log.open("w") as out:
        t0, started_at = time.perf_counter(), time.time()
        proc = subprocess.Popen(list(cmd), env=dict(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            peak = max(peak, sum(_rss_bytes(p) for p in descendants(proc.pid, _parents())))
            time.sleep(SAMPLE_INTERVAL_S)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    # wait4's ru_maxrss covers the child and every descendant it waited for: the largest one's peak (KiB).
    return {"wall": round(wall, 2), "started_at": started_at, "ended_at": started_at + wall, "peak_tree_bytes": peak, "peak_process_bytes": usage.ru_maxrss * 1024,
            "returncode": proc.returncode}


# ---------------------------------------------------------------------------
# Children: anchors and reading a run's event log, each in its own process.
# ---------------------------------------------------------------------------


def _child_anchor(kind: str, landing: str, db: str) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from anchors import read_dedupe_persist, run_marts

    result = read_dedupe_persist(Path(landing), Path(db)) if kind == "extract" else run_marts(Path(db), SAMPLE_TIMEZONE)
    print(json.dumps(result))


def _child_describe() -> None:
    """The newest run of $DAGSTER_HOME: status, step events, each step's assets/checks, each asset's stage."""
    sys.path.insert(0, str(ROOT))
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    instance = DagsterInstance.get()
    run = instance.get_runs(limit=1)[0]
    plan = {}
    for step in instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id).steps:
        assets, targets = [], []
        for output in step.outputs:
            props = output.properties
            if props is None:
                continue
            if props.asset_check_key is not None:
                targets.append(props.asset_check_key.asset_key.to_user_string())
            elif props.asset_key is not None:
                assets.append(props.asset_key.to_user_string())
        plan[step.key] = {"assets": assets, "check_targets": targets}
    kinds = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "RUN_START", "RUN_SUCCESS", "RUN_FAILURE")
    events = [
        {"type": e.dagster_event.event_type.name, "step": e.step_key, "ts": e.timestamp}
        for e in instance.all_logs(run.run_id)
        if e.dagster_event is not None and e.dagster_event.event_type.name in kinds
    ]
    from assets.dbt import dbt_runs_dir

    dbt_runs = dbt_runs_dir(Path(os.environ["RETENTION_DATA_DIR"])) / run.run_id
    dbt = {p.parent.name: json.loads(p.read_text()) for p in sorted(dbt_runs.glob("*/run_results.json"))}
    graph = defs.resolve_asset_graph()
    stage_of = {
        key.to_user_string(): asset_stage(graph.get(key).group_name, graph.get(key).kinds)
        for key in graph.get_all_asset_keys()
    }
    print(json.dumps({"run_id": run.run_id, "status": run.status.value, "plan": plan, "events": events, "stage_of": stage_of,
                      "dbt": {step: {"elapsed_time": r.get("elapsed_time", 0.0), "results": [
                          {"unique_id": n["unique_id"], "execution_time": n["execution_time"]} for n in r["results"]
                      ]} for step, r in dbt.items()}}))


def _python_child(args: Sequence[str], env: Mapping[str, str], log: Path) -> tuple[dict, dict]:
    """Measure `python bench_pipeline.py <args>`; its last stdout line is JSON."""
    m = measure([sys.executable, __file__, *args], env, log)
    if m["returncode"] != 0:
        raise SystemExit(f"bench_pipeline: {' '.join(args)} failed with exit code {m['returncode']}; see {log}")
    return m, json.loads(log.read_text().strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# The invocation.
# ---------------------------------------------------------------------------


def prepare_landing(work: Path, orders: int, seed: int) -> Path:
    """The cached landing folder for (orders, seed): base/ (every day but the last) and last_day/."""
    sys.path.insert(0, str(ROOT / "bench"))
    from landing import history_days, write_day, write_landing

    cache = work / f"landing-o{orders}-s{seed}"
    if (cache / "complete").exists():
        return cache
    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    base = write_landing(cache / "base", orders, seed, days=history_days(orders, seed) - 1)
    day = write_day(cache / "last_day", orders, seed)
    (cache / "complete").write_text(json.dumps({"base": base, "last_day": day}))
    print(f"landing folder written in {time.perf_counter() - t0:.1f} s: {cache}", flush=True)
    return cache


def _link_tree(src: Path, dst: Path) -> None:
    """Hard links: instant, and the cache stays as it was whatever the run does."""
    shutil.copytree(src, dst, copy_function=os.link, dirs_exist_ok=True)


def run_env(landing: Path, data: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env.update({
        "RETENTION_SOURCE": "landing",
        "RETENTION_LANDING_DIR": str(landing),
        "RETENTION_DATA_DIR": str(data),
        "RETENTION_SHOP_TIMEZONE": SAMPLE_TIMEZONE,
        "DAGSTER_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
    })
    return env


def run_pipeline(name: str, env: Mapping[str, str], logs: Path) -> RunResult:
    slug = name.replace(" ", "_")
    cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
           "--select", "*", "-c", "orchestration/console.yaml"]
    m = measure(cmd, env, logs / f"{slug}.log")
    _, run = _python_child(["--child-describe"], env, logs / f"{slug}.events.json")
    summary = measure([sys.executable, "-m", "orchestration.where"], env, logs / f"{slug}.summary.log")
    result = RunResult(
        name, m["wall"], m["peak_tree_bytes"], m["peak_process_bytes"], status=run["status"],
        stages=stage_seconds(run["events"], run["plan"], run["stage_of"]), in_run=run_span(run["events"]),
        summary_seconds=summary["wall"],
    )
    result.dbt = dbt_breakdown(run["dbt"])
    result.startup, result.after_run = outside_run(m["started_at"], m["ended_at"], run["events"])
    print(f"{name}: {result.status} in {result.wall} s, peak {result.peak_tree_bytes / MIB:,.0f} MiB, "
          f"stages {result.stages}", flush=True)
    return result


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _machine() -> str:
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {mem_kib / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", type=Path, default=Path("/tmp/retention_bench"))
    ap.add_argument("--markdown", type=Path, help="also write the tables (with date, machine, load) to this file")
    ap.add_argument("--child-anchor", nargs=3, metavar=("KIND", "LANDING", "DB"), help=argparse.SUPPRESS)
    ap.add_argument("--child-describe", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child_anchor:
        return _child_anchor(*a.child_anchor)
    if a.child_describe:
        return _child_describe()

    load_before = _load()
    started = datetime.now(timezone.utc)
    cache = prepare_landing(a.work, a.orders, a.seed)
    run_dir = a.work / f"run-o{a.orders}-s{a.seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    landing, data, home, logs = (run_dir / d for d in ("landing", "data", "dagster_home", "logs"))
    logs.mkdir(parents=True)
    _link_tree(cache / "base", landing)
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = run_env(landing, data, home)

    anchors: dict[str, dict] = {}
    anchor_db = run_dir / "anchor.duckdb"
    m, extracted = _python_child(["--child-anchor", "extract", str(landing), str(anchor_db)], env, logs / "anchor_extract.log")
    anchors["read-dedupe-persist"] = {**m, "inner": extracted["seconds"], "rows": extracted["rows"]}
    m, marts = _python_child(["--child-anchor", "marts", str(landing), str(anchor_db)], env, logs / "anchor_marts.log")
    anchors["marts SQL"] = {**m, "inner": marts["seconds"], "rows": marts["rows"]}
    print(f"anchors: read-dedupe-persist {extracted['seconds']} s, marts SQL {marts['seconds']} s", flush=True)

    runs = {"full": run_pipeline("full", env, logs)}
    # Copied, not linked: new files with fresh modification times, as a shop drops them.
    shutil.copytree(cache / "last_day", landing, copy_function=shutil.copy, dirs_exist_ok=True)
    runs["nightly one day"] = run_pipeline("nightly one day", env, logs)
    runs["nightly no data"] = run_pipeline("nightly no data", env, logs)

    # Anchor seconds are timed inside their process (the work itself, as the goals define them).
    checks = verdicts(runs, anchors["read-dedupe-persist"]["inner"], anchors["marts SQL"]["inner"], a.orders)
    rows = extracted["rows"]
    text = "\n\n".join([
        f"Pipeline benchmark, {a.orders:,} orders (seed {a.seed}); {sum(rows.values()):,} rows in the landing folder's "
        "newest versions (" + ", ".join(f"{k} {v:,}" for k, v in rows.items()) + ")",
        f"{started:%Y-%m-%d %H:%M} UTC; {_machine()}; load average (1/5/15 min) before {load_before}, after {_load()}",
        runs_table(list(runs.values()), anchors),
        dbt_table(list(runs.values())),
        verdicts_table(checks),
    ])
    print("\n" + text)
    if a.markdown:
        a.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
