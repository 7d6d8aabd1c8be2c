"""A night without new data: the quality area's freshness judgement, as the pipeline's extraction step calls it.

On such a night every step after extraction is skipped (tests/e2e/test_quiet_night.py); the extraction asset the
pipeline runs (orchestration/extraction.py) calls `checks.quiet_night_freshness`, which records the freshness of
every validated entity and stops the night on an ERROR. Here it is called directly, on the sample shop's rows.
"""

from datetime import timedelta
from types import SimpleNamespace

import dagster as dg
import pytest

from assets.quality.checks import quiet_night_freshness

from .test_suites import validate


class _Log:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level):
        return lambda line: self.lines.append((level, line))


def _night(con, as_of):
    """Call the judge as the extraction step does: (context, warehouse, shop_source, source, until)."""
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    con.close()  # the judge opens the warehouse itself, as on a real night
    import duckdb

    log = _Log()
    context = SimpleNamespace(log=log, run=SimpleNamespace(run_id="quiet-night"))
    warehouse = SimpleNamespace(connect=lambda: duckdb.connect(path))
    shop_source = SimpleNamespace(as_of=lambda: as_of, user_config=lambda: {})
    source = SimpleNamespace(timezone="UTC")
    try:
        quiet_night_freshness(context, warehouse, shop_source, source, None)
        failure = None
    except dg.Failure as exc:
        failure = exc
    with duckdb.connect(path) as c:
        audit = c.execute("SELECT suite, success, severity FROM audit.validation_results "
                          "WHERE run_id = 'quiet-night' AND rule_id = 'freshness' ORDER BY suite").fetchall()
    return failure, log.lines, audit


@pytest.fixture
def validated(scratch):
    con = scratch()
    newest = con.execute("SELECT max(created_at)::date FROM raw.orders").fetchone()[0]
    assert validate(con, "raw_orders", as_of_setting=newest).passed  # a successful run saw the rows
    return con, newest


def test_a_quiet_night_within_the_lag_passes_and_is_recorded(validated):
    con, newest = validated
    failure, lines, audit = _night(con, newest + timedelta(days=1))
    assert failure is None, failure
    assert ("raw_orders", True, "ERROR") in audit
    assert any(level == "info" and "orders 1 day(s)" in line for level, line in lines), lines


def test_quiet_nights_past_the_lag_stop_the_night_naming_the_rule(validated):
    con, newest = validated
    failure, lines, audit = _night(con, newest + timedelta(days=2))
    assert failure is not None and not failure.allow_retries
    assert "ERROR raw_orders.freshness" in failure.description
    assert ("raw_orders", False, "ERROR") in audit
    assert any(level == "error" and line.startswith("ERROR raw_orders.freshness") for level, line in lines)
