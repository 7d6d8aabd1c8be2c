"""The project's own GX expectations (assets/quality/gx_expectations.py) on GX's DuckDB SQL data source.

Small tables made here; GX runs each expectation's query through its own
metrics, in a Checkpoint, as the suites do.
"""

import os

import duckdb
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

pytest.importorskip("duckdb_engine", reason="GX's SQL data source on DuckDB needs the duckdb-engine dialect")

import great_expectations as gx  # noqa: E402

from assets.quality.gx_duckdb import add_duckdb  # noqa: E402
from assets.quality.gx_expectations import (  # noqa: E402
    ExpectMartRevenueToMatchStaging,
    ExpectNewDaysToMatchWeekdayVolume,
    ExpectNoEmptyNewDays,
    ExpectQuarantineRateToBeAtMost,
)


@pytest.fixture()
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "build.duckdb"))
    c.execute("CREATE SCHEMA marts")
    c.execute("CREATE SCHEMA ref")
    # two cohorts and the 'all' row; the reference: customers' revenue 30.10 over two months, guests 5.00 more
    c.execute("""CREATE TABLE marts.summary AS SELECT * FROM (VALUES
        ('rows', '2024', 10.05::DECIMAL(18,2)), ('rows', '2025', 20.05::DECIMAL(18,2)),
        ('rows', 'all', 30.10::DECIMAL(18,2)), ('stats', NULL, NULL)) t(_frame, cohort, net_revenue)""")
    c.execute("""CREATE TABLE ref.reference AS SELECT * FROM (VALUES
        ('month', 12.10::DECIMAL(18,2), 14.10::DECIMAL(18,2)), ('month', 18.00::DECIMAL(18,2), 21.00::DECIMAL(18,2)),
        ('cohort', NULL, NULL)) t(grain, customer_net_revenue, net_revenue)""")
    yield c
    c.close()


def _validate(con, expectations, table="marts.summary"):
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = None
    batch = add_duckdb(ctx, "warehouse", con).add_query_asset("summary", query=f"SELECT * FROM {table}") \
        .add_batch_definition_whole_table("all")
    suite = ctx.suites.add(gx.ExpectationSuite(name="summary", expectations=expectations))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="summary", data=batch, suite=suite))
    try:
        out = ctx.checkpoints.add(gx.Checkpoint(name="marts", validation_definitions=[vd])).run()
    finally:
        batch.data_asset.datasource.get_execution_engine().close()  # before the fixture closes DuckDB
    (run,) = out.run_results.values()
    return run.results


def revenue(**kw):
    return ExpectMartRevenueToMatchStaging(column="net_revenue", reference_table="ref.reference",
                                           reference_column="customer_net_revenue", **kw)


def test_the_all_row_matches_the_customers_reference_and_the_sum_of_all_rows_does_not(con):
    all_row, every_row = _validate(con, [revenue(mart_filter="cohort = 'all'"), revenue()])
    assert all_row.expectation_config.type == "expect_mart_revenue_to_match_staging"
    assert all_row.success and all_row.result["observed_value"] == 0
    assert not every_row.success
    assert every_row.result["observed_value"] == {"revenue_diff_cents": 3010, "mart_net_revenue_cents": 6020,
                                                  "staging_net_revenue_cents": 3010}
    assert every_row.result["details"] == {"unexpected_rows": [every_row.result["observed_value"]],
                                           "unexpected_row_count": 1}


def test_one_cent_off_fails_unless_tolerated_and_the_reference_column_counts(con):
    con.execute("UPDATE marts.summary SET net_revenue = net_revenue + 0.01 WHERE cohort = 'all'")
    strict, tolerant, guests = _validate(con, [
        revenue(mart_filter="cohort = 'all'"),
        revenue(mart_filter="cohort = 'all'", tolerance_cents=1),
        ExpectMartRevenueToMatchStaging(column="net_revenue", reference_table="ref.reference",
                                        reference_column="net_revenue", mart_filter="cohort = 'all'"),
    ])
    assert not strict.success and strict.result["observed_value"]["revenue_diff_cents"] == 1
    assert tolerant.success
    assert not guests.success and guests.result["observed_value"]["staging_net_revenue_cents"] == 3510


# --- the raw suites' expectations, on frames shaped as days.daily_sql / frame_sql.quarantine_sql make them ----


@pytest.fixture()
def frames(con):
    """A daily frame (a suite's batch part `daily`: records_on_busy_days set on the judged new days, the
    length of each empty judged day's run) and a quarantine frame, in one batch, with a `rows` part beside."""
    con.execute("CREATE SCHEMA q")
    con.execute("""CREATE TABLE q.batch AS SELECT * FROM (VALUES
        ('daily', DATE '2025-03-03', 40, 40.0, false, NULL, NULL, NULL, NULL, NULL, NULL),   -- history
        ('daily', DATE '2025-03-10', 0, 40.0, true, 0, 1, NULL, NULL, NULL, NULL),           -- one lost day
        ('daily', DATE '2025-03-11', 40, 40.0, true, 40, NULL, NULL, NULL, NULL, NULL),
        ('daily', DATE '2025-03-12', 0, 40.0, true, 0, 3, NULL, NULL, NULL, NULL),           -- a run of three,
        ('daily', DATE '2025-03-13', 0, 40.0, true, 0, 3, NULL, NULL, NULL, NULL),
        ('daily', DATE '2025-03-15', 0, 0.0, true, NULL, NULL, NULL, NULL, NULL, NULL),      -- (closed: not judged)
        ('daily', DATE '2025-03-16', 0, 40.0, true, 0, 3, NULL, NULL, NULL, NULL),           -- across it
        ('daily', DATE '2025-03-17', 120, 40.0, true, 120, NULL, NULL, NULL, NULL, NULL),    -- exactly 3x
        ('daily', DATE '2025-03-18', 121, 40.0, true, 121, NULL, NULL, NULL, NULL, NULL),    -- above
        ('daily', DATE '2025-03-19', 900, 40.0, false, NULL, NULL, NULL, NULL, NULL, NULL),  -- not new: not judged
        ('quarantine', NULL, NULL, NULL, NULL, NULL, NULL, 970, 30, 1000, 'missing_required (30)'),
        ('rows', NULL, 0, NULL, true, 0, 5, NULL, NULL, NULL, NULL)                          -- another part
        ) t(_frame, day, records, weekday_median, is_new, records_on_busy_days, empty_run_days,
            loaded_rows, quarantined_rows, rows_read, top_reasons)""")
    return con


def _days(result):
    return [str(r["day"])[:10] for r in result.result["details"]["unexpected_rows"]]


def test_weekday_volume_fails_only_the_judged_new_days_above_the_ratio(frames):
    three, four, half = _validate(frames, [ExpectNewDaysToMatchWeekdayVolume(max_ratio=3),
                                           ExpectNewDaysToMatchWeekdayVolume(max_ratio=4),
                                           ExpectNewDaysToMatchWeekdayVolume(max_ratio=0.5)], "q.batch")
    assert three.expectation_config.type == "expect_new_days_to_match_weekday_volume"
    assert not three.success and _days(three) == ["2025-03-18"]
    assert three.result["observed_value"] == {"unexpected_days": 1, "days": ["2025-03-18"]}
    (row,) = three.result["details"]["unexpected_rows"]
    assert row["records"] == 121 and row["weekday_median"] == 40 and row["ratio_to_weekday_median"] == 121 / 40
    assert four.success and four.result["observed_value"] == {"unexpected_days": 0, "days": []}
    # the judged busy days above half the median; empty days, closed days and old days are not volume's
    assert _days(half) == ["2025-03-11", "2025-03-17", "2025-03-18"]


def test_empty_new_days_one_by_one_and_as_runs(frames):
    day, run, long_run = _validate(frames, [ExpectNoEmptyNewDays(), ExpectNoEmptyNewDays(min_run_days=3),
                                            ExpectNoEmptyNewDays(min_run_days=4)], "q.batch")
    assert day.expectation_config.type == "expect_no_empty_new_days"
    assert not day.success and _days(day) == ["2025-03-10", "2025-03-12", "2025-03-13", "2025-03-16"]
    assert list(day.result["details"]["unexpected_rows"][0]) == ["day", "weekday_median", "records_on_busy_days"]
    assert not run.success and _days(run) == ["2025-03-12", "2025-03-13", "2025-03-16"]
    assert run.result["details"]["unexpected_rows"][0]["empty_run_days"] == 3
    assert run.result["details"]["unexpected_row_count"] == 3
    assert long_run.success


def test_quarantine_rate_judged_above_the_rate_and_from_the_minimum_rows(frames):
    above, at, few = _validate(frames, [
        ExpectQuarantineRateToBeAtMost(max_rate=0.01),
        ExpectQuarantineRateToBeAtMost(max_rate=0.03),
        ExpectQuarantineRateToBeAtMost(max_rate=0.01, min_quarantined_rows=31),
    ], "q.batch")
    assert above.expectation_config.type == "expect_quarantine_rate_to_be_at_most"
    assert not above.success
    assert above.result["observed_value"] == {"quarantine_rate": 0.03, "quarantined_rows": 30, "rows_read": 1000,
                                              "top_reasons": "missing_required (30)"}
    assert at.success  # exactly the rate passes
    assert few.success  # 30 quarantined rows: not judged below 31


@pytest.mark.parametrize("make", [lambda: ExpectQuarantineRateToBeAtMost(max_rate=1.5),
                                  lambda: ExpectNoEmptyNewDays(min_run_days=0),
                                  lambda: ExpectNewDaysToMatchWeekdayVolume(max_ratio=0),
                                  lambda: ExpectNewDaysToMatchWeekdayVolume(max_ratio="x"),
                                  lambda: ExpectQuarantineRateToBeAtMost()])
def test_arguments_missing_or_out_of_range_are_refused_naming_the_argument(make):
    with pytest.raises(ValueError, match=r"(max_rate|min_run_days|max_ratio)\b"):
        make()
