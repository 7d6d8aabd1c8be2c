"""`python -m orchestration.where`: how the last run went, and where it left the warehouse, exports and report.

`make run` prints this after the run. The run's outcome comes from the Dagster
instance of the data folder (DAGSTER_HOME, else `<data dir>/dagster_home`);
quarantine counts, WARN checks, every failed quality rule (ERROR in full, WARN
in one line) and the as-of date come from the build warehouse's own records
(raw.quarantine, audit.suite_runs, audit.validation_results,
intermediate.int_as_of_date), so the summary says what the data says - after
a failed run too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assets.settings import Settings


@dataclass(frozen=True)
class RunRecord:
    """What the summary needs from one run: Dagster's side and the warehouse's side."""

    run_id: str
    status: str
    # step key -> SUCCESS / FAILURE / SKIPPED / IN_PROGRESS
    steps: Mapping[str, str] = field(default_factory=dict)
    # entity -> rows this run quarantined
    quarantined: Mapping[str, int] = field(default_factory=dict)
    # suite names whose WARN expectations failed in this run
    warn_suites: Sequence[str] = ()
    as_of_date: str | None = None
    # the run's failed quality rules as printed on the console (results.failure_text)
    failed_rules: Sequence[str] = ()


# A quiet night skips every step after extraction: name a few, count the rest
# (failed steps are always all named: they are what a person opens next).
MAX_LISTED_STEPS = 3

STEP_OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "SKIPPED": "skipped", "IN_PROGRESS": "unfinished"}


def summarize_run(run: RunRecord) -> list[str]:
    """A few lines: outcome per step, quarantined rows, WARN checks, as-of date (pure)."""
    lines = [f"last run:             {run.run_id}  {run.status}"]
    by_outcome: dict[str, list[str]] = {}
    for step, outcome in run.steps.items():
        by_outcome.setdefault(outcome, []).append(step)
    for outcome in sorted(by_outcome, key=lambda o: (o == "SUCCESS", o)):
        steps = sorted(by_outcome[outcome])
        shown = ", ".join(steps) if outcome == "FAILURE" or len(steps) <= MAX_LISTED_STEPS else (
            f"{len(steps)} step(s): {', '.join(steps[:MAX_LISTED_STEPS])}, ..."
        )
        if outcome == "SUCCESS":
            shown = f"{len(steps)} step(s)"
        label = f"steps {STEP_OUTCOMES.get(outcome, outcome.lower())}:"
        lines.append(f"  {label:<20}{shown}")
    if run.status == "SUCCESS" and "SKIPPED" in run.steps.values():
        # A successful run skips steps when extraction found nothing new since the last publish.
        lines.append("  no new data:        the last published build is current (marts, exports, report)")
    total = sum(run.quarantined.values())
    if total:
        detail = ", ".join(f"{entity} {n:,}" for entity, n in sorted(run.quarantined.items()) if n)
        lines.append(f"  quarantined rows:   {total:,} ({detail})")
    else:
        lines.append("  quarantined rows:   none")
    lines.append(
        f"  WARN checks:        {', '.join(sorted(run.warn_suites))}" if run.warn_suites else "  WARN checks:        none"
    )
    lines.append(f"  as-of date:         {run.as_of_date or 'unknown'}")
    if run.failed_rules:
        lines.append("  failed rules:")
        lines += [f"    {line}" for line in run.failed_rules]
    return lines


def _scalar_rows(con, sql: str, params: list) -> list[tuple]:
    import duckdb

    try:
        return con.execute(sql, params).fetchall()
    except duckdb.CatalogException:
        # A run that stopped early leaves some tables unbuilt: nothing to report from them.
        return []


def warehouse_records(build_db: Path, run_id: str) -> dict:
    """Quarantine counts, WARN suites and as-of date of `run_id`, read from the build warehouse."""
    import duckdb

    if not build_db.exists():
        return {}
    try:
        con = duckdb.connect(str(build_db), read_only=True)
    except duckdb.IOException:
        # A run is writing it right now (one writer, no readers): say nothing rather than wait.
        return {}
    try:
        quarantined = dict(_scalar_rows(
            con, "SELECT entity, count(*) FROM raw.quarantine WHERE run_id = ? GROUP BY 1", [run_id]
        ))
        warn_suites = [r[0] for r in _scalar_rows(
            con, "SELECT DISTINCT suite FROM audit.suite_runs WHERE run_id = ? AND warn_failures > 0", [run_id]
        )]
        as_of = _scalar_rows(con, "SELECT max(as_of_date)::VARCHAR FROM intermediate.int_as_of_date", [])
        failed = failed_rule_lines(_scalar_rows(con, FAILED_RULES_SQL, [run_id]))
    finally:
        con.close()
    return {"quarantined": quarantined, "warn_suites": warn_suites, "as_of_date": as_of[0][0] if as_of else None,
            "failed_rules": failed}


FAILED_RULES_SQL = """
SELECT suite, rule_id, rule_kind, severity, observed_value, element_count, unexpected_count, unexpected_examples,
       description, exception
FROM audit.validation_results WHERE run_id = ? AND NOT success
ORDER BY severity <> 'ERROR', suite, rule_kind, rule_id
"""


def failed_rule_lines(rows: Sequence[tuple]) -> list[str]:
    """The console's lines for failed rules read back from audit.validation_results (FAILED_RULES_SQL order)."""
    from assets.quality.results import RuleResult, failure_text

    lines = []
    for suite, rule_id, kind, severity, observed, elements, unexpected, examples, description, exception in rows:
        r = RuleResult(rule_id=rule_id, kind=kind, expectation="", column=None, success=False, severity=severity,
                       observed_value=json.loads(observed) if observed else None, element_count=elements,
                       unexpected_count=unexpected, examples=json.loads(examples) if examples else [],
                       description=description or "", exception=exception)
        lines += failure_text(suite, r)
    return lines


def instance_home(settings: Settings) -> Path:
    """The Dagster instance of this data folder: DAGSTER_HOME when set (it wins), else the folder's own."""
    explicit = os.environ.get("DAGSTER_HOME")
    return Path(explicit) if explicit else settings.layout.dagster_home


def last_run(build_db: Path, home: Path) -> RunRecord | None:
    """The newest run of the Dagster instance in `home`; None without an instance or a run."""
    if not home.is_dir():
        return None
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return None
        run = runs[0]
        steps = {
            s.step_key: s.status.value if s.status else "IN_PROGRESS"
            for s in instance.get_run_step_stats(run.run_id)
        }
        other_warnings = warn_checks(instance, run.run_id)
    records = warehouse_records(build_db, run.run_id)
    records["warn_suites"] = sorted({*records.get("warn_suites", ()), *other_warnings})
    return RunRecord(run_id=run.run_id, status=run.status.value, steps=steps, **records)


def warn_checks(instance, run_id: str) -> list[str]:
    """Checks other than the expectation suites (e.g. predictions_fitted) that failed at WARN in the run.

    The suites' WARN results come from audit.suite_runs; the others exist only
    as Dagster check evaluations.
    """
    import dagster as dg
    from dagster._core.events import DagsterEventType

    out = []
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.check_name == "expectation_suite" or evaluation.passed:
            continue
        if evaluation.severity == dg.AssetCheckSeverity.WARN:
            out.append(f"{evaluation.asset_key.path[-1]}.{evaluation.check_name}")
    return out


def describe(settings: Settings) -> list[str]:
    layout = settings.layout
    lines = [f"data folder:          {settings.data_dir}"]
    pub = layout.published_db
    lines.append(
        f"analyst warehouse:    {pub}  (open read-only: duckdb -readonly {pub})"
        if pub.exists()
        else f"analyst warehouse:    {pub}  (not published yet)"
    )
    current = layout.current_link
    lines.append(
        f"current build:        {current.resolve().name}  ({current} -> {current.readlink()})"
        if current.is_symlink()
        else "current build:        none published yet"
    )
    lines.append(f"build warehouse:      {layout.build_db}  (pipeline only)")
    lines.append(f"dagster instance:     {instance_home(settings)}  (this data folder's runs)")
    manifest = layout.exports_dir / "_manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        lines.append(
            f"parquet exports:      {layout.exports_dir}  ({len(m['marts'])} marts, "
            f"as of {m.get('as_of_date')}, run {m.get('run_id')})"
        )
    else:
        lines.append(f"parquet exports:      {layout.exports_dir}  (not exported yet)")
    report = layout.report_dir / "index.html"
    lines.append(f"report:               {report}" + ("" if report.exists() else "  (not built yet)"))
    dbt_docs = layout.dbt_docs_dir / "index.html"
    lines.append(f"dbt docs:             {dbt_docs}" + ("" if dbt_docs.exists() else "  (not built yet: make docs)"))
    docs = layout.quality_dir
    lines.append(f"quality data docs:    {docs}" + ("" if docs.exists() else "  (not built yet)"))
    return lines


def main() -> None:
    settings = Settings.from_env()
    run = last_run(settings.layout.build_db, instance_home(settings))
    print("\n".join((summarize_run(run) if run else []) + describe(settings)))


if __name__ == "__main__":
    main()
