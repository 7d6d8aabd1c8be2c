"""The audit tables in the build warehouse: one row per expectation per validation.

`audit.validation_results`  every expectation of every suite run (why a run stopped)
`audit.suite_runs`          one row per suite run: row count (the volume band's
                            reference), outcome, timing, Data Docs page, and the
                            newest load stamp the run's row rules covered
                            (`loaded_through`): the next run validates only rows
                            stamped after it, counted from successful runs only;
                            and the days of the table's time column it covered
                            (`days_from`, `days_through`): the next run judges
                            the days after the newest, describes those before
                            the oldest
"""

from __future__ import annotations

import json

from assets.warehouse import relation_exists

from .results import SuiteRun

AUDIT_SCHEMA = "audit"

VALIDATION_RESULTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {AUDIT_SCHEMA}.validation_results (
  run_id VARCHAR NOT NULL,
  suite VARCHAR NOT NULL,
  asset_key VARCHAR NOT NULL,
  rule_id VARCHAR NOT NULL,
  rule_kind VARCHAR NOT NULL,
  expectation VARCHAR NOT NULL,
  column_name VARCHAR,
  success BOOLEAN NOT NULL,
  severity VARCHAR NOT NULL,
  observed_value VARCHAR,
  element_count BIGINT,
  unexpected_count BIGINT,
  unexpected_examples VARCHAR,
  description VARCHAR,
  exception VARCHAR,
  validated_at TIMESTAMP NOT NULL
)
"""

SUITE_RUNS_DDL = f"""
CREATE TABLE IF NOT EXISTS {AUDIT_SCHEMA}.suite_runs (
  run_id VARCHAR NOT NULL,
  suite VARCHAR NOT NULL,
  asset_key VARCHAR NOT NULL,
  table_name VARCHAR NOT NULL,
  row_count BIGINT,
  success BOOLEAN NOT NULL,
  error_failures INTEGER NOT NULL,
  warn_failures INTEGER NOT NULL,
  expectations INTEGER NOT NULL,
  rows_validated BIGINT,
  chunks INTEGER,
  seconds DOUBLE,
  as_of_date DATE,
  data_docs VARCHAR,
  validated_at TIMESTAMP NOT NULL,
  loaded_through TIMESTAMP,
  days_from DATE,
  days_through DATE,
  row_rules_not_run INTEGER
)
"""

SUITE_RUNS_COLUMNS = (
    "run_id", "suite", "asset_key", "table_name", "row_count", "success", "error_failures", "warn_failures",
    "expectations", "rows_validated", "chunks", "seconds", "as_of_date", "data_docs", "validated_at",
    "loaded_through", "days_from", "days_through", "row_rules_not_run",
)


def create_audit_schema(con) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}")
    con.execute(VALIDATION_RESULTS_DDL)
    con.execute(SUITE_RUNS_DDL)
    # a warehouse audited before row rules were scoped by load stamp gets the column (NULL: validate all)
    con.execute(f"ALTER TABLE {AUDIT_SCHEMA}.suite_runs ADD COLUMN IF NOT EXISTS loaded_through TIMESTAMP")
    # ... and before daily rules judged only new days (NULL: the next run describes every day as history)
    for column in ("days_from", "days_through"):
        con.execute(f"ALTER TABLE {AUDIT_SCHEMA}.suite_runs ADD COLUMN IF NOT EXISTS {column} DATE")
    # ... and before a run with no row in scope left its row rules out (NULL: not recorded)
    con.execute(f"ALTER TABLE {AUDIT_SCHEMA}.suite_runs ADD COLUMN IF NOT EXISTS row_rules_not_run INTEGER")


def previous_row_count(con, suite: str, run_id: str) -> int | None:
    """Row count of the suite's latest successful validation in another run."""
    if not relation_exists(con, AUDIT_SCHEMA, "suite_runs"):
        return None
    row = con.execute(
        f"""
        SELECT row_count FROM {AUDIT_SCHEMA}.suite_runs
        WHERE suite = ? AND success AND run_id <> ? AND row_count IS NOT NULL
        ORDER BY validated_at DESC LIMIT 1
        """,
        [suite, run_id],
    ).fetchone()
    return None if row is None else int(row[0])


def validated_through(con, suite: str):
    """Newest load stamp covered by a successful validation of the suite's row rules, or None (validate all).

    Only successful runs count: rows loaded by a run whose checks failed, or
    never ran, are newer than this and are validated again. A run recorded
    without a stamp (a table with no stamped row) does not move it.
    """
    if not relation_exists(con, AUDIT_SCHEMA, "suite_runs"):
        return None
    if "loaded_through" not in _columns(con, "suite_runs"):
        return None
    return con.execute(
        f"SELECT max(loaded_through) FROM {AUDIT_SCHEMA}.suite_runs WHERE suite = ? AND success",
        [suite],
    ).fetchone()[0]


def _columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [AUDIT_SCHEMA, table]).fetchall()}


def validated_days(con, suite: str):
    """(oldest, newest) day of the time column covered by the suite's successful validations; (None, None) if none.

    Days after the newest are the next run's new days (judged); days before
    the oldest are a backfill's history (described).
    """
    if not relation_exists(con, AUDIT_SCHEMA, "suite_runs") or "days_through" not in _columns(con, "suite_runs"):
        return None, None
    return con.execute(
        f"SELECT min(days_from), max(days_through) FROM {AUDIT_SCHEMA}.suite_runs WHERE suite = ? AND success",
        [suite],
    ).fetchone()


def has_validated_rows(con, suite: str) -> bool:
    """Whether a successful validation of the suite saw rows (a night, not a first import)."""
    if not relation_exists(con, AUDIT_SCHEMA, "suite_runs"):
        return False
    return bool(con.execute(
        f"SELECT count(*) FROM {AUDIT_SCHEMA}.suite_runs WHERE suite = ? AND success AND row_count > 0", [suite]
    ).fetchone()[0])


def _json(value) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, sort_keys=True)


def _result_rows(run_id: str, suite: str, asset_key: str, results, validated_at) -> list[tuple]:
    return [
        (
            run_id, suite, asset_key, r.rule_id, r.kind, r.expectation, r.column, r.success,
            r.severity, _json(r.observed_value), r.element_count, r.unexpected_count,
            _json(r.examples) if r.examples else None, r.description, r.exception, validated_at,
        )
        for r in results
    ]


def _insert_results(con, rows: list[tuple]) -> None:
    if rows:
        con.executemany(
            f"INSERT INTO {AUDIT_SCHEMA}.validation_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def write_results(con, run_id: str, suite: str, asset_key: str, results, validated_at) -> None:
    """Rule results judged outside a suite run (a quiet night's freshness): validation_results only.

    No suite_runs row: they move neither the row rules' boundary nor the
    validated days, nor the volume band's reference.
    """
    create_audit_schema(con)
    _insert_results(con, _result_rows(run_id, suite, asset_key, results, validated_at))


def write_suite_run(con, run: SuiteRun) -> None:
    create_audit_schema(con)
    key = "/".join(run.suite.asset_key)
    rows = _result_rows(run.run_id, run.suite.name, key, run.results, run.validated_at)
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_results(con, rows)
        con.execute(
            f"INSERT INTO {AUDIT_SCHEMA}.suite_runs ({', '.join(SUITE_RUNS_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in SUITE_RUNS_COLUMNS)})",
            [
                run.run_id, run.suite.name, key, run.suite.table, run.row_count, run.passed,
                len(run.failed(ERROR_)), len(run.failed(WARN_)), len(run.results), run.rows_validated,
                run.chunks, run.seconds, run.as_of, run.data_docs, run.validated_at, run.loaded_through,
                run.days_from, run.days_through, run.rules_not_run,
            ],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


ERROR_ = "ERROR"
WARN_ = "WARN"
