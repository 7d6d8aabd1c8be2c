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
from assets.quality.gx_expectations import ExpectMartRevenueToMatchStaging  # noqa: E402


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


def _validate(con, expectations):
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = None
    batch = add_duckdb(ctx, "warehouse", con).add_query_asset("summary", query="SELECT * FROM marts.summary") \
        .add_batch_definition_whole_table("all")
    suite = ctx.suites.add(gx.ExpectationSuite(name="summary", expectations=expectations))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="summary", data=batch, suite=suite))
    out = ctx.checkpoints.add(gx.Checkpoint(name="marts", validation_definitions=[vd])).run()
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
