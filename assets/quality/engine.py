"""Running a suite: DuckDB computes the aggregate frames, Great Expectations validates the run's batch.

For one suite (`rules.Suite`):

1. the run's boundaries: the as-of date, the previous successful run's row
   count, `since` (rows stamped after the suite's last successful
   validation, `audit.validated_through`; None: every row) and the days
   already validated (`audit.validated_days`);
2. every aggregate frame the rules use is one DuckDB query, stored in a small
   table (the staging side of the reconciliations computed once per run,
   `ensure_staging_reference`);
3. GX validates the suite on its SQL data source: one batch of the rows in
   scope and the frames, one ValidationDefinition, the layer's Checkpoint
   (`gx_suite.py`); every verdict, count and example is GX's;
4. each GX result becomes a `RuleResult` for `audit.validation_results` /
   `audit.suite_runs`; the GX result itself is stored in the GX project and
   rendered by GX's site builder (`data_docs.py`; offline: `offline_docs.py`).

Great Expectations is imported lazily (`gx_runtime._gx()`), never at module
import: `orchestration.definitions` must not pay for it.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from assets.extraction.contract import tracked_entities
from assets.warehouse import relation_exists

from . import audit, gx_suite
from .config import DEFAULT_CONFIG, ERROR, WARN, QualityConfig
from .data_docs import docs_context, docs_index, store_and_build_docs  # noqa: F401 - docs_index: the checks' link
from .gx_runtime import _gx  # noqa: F401 - the benchmark times the import
from .results import RuleResult, SuiteRun
from .suites import MART_AS_OF_SQL, ROWS, STAGING_REFERENCE, STAGING_REFERENCE_SQL, Rule, Suite

log = logging.getLogger(__name__)

_PARAM = re.compile(r"\$([a-z_]+)")


def _params(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    return {name: values.get(name) for name in set(_PARAM.findall(sql))}


def ensure_staging_reference(con, run_id: str) -> bool:
    """(Re)compute `STAGING_REFERENCE` unless this run already did for the same as-of date; True if computed.

    It lives in its own schema, which is neither published nor read by dbt.
    """
    schema = STAGING_REFERENCE.split(".")[0]
    as_of = con.execute(MART_AS_OF_SQL).fetchone()[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.reference_state (run_id VARCHAR, as_of_date DATE)")
    if con.execute(f"SELECT count(*) FROM {schema}.reference_state WHERE run_id = ? AND as_of_date IS NOT DISTINCT "
                   f"FROM ?", [run_id, as_of]).fetchone()[0] and relation_exists(con, *STAGING_REFERENCE.split(".")):
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TABLE {STAGING_REFERENCE} AS {STAGING_REFERENCE_SQL}")
        con.execute(f"DELETE FROM {schema}.reference_state")
        con.execute(f"INSERT INTO {schema}.reference_state VALUES (?, ?)", [run_id, as_of])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return True


def _one_row_frames(con, suite: Suite, frames: set[str]) -> dict[str, dict]:
    """The frames of one row, as {column: value}: what a rule on them observed, passed or not."""
    out = {}
    for frame in frames:
        cur = con.execute(f"SELECT * FROM {gx_suite.frame_table(suite, frame)} LIMIT 2")
        rows = cur.fetchall()
        if len(rows) == 1:
            out[frame] = dict(zip([d[0] for d in cur.description], rows[0]))
    return out


def _to_rule_result(rule: Rule, severity: str, evr, one_row: dict | None, max_examples: int,
                    named=None) -> RuleResult:
    """GX's result for one rule; `named`: GX's result for the same rule with the unexpected index (frames)."""
    res = dict(evr.result or {})
    exc = _exception(evr.exception_info)
    examples: list = []
    if rule.index:
        # an aggregate frame's offending row, named by its index columns (e.g. the empty day), from GX's
        # unexpected index: the frame row as JSON
        keep = set(rule.index) | set(rule.columns)
        index_list = ((named.result or {}) if named is not None else res).get("partial_unexpected_index_list")
        examples = [{k: v for k, v in (e.get(gx_suite.EXAMPLE) or {}).items() if k in keep}
                    for e in index_list or [] if isinstance(e, dict)][:max_examples]
    elif res.get("partial_unexpected_list"):
        examples = list(res["partial_unexpected_list"])[:max_examples]
    elif (res.get("details") or {}).get("unexpected_rows"):  # the project's SQL expectations (gx_expectations)
        examples = list(res["details"]["unexpected_rows"])[:max_examples]
    observed: Any = res.get("observed_value")
    if observed is None and one_row is not None:
        observed = {c: _plain(one_row[c]) for c in dict.fromkeys(rule.columns + rule.index) if c in one_row}
    elif observed is None and res.get("element_count") is not None:
        observed = f"{res.get('unexpected_count', 0)} of {res['element_count']} rows unexpected"
    return RuleResult(
        rule_id=rule.id,
        kind=rule.kind,
        expectation=evr.expectation_config.type,
        column=rule.column,
        success=bool(evr.success) and exc is None,
        severity=severity,
        observed_value=observed,
        element_count=res.get("element_count"),
        unexpected_count=res.get("unexpected_count", (res.get("details") or {}).get("unexpected_row_count")),
        examples=[_plain(e) for e in examples],
        description=rule.description,
        exception=exc,
    )


def _exception(info: dict | None) -> str | None:
    """GX's exception for an expectation: at the top (the expectation) or per metric it could not compute."""
    found = [info] if info and "raised_exception" in info else list((info or {}).values())
    for e in found:
        if isinstance(e, dict) and e.get("raised_exception"):
            return str(e.get("exception_message") or "exception")[:500]
    return None


def _plain(value: Any) -> Any:
    """JSON-friendly copies of numpy / pandas / Decimal scalars and containers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    if type(value).__name__ == "Decimal":
        return float(value)
    try:
        import pandas as pd  # noqa: PLC0415

        if pd.api.types.is_scalar(value) and pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def run_suite(
    con,
    suite: Suite,
    run_id: str,
    config: QualityConfig = DEFAULT_CONFIG,
    as_of_setting: date | None = None,
    docs_root: Path | None = None,
    write_audit: bool = True,
    log_fn=None,
    full: bool = False,
) -> SuiteRun:
    """Validate one suite against the warehouse behind `con` (read-write to keep the audit).

    Row rules cover the rows stamped after the suite's last successful
    validation (`audit.validated_through`), or every row with `full` or when
    there is none; whole-table rules (frames) always see the whole table.
    """
    previous_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute(f"SET memory_limit = '{config.duckdb_memory_limit}'")
    try:
        return _run_suite(con, suite, run_id, config, as_of_setting, docs_root, write_audit, log_fn, full)
    finally:
        con.execute(f"SET memory_limit = '{previous_limit}'")


NOT_TRACKED = "not tracked by this shop (no rows)"


def is_untracked(con, suite: Suite) -> bool:
    """An optional raw entity with no rows loaded or quarantined: the shop does not deliver it."""
    return suite.entity is not None and not suite.required_entity and suite.entity not in tracked_entities(con)


def _boundaries(con, suite: Suite, run_id: str, as_of_setting, full: bool) -> dict[str, Any]:
    """The values the frames bind and the row scope: as-of date, previous row count, `since`, validated days."""
    if any(STAGING_REFERENCE in sql for sql in suite.frames.values()) or \
            any(r.kwargs.get("reference_table") == STAGING_REFERENCE for r in suite.rules):
        ensure_staging_reference(con, run_id)
    as_of = None
    if suite.as_of_sql:
        p = _params(suite.as_of_sql, {"as_of_setting": as_of_setting})
        as_of = con.execute(suite.as_of_sql, p).fetchone()[0]
    # the row rules' boundary: rows stamped after the last successful validation (None: every row)
    since = loaded_through = None
    first_validation = False
    if suite.loaded_at_column:
        col = gx_suite.q(suite.loaded_at_column)
        stamps = [con.execute(f"SELECT max({col}) FROM {t}").fetchone()[0] for t in (suite.table, *suite.also_stamped)
                  if relation_exists(con, *t.split("."))]
        loaded_through = max((t for t in stamps if t is not None), default=None)
        since = None if full else audit.validated_through(con, suite.name)
        if since is None and not full and loaded_through is not None:
            # A first validation: every stamped row is history the loader has just judged by the same contract
            # rules (its quarantine counts are the quarantine rules' frame), so re-verifying it row by row could
            # only find a loader bug, at the cost of a scan of the whole history. The row rules judge what
            # the loader did not stamp; from the next night on, every night's loaded rows.
            since, first_validation = loaded_through, True
    # the daily rules' boundary: days after the newest validated day are new, those before the oldest history
    validated_from, validated_through = audit.validated_days(con, suite.name) if suite.entity else (None, None)
    return {"as_of": as_of, "previous_row_count": audit.previous_row_count(con, suite.name, run_id), "since": since,
            "validated_from": validated_from, "validated_through": validated_through,
            "loaded_through": loaded_through, "first_validation": first_validation}


def _run_suite(con, suite, run_id, config, as_of_setting, docs_root, write_audit, log_fn, full) -> SuiteRun:
    say = log_fn or log.info
    started = time.monotonic()
    validated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    if is_untracked(con, suite):
        run = SuiteRun(suite=suite, run_id=run_id, results=[], row_count=0, rows_validated=0, chunks=0,
                       seconds=round(time.monotonic() - started, 3), as_of=None, validated_at=validated_at,
                       note=NOT_TRACKED)
        if write_audit:
            audit.write_suite_run(con, run)
        say(f"{suite.name}: {NOT_TRACKED}; its rules did not run")
        return run

    values = _boundaries(con, suite, run_id, as_of_setting, full)
    since, as_of = values["since"], values["as_of"]
    severities = {r.id: config.severity(suite.name, r.id, r.kind) for r in suite.rules}
    frames = {r.frame for r in suite.rules if r.frame != ROWS}
    gx_suite.materialize_frames(con, suite, frames, lambda sql: _params(sql, values))
    one_row = _one_row_frames(con, suite, frames)
    row_count = int(con.execute(f"SELECT count(*) FROM {suite.table}").fetchone()[0])

    rules = list(suite.rules)
    if not _rows_in_scope(con, suite, since):
        # nothing for the row rules to judge: GX validates the frame rules only
        rules = [r for r in rules if gx_suite.part_of(suite, r) not in (ROWS, gx_suite.KEYS)]
    result, result_id, named = gx_suite.validate(con, suite, rules, severities, since, run_id,
                                                 validated_at, config.max_examples)
    by_rule = {evr.expectation_config.meta["rule_id"]: evr for evr in result.results}
    results = [_to_rule_result(r, severities[r.id], by_rule[r.id], one_row.get(r.frame), config.max_examples,
                               named.get(r.id)) for r in rules]
    # the rows the row rules judged: GX's element count on the batch's `rows` part
    rows_validated = max((res.element_count or 0 for r, res in zip(rules, results)
                          if gx_suite.part_of(suite, r) == ROWS), default=0)
    run = SuiteRun(
        suite=suite, run_id=run_id, results=results, row_count=row_count, rows_validated=rows_validated,
        chunks=1, seconds=0.0, as_of=as_of, validated_at=validated_at,
        validated_since=since, loaded_through=values["loaded_through"],
        first_validation=values["first_validation"], rules_not_run=len(suite.rules) - len(rules),
    )
    if suite.entity:
        run.days_from, run.days_through = _days_covered(one_row.get("stats"), as_of)
    if docs_root is not None and config.build_data_docs:
        try:
            run.data_docs = store_and_build_docs(docs_context(docs_root), suite, result, result_id, run, config)
        except Exception as exc:  # docs are a view; never fail a validation over them
            say(f"{suite.name}: Data Docs not built: {type(exc).__name__}: {exc}")
    run.seconds = round(time.monotonic() - started, 3)
    if write_audit:
        audit.write_suite_run(con, run)
    say(
        f"{suite.name}: {len(results) - len(run.failed())}/{len(results)} expectations passed "
        f"({len(run.failed(ERROR))} ERROR, {len(run.failed(WARN))} WARN failed); {run.row_rules_text}, "
        f"{run.seconds:.1f}s"
    )
    return run


def _rows_in_scope(con, suite: Suite, since) -> bool:
    """Whether the row rules have a row to judge: any row of a stamped table loaded after `since` or unstamped
    (`gx_suite.scope_sql`); every table without a stamp boundary counts as having rows."""
    if not suite.loaded_at_column or since is None or not any(gx_suite.part_of(suite, r) in (ROWS, gx_suite.KEYS)
                                                               for r in suite.rules):
        return True
    scope = gx_suite.scope_sql(suite.loaded_at_column, since)
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {suite.table} WHERE {scope})").fetchone()[0])


def _days_covered(stats: dict | None, as_of) -> tuple[date | None, date | None]:
    """First and newest day of the time column (the newest capped at the as-of date), from the stats frame."""
    if not stats or "first_date" not in stats:
        return None, None
    first, newest = stats["first_date"], stats["newest_date"]
    if newest is not None and as_of is not None:
        newest = min(newest, as_of)
    return first, newest
