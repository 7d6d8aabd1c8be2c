"""Benchmark: the whole pipeline, full and nightly, beside bare DuckDB anchors, in one invocation.

    make bench                                                    # 1M orders
    .venv/bin/python bench/bench_pipeline.py --orders 10000000    # the long one
    .venv/bin/python bench/bench_pipeline.py --orders 20000 --markdown /tmp/bench.md
    .venv/bin/python bench/bench_pipeline.py --orders 1000000 --engine both --runs full   # Spark local[2] beside DuckDB

1. The sample shop as a Parquet landing folder (bench/landing.py), every day
   but the last, and the last day's files aside; cached by orders and seed
   under --work.
2. Anchors on the same files, each in a fresh process: bare DuckDB
   read-dedupe-persist of all entities, then the required marts in bare SQL
   (bench/anchors.py, bench/anchor_marts.sql).
3. The pipeline as users run it, `dagster asset materialize --select '*'` in
   a subprocess (RETENTION_SOURCE=landing, a throwaway DAGSTER_HOME with the
   project's dagster.yaml): the full run from an empty data folder, a night
   with the last day's files added, a night with no new file (`--runs`
   picks some of them), with RETENTION_ENGINE=duckdb or spark (`--engine`;
   `both` runs each engine from its own empty data folder over hard links
   of the same cached files).
4. One table: wall time, peak RSS of the process tree, seconds per stage
   (from the run's Dagster event log), then each goal's ratio and verdict;
   with both engines, a side-by-side table per stage with the Spark dbt
   step's inner parts (its `spark step seconds: {...}` log line).
"""

from __future__ import annotations

import argparse
import fnmatch
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
SAMPLE_TIMEZONE = "America/New_York"  # the sample shop's own (assets/extraction/sample_shop/common.py)
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
# --runs names each run with one word; a night needs the state the full run leaves.
RUN_OPTIONS = {"full": "full", "one-day": "nightly one day", "no-data": "nightly no data"}
ENGINES = ("duckdb", "spark")
ENGINE_OPTIONS = {"duckdb": ("duckdb",), "spark": ("spark",), "both": ENGINES}
# The dbt step on Spark logs its inner parts in one line: this text, then a JSON object of seconds.
SPARK_STEP_MARKER = "spark step seconds:"
# Families of dbt models whose share of the dbt step other work weighs (fnmatch patterns on the model name);
# models in none of them are "other models".
MODEL_GROUPS = {
    "audiences": ("mart_audience_*", "int_audience_*"),
    "changes": ("int_change_*", "int_metric_segments", "mart_metric_changes", "mart_change_notes"),
}


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
    No invocation (no run_results.json found, e.g. a step that failed before
    dbt wrote one): {}, so the tables show "-" rather than zeros. Fields an
    adapter or dbt version leaves out count as 0.
    """
    if not invocations:
        return {}
    out = {"elapsed": 0.0, "model": 0.0, "test": 0.0, "unit_test": 0.0}
    for run_results in invocations.values():
        out["elapsed"] += run_results.get("elapsed_time") or 0.0
        for node in run_results.get("results") or ():
            kind = str(node.get("unique_id", "")).split(".", 1)[0]
            if kind in out:
                out[kind] += node.get("execution_time") or 0.0
    return {k: round(v, 3) for k, v in out.items()}


def model_group(name: str, groups: Mapping[str, Sequence[str]] = MODEL_GROUPS) -> str:
    """The first group whose patterns match the model's name, else "other models"."""
    for group, patterns in groups.items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return group
    return "other models"


def dbt_group_seconds(invocations: Mapping[str, Mapping], groups: Mapping[str, Sequence[str]] = MODEL_GROUPS) -> dict[str, float]:
    """Node seconds of dbt's models per group (MODEL_GROUPS, then "other models"), data tests and unit tests.

    From run_results.json: `model.<package>.<name>[.v<n>]` counts toward its
    name's group. Node seconds add up over dbt's threads; dividing a group's
    by "all nodes" gives its share of the work dbt did, which is the share of
    dbt's elapsed time it is responsible for when the threads are kept busy.
    {} without invocations, as dbt_breakdown.
    """
    if not invocations:
        return {}
    out = {g: 0.0 for g in (*groups, "other models", "data tests", "unit tests")}
    for run_results in invocations.values():
        for node in run_results.get("results") or ():
            parts = str(node.get("unique_id", "")).split(".")
            seconds = node.get("execution_time") or 0.0
            if parts[0] == "model" and len(parts) >= 3:
                out[model_group(parts[2], groups)] += seconds
            elif parts[0] == "test":
                out["data tests"] += seconds
            elif parts[0] == "unit_test":
                out["unit tests"] += seconds
    out["all nodes"] = sum(out.values())
    return {k: round(v, 3) for k, v in out.items()}


def top_models(invocations: Mapping[str, Mapping], n: int = 5) -> list[tuple[str, float]]:
    """The n models with the most node seconds (summed over invocations), largest first."""
    seconds: dict[str, float] = {}
    for run_results in invocations.values():
        for node in run_results.get("results") or ():
            parts = str(node.get("unique_id", "")).split(".")
            if parts[0] == "model" and len(parts) >= 3:
                seconds[parts[2]] = seconds.get(parts[2], 0.0) + (node.get("execution_time") or 0.0)
    return sorted(seconds.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def dbt_invocations(run_folder: Path) -> dict[str, dict]:
    """Each dbt invocation's run_results.json under a run's dbt folder, at any depth, trimmed to what dbt_breakdown reads.

    Keyed by the file's folder relative to `run_folder` (`<step>`, or
    deeper when a step calls dbt more than once); a missing folder gives {},
    an unreadable or half-written file is left out.
    """
    found = {}
    for path in sorted(Path(run_folder).glob("**/run_results.json")):
        try:
            run_results = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(run_results, dict):
            continue
        found[path.parent.relative_to(run_folder).as_posix()] = {
            "elapsed_time": run_results.get("elapsed_time"),
            "results": [
                {"unique_id": n.get("unique_id"), "execution_time": n.get("execution_time")}
                for n in run_results.get("results") or () if isinstance(n, dict)
            ],
        }
    return found


def spark_step_seconds(messages: Iterable[str]) -> dict[str, float]:
    """The Spark dbt step's inner parts from its `spark step seconds: {...}` log line(s); {} without one.

    Keys are whatever the step reports (export_raw, dbt, fit, copy_back, ...),
    in its order; a key repeated over several lines (several dbt steps) adds
    up, as stage_seconds adds steps. A line whose JSON does not parse, and
    non-numeric values, are left out: a finished benchmark must not fail on
    its log.
    """
    out: dict[str, float] = {}
    decoder = json.JSONDecoder()
    for message in messages:
        at = (message or "").find(SPARK_STEP_MARKER)
        if at < 0:
            continue
        rest = message[at + len(SPARK_STEP_MARKER):].lstrip()
        try:
            # raw_decode stops at the object's end: text after it is no concern.
            parts, _ = decoder.raw_decode(rest)
        except ValueError:
            continue
        if not isinstance(parts, dict):
            continue
        for key, value in parts.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[str(key)] = round(out.get(str(key), 0.0) + value, 3)
    return out


def selected_runs(options: Sequence[str]) -> list[str]:
    """The runs --runs names (full, one-day, no-data), in pipeline order; a night without the full run is an error."""
    unknown = [o for o in options if o not in RUN_OPTIONS]
    if unknown:
        raise ValueError(f"--runs {' '.join(options)}: unknown {', '.join(unknown)}; expected some of {', '.join(RUN_OPTIONS)}")
    names = [RUN_OPTIONS[o] for o in dict.fromkeys(options)]
    if names and "full" not in names:
        raise ValueError(f"--runs {' '.join(options)}: a night starts from the full run's data folder; add full")
    return [r for r in RUNS if r in names]


def engine_dirs(run_dir: Path, engines: Sequence[str]) -> dict[str, Path]:
    """Each engine's folder (landing, data, dagster_home, logs): the run folder itself for one engine, <engine>/ for two."""
    if len(engines) == 1:
        return {engines[0]: run_dir}
    return {engine: run_dir / engine for engine in engines}


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
    engine: str = "duckdb"
    spark_parts: dict[str, float] = field(default_factory=dict)
    dbt_groups: dict[str, float] = field(default_factory=dict)
    dbt_top: list[tuple[str, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The run's name in the tables; a Spark run says so."""
        return self.name if self.engine == "duckdb" else f"{self.name} ({self.engine})"

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
# A night with one new day, as a share of the full run, by scale; other scales take the strictest.
ONE_DAY_GOALS = {1_000_000: 0.15, 10_000_000: 0.10}
# The quality gates' share of the full run, by scale (the share before GX did the validating); other scales
# take the strictest.
QUALITY_GOALS = {1_000_000: 0.13, 10_000_000: 0.06}
# The full run's wall against the two anchors together (read-dedupe-persist + marts SQL), by scale.
ANCHOR_GOALS = {1_000_000: 5.0, 10_000_000: 3.0}
PEAK_GOAL_BYTES = 4 * GIB


def _goal_at(goals: Mapping[int, float], orders: int) -> float:
    """The goal at this scale; other scales take the strictest."""
    return goals.get(orders, min(goals.values()))


def _seconds(value: float | None) -> str:
    return "no anchor" if value is None else f"{value} s"


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


def verdicts(runs: Mapping[str, RunResult], anchor_extract_s: float | None, anchor_marts_s: float | None,
             orders: int) -> list[Verdict]:
    """Each project goal's ratio, its limit, and whether it is met; goals against an anchor not run (None) read n/a."""
    full = runs.get("full")
    one_day, no_data = runs.get("nightly one day"), runs.get("nightly no data")
    out = []
    if full is None:
        return out
    extraction = full.stages.get("extraction")
    out.append(Verdict(
        "extraction / bare read-dedupe-persist", f"{extraction} s / {_seconds(anchor_extract_s)}",
        _ratio(extraction, anchor_extract_s), "<= 2x", 2.0,
    ))
    dbt_budget = None if anchor_marts_s is None else round(anchor_marts_s * 1.3 + 15, 2)
    dbt = full.stages.get("dbt")
    out.append(Verdict(
        "dbt step / (bare marts SQL x 1.3 + 15 s)", f"{dbt} s / {_seconds(dbt_budget)}", _ratio(dbt, dbt_budget), "<= 1", 1.0,
    ))
    quality = round(sum(full.stages.get(s, 0.0) for s in QUALITY_STAGES), 3)
    q_limit = _goal_at(QUALITY_GOALS, orders)
    out.append(Verdict("quality gates / wall (full)", f"{quality} s / {full.wall} s", _ratio(quality, full.wall),
                       f"<= {q_limit:.0%}", q_limit))
    for run, limit in ((one_day, _goal_at(ONE_DAY_GOALS, orders)), (no_data, 0.05)):
        if run is not None:
            out.append(Verdict(
                f"{run.name} / full (wall)", f"{run.wall} s / {full.wall} s", _ratio(run.wall, full.wall), f"<= {limit:.0%}", limit,
            ))
    goal = WALL_GOALS.get(orders)
    out.append(Verdict(
        "full wall / goal at this scale", f"{full.wall} s" + (f" / {goal:.0f} s" if goal else " (goals at 1M and 10M only)"),
        _ratio(full.wall, goal), f"<= {goal:.0f} s" if goal else "-", 1.0 if goal else None,
    ))
    anchors = None if anchor_extract_s is None or anchor_marts_s is None else round(anchor_extract_s + anchor_marts_s, 2)
    anchor_goal = ANCHOR_GOALS.get(orders)
    out.append(Verdict(
        "full wall / (read-dedupe-persist + marts SQL)",
        f"{full.wall} s / {_seconds(anchors)}" + ("" if anchor_goal else " (goals at 1M and 10M only)"),
        _ratio(full.wall, anchors), f"<= {anchor_goal:g}x" if anchor_goal else "-", anchor_goal,
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
            r.label, r.status, _fmt(r.wall), _fmt(r.peak_tree_bytes / MIB, 0), _fmt(r.peak_process_bytes / MIB, 0),
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
        rows.append([r.label, _fmt(step), _fmt(d.get("elapsed")), _fmt(outside), _fmt(d.get("model")),
                     _fmt(d.get("test")), _fmt(d.get("unit_test"))])
    return markdown_table(
        ["run", "dbt step s", "dbt elapsed s", "step less dbt elapsed s", "node s: models", "node s: data tests",
         "node s: unit tests"], rows)


def _share(part: float | None, whole: float | None) -> str:
    return "-" if part is None or not whole else f"{part:,.1f} ({part / whole:.0%})"


def night_split_table(runs: Sequence[RunResult]) -> str:
    """Where each run's wall time goes: one row per stage and fixed cost, seconds and share of that run's wall.

    A night beside the full run shows which stages already cost what changed
    and which still cost what the warehouse holds.
    """
    stages = ordered_stages(s for r in runs for s in r.stages)
    rows = [[f"{s}", *(_share(r.stages.get(s), r.wall) for r in runs)] for s in stages]
    for what, get in (("start-up", lambda r: r.startup), ("between steps", lambda r: r.between_steps),
                      ("after run", lambda r: r.after_run)):
        rows.append([what, *(_share(get(r), r.wall) for r in runs)])
    rows.append(["wall", *(_fmt(r.wall) for r in runs)])
    return markdown_table(["seconds (share of wall)", *(r.label for r in runs)], rows)


def dbt_groups_table(runs: Sequence[RunResult]) -> str:
    """Node seconds per model family (MODEL_GROUPS) and tests, each with its share of all dbt node seconds.

    The last column turns the families' share into seconds of dbt's elapsed
    time (share x elapsed): what the step would lose without them, if the
    rest kept both threads as busy.
    """
    columns = [*MODEL_GROUPS, "other models", "data tests", "unit tests"]
    rows = []
    for r in runs:
        g, elapsed = r.dbt_groups, r.dbt.get("elapsed")
        total = g.get("all nodes")
        families = sum(g.get(c, 0.0) for c in MODEL_GROUPS) if g else None
        est = None if families is None or not total or elapsed is None else families / total * elapsed
        top = ", ".join(f"{name} {seconds:.1f}" for name, seconds in r.dbt_top) or "-"
        rows.append([r.label, _fmt(total), *(_share(g.get(c), total) for c in columns), _fmt(elapsed), _fmt(est), top])
    return markdown_table(
        ["run", "dbt node s", *(f"{c} node s" for c in columns), "dbt elapsed s",
         f"{' + '.join(MODEL_GROUPS)}: est. elapsed s", "top models (node s)"], rows)


def _compare_row(run: str, what: str, duckdb: float | None, spark: float | None, digits: int = 1) -> list[str]:
    ratio = _ratio(spark, duckdb)
    return [run, what, _fmt(duckdb, digits), _fmt(spark, digits), "-" if ratio is None else f"{ratio:.2f}x"]


def engines_table(duckdb_runs: Sequence[RunResult], spark_runs: Sequence[RunResult]) -> str:
    """Per run both engines did: each stage, wall and peak RSS, DuckDB beside Spark and their ratio.

    The Spark dbt step's inner parts follow the dbt row as `dbt: <part>`
    rows (Spark column only: the DuckDB step has no such parts).
    """
    spark_by_name = {r.name: r for r in spark_runs}
    pairs = [(d, spark_by_name[d.name]) for d in duckdb_runs if d.name in spark_by_name]
    stages = ordered_stages(s for pair in pairs for r in pair for s in r.stages)
    rows = []
    for duck, spark in pairs:
        for stage in stages:
            rows.append(_compare_row(duck.name, f"{stage} s", duck.stages.get(stage), spark.stages.get(stage)))
            if stage == "dbt":
                rows += [_compare_row(duck.name, f"dbt: {part} s", None, seconds)
                         for part, seconds in spark.spark_parts.items()]
        rows += [
            _compare_row(duck.name, "wall s", duck.wall, spark.wall),
            _compare_row(duck.name, "peak RSS MiB (tree)", duck.peak_tree_bytes / MIB, spark.peak_tree_bytes / MIB, 0),
            _compare_row(duck.name, "largest process MiB", duck.peak_process_bytes / MIB, spark.peak_process_bytes / MIB, 0),
        ]
    return markdown_table(["run", "stage", "DuckDB", "Spark local[2]", "Spark / DuckDB"], rows)


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
    """Run `cmd`; wall seconds, peak summed RSS of its process tree (sampled), peak RSS of its largest process."""
    with log.open("w") as out:
        t0, started_at = time.perf_counter(), time.time()
        proc = subprocess.Popen(list(cmd), env=dict(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        peak = largest = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            sizes = [_rss_bytes(p) for p in descendants(proc.pid, _parents())]
            peak, largest = max(peak, sum(sizes)), max(largest, *sizes, 0)
            time.sleep(SAMPLE_INTERVAL_S)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    # wait4's ru_maxrss covers the child and every descendant it waited for: the largest one's peak (KiB).
    # Spark's JVM is not waited for by the process that starts it, so only the samples see it.
    return {"wall": round(wall, 2), "started_at": started_at, "ended_at": started_at + wall, "peak_tree_bytes": peak,
            "peak_process_bytes": max(usage.ru_maxrss * 1024, largest), "returncode": proc.returncode}


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
    logs = instance.all_logs(run.run_id)
    events = [
        {"type": e.dagster_event.event_type.name, "step": e.step_key, "ts": e.timestamp}
        for e in logs
        if e.dagster_event is not None and e.dagster_event.event_type.name in kinds
    ]
    # Log messages (no Dagster event): only the Spark step's seconds line is read.
    messages = [e.user_message for e in logs if e.dagster_event is None and SPARK_STEP_MARKER in (e.user_message or "")]
    try:
        from assets.dbt import dbt_runs_dir
    except ImportError:
        def dbt_runs_dir(data_dir: Path) -> Path:
            return Path(data_dir) / "dbt" / "runs"

    dbt = dbt_invocations(dbt_runs_dir(Path(os.environ["RETENTION_DATA_DIR"])) / run.run_id)
    graph = defs.resolve_asset_graph()
    stage_of = {
        key.to_user_string(): asset_stage(graph.get(key).group_name, graph.get(key).kinds)
        for key in graph.get_all_asset_keys()
    }
    print(json.dumps({"run_id": run.run_id, "status": run.status.value, "plan": plan, "events": events, "stage_of": stage_of,
                      "messages": messages, "dbt": dbt}))


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


PASSED_THROUGH = ("RETENTION_DUCKDB_MEMORY_LIMIT",)


def run_env(landing: Path, data: Path, home: Path, engine: str = "duckdb",
            spark_driver_memory: str | None = None) -> dict[str, str]:
    """The pipeline's environment; `spark_driver_memory` (e.g. 3g) sizes the Spark JVM's heap on the Spark engine.

    In local mode the driver JVM does all of Spark's work: the profile's
    `spark` target sizes its heap from RETENTION_SPARK_DRIVER_MEMORY.
    """
    # The shop's settings come from here; the machine's memory budget may come from the caller
    # (RETENTION_DUCKDB_MEMORY_LIMIT, e.g. for a 10M run: the tables' header says which was used).
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_") or k in PASSED_THROUGH}
    if spark_driver_memory and engine == "spark":
        env["RETENTION_SPARK_DRIVER_MEMORY"] = spark_driver_memory
    env.update({
        "RETENTION_SOURCE": "landing",
        "RETENTION_LANDING_DIR": str(landing),
        "RETENTION_DATA_DIR": str(data),
        "RETENTION_SHOP_TIMEZONE": SAMPLE_TIMEZONE,
        "RETENTION_ENGINE": engine,
        "DAGSTER_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
    })
    return env


def until_config(folder: Path, until: datetime) -> Path:
    """A run config file naming the extraction's `until`: the end of the sample shop's history.

    The shop's history ends on a fixed day, long before today; without it the
    freshness rules would judge every night against today and stop it.
    """
    path = folder / "until.yaml"
    path.write_text(json.dumps({"ops": {"extract_shop": {"config": {"until": until.isoformat()}}}}) + "\n")
    return path


def run_pipeline(name: str, env: Mapping[str, str], logs: Path, run_config: Path | None = None) -> RunResult:
    slug = name.replace(" ", "_")
    engine = env.get("RETENTION_ENGINE", "duckdb")
    cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
           "--select", "*", "-c", "orchestration/console.yaml", *(["-c", str(run_config)] if run_config else [])]
    m = measure(cmd, env, logs / f"{slug}.log")
    _, run = _python_child(["--child-describe"], env, logs / f"{slug}.events.json")
    summary = measure([sys.executable, "-m", "orchestration.where"], env, logs / f"{slug}.summary.log")
    result = RunResult(
        name, m["wall"], m["peak_tree_bytes"], m["peak_process_bytes"], status=run["status"],
        stages=stage_seconds(run["events"], run["plan"], run["stage_of"]), in_run=run_span(run["events"]),
        summary_seconds=summary["wall"], engine=engine,
    )
    result.dbt = dbt_breakdown(run["dbt"])
    result.dbt_groups = dbt_group_seconds(run["dbt"])
    result.dbt_top = top_models(run["dbt"])
    result.spark_parts = spark_step_seconds(run.get("messages", ()))
    result.startup, result.after_run = outside_run(m["started_at"], m["ended_at"], run["events"])
    print(f"{result.label}: {result.status} in {result.wall} s, peak {result.peak_tree_bytes / MIB:,.0f} MiB, "
          f"stages {result.stages}" + (f", Spark dbt step {result.spark_parts}" if result.spark_parts else ""), flush=True)
    return result


def run_engine(engine: str, names: Sequence[str], cache: Path, folder: Path,
               spark_driver_memory: str | None = None, until: datetime | None = None) -> dict[str, RunResult]:
    """The selected runs on one engine, from an empty data folder over hard links of the cached landing files."""
    landing, data, home, logs = (folder / d for d in ("landing", "data", "dagster_home", "logs"))
    env = run_env(landing, data, home, engine, spark_driver_memory)
    run_config = until_config(folder, until) if until else None
    runs = {}
    for name in names:
        if name == "nightly one day":
            # Copied, not linked: new files with fresh modification times, as a shop drops them.
            shutil.copytree(cache / "last_day", landing, copy_function=shutil.copy, dirs_exist_ok=True)
        runs[name] = run_pipeline(name, env, logs, run_config)
    return runs


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
    ap.add_argument("--engine", choices=tuple(ENGINE_OPTIONS), default="duckdb",
                    help="RETENTION_ENGINE of the pipeline runs; both: each engine from its own empty data folder, "
                         "then a side-by-side table (default: duckdb)")
    ap.add_argument("--runs", nargs="+", choices=tuple(RUN_OPTIONS), default=list(RUN_OPTIONS), metavar="RUN",
                    help=f"which runs, in this order: {', '.join(RUN_OPTIONS)} (default: all; a night needs full)")
    ap.add_argument("--spark-driver-memory", metavar="SIZE",
                    help="heap of the Spark JVM on the Spark engine, e.g. 3g like DuckDB's default memory limit "
                         "(default: the profile's RETENTION_SPARK_DRIVER_MEMORY default, 2g)")
    ap.add_argument("--no-anchors", action="store_true",
                    help="skip the bare DuckDB anchors (their goals then read n/a)")
    ap.add_argument("--child-anchor", nargs=3, metavar=("KIND", "LANDING", "DB"), help=argparse.SUPPRESS)
    ap.add_argument("--child-describe", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child_anchor:
        return _child_anchor(*a.child_anchor)
    if a.child_describe:
        return _child_describe()

    try:
        names = selected_runs(a.runs)
    except ValueError as e:
        ap.error(str(e))
    engines = ENGINE_OPTIONS[a.engine]
    load_before = _load()
    started = datetime.now(timezone.utc)
    cache = prepare_landing(a.work, a.orders, a.seed)
    run_dir = a.work / f"run-o{a.orders}-s{a.seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    folders = engine_dirs(run_dir, engines)
    for folder in folders.values():
        (folder / "logs").mkdir(parents=True)
        _link_tree(cache / "base", folder / "landing")
        (folder / "dagster_home").mkdir()
        shutil.copy(ROOT / "dagster.yaml", folder / "dagster_home" / "dagster.yaml")

    anchors: dict[str, dict] = {}
    rows = None
    if not a.no_anchors:
        first = next(iter(folders.values()))
        landing, logs = first / "landing", first / "logs"
        env = run_env(landing, first / "data", first / "dagster_home")
        anchor_db = run_dir / "anchor.duckdb"
        m, extracted = _python_child(["--child-anchor", "extract", str(landing), str(anchor_db)], env, logs / "anchor_extract.log")
        anchors["read-dedupe-persist"] = {**m, "inner": extracted["seconds"], "rows": extracted["rows"]}
        m, marts = _python_child(["--child-anchor", "marts", str(landing), str(anchor_db)], env, logs / "anchor_marts.log")
        anchors["marts SQL"] = {**m, "inner": marts["seconds"], "rows": marts["rows"]}
        print(f"anchors: read-dedupe-persist {extracted['seconds']} s, marts SQL {marts['seconds']} s", flush=True)
        rows = extracted["rows"]

    sys.path.insert(0, str(ROOT / "bench"))
    from landing import history_end

    until = history_end(a.orders, a.seed)
    by_engine = {engine: run_engine(engine, names, cache, folders[engine], a.spark_driver_memory, until)
                 for engine in engines}

    # Anchor seconds are timed inside their process (the work itself, as the goals define them).
    anchor_extract = anchors.get("read-dedupe-persist", {}).get("inner")
    anchor_marts = anchors.get("marts SQL", {}).get("inner")
    all_runs = [r for runs in by_engine.values() for r in runs.values()]
    if rows is not None:
        shop = (f"{sum(rows.values()):,} rows in the landing folder's newest versions ("
                + ", ".join(f"{k} {v:,}" for k, v in rows.items()) + ")")
    else:
        written = json.loads((cache / "complete").read_text())["base"]
        shop = f"{sum(written.values()):,} rows written to the landing folder before the last day (no anchors)"
    parts = [
        f"Pipeline benchmark, {a.orders:,} orders (seed {a.seed}), engine {', '.join(engines)}"
        + (f" (Spark driver memory {a.spark_driver_memory})" if a.spark_driver_memory and "spark" in engines else "")
        + f"; DuckDB memory limit {os.environ.get('RETENTION_DUCKDB_MEMORY_LIMIT', 'default (3GB)')}"
        + f"; {shop}",
        f"{started:%Y-%m-%d %H:%M} UTC; {_machine()}; load average (1/5/15 min) before {load_before}, after {_load()}",
        runs_table(all_runs, anchors),
        "Where each run's time goes:",
        night_split_table(all_runs),
        dbt_table(all_runs),
        "dbt node seconds by model family (share of all node seconds; "
        + "; ".join(f"{g}: {', '.join(p)}" for g, p in MODEL_GROUPS.items()) + "):",
        dbt_groups_table(all_runs),
    ]
    if len(engines) > 1:
        parts.append(engines_table(list(by_engine["duckdb"].values()), list(by_engine["spark"].values())))
    for engine, runs in by_engine.items():
        if len(engines) > 1:
            parts.append(f"Goals, {engine} runs:")
        parts.append(verdicts_table(verdicts(runs, anchor_extract, anchor_marts, a.orders)))
    text = "\n\n".join(parts)
    print("\n" + text)
    if a.markdown:
        a.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
