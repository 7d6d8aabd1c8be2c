"""Each suite passes on the sample shop; a crafted bad frame fails, naming the expectation.

One test per kind of rule: schema, keys, value sets, ranges, ordering,
volume, freshness, reconciliation. Every verdict, count and example comes
from Great Expectations validating the suite's batch on its SQL data source
(DuckDB computes GX's metric queries).
"""

from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pytest

from assets.quality import audit
from assets.quality.config import ERROR, WARN, QualityConfig
from assets.quality.engine import run_suite
from assets.quality.suites import REQUIRED_MARTS, all_suites, mart_suites, raw_suites

SAMPLE_ORDERS = 20_000  # tests/integration/quality/conftest.py builds the sample shop with this many
# Data Docs off except where tested (rendering costs ~0.5 s a suite).
FAST = QualityConfig(build_data_docs=False)

SUITES = all_suites(FAST)


def validate(con, name, config=FAST, **kw):
    """Validate suite `name`; its row rules judge every row (`full`) unless `full=False` asks for a run's scope:
    a first validation leaves the history the loader judged to the loader (tests/.../test_incremental.py)."""
    suite = all_suites(config)[name]
    kw.setdefault("full", True)
    return run_suite(con, suite, kw.pop("run_id", "test-run"), config, log_fn=lambda m: None, **kw)


def validated_through(con, suite: str, day) -> None:
    """Record that an earlier night validated `suite` up to `day`: the days after it are new to the next run."""
    audit.create_audit_schema(con)
    con.execute(
        "INSERT INTO audit.suite_runs (run_id, suite, asset_key, table_name, success, error_failures, warn_failures, "
        "expectations, validated_at, days_from, days_through) "
        "VALUES ('earlier-night', ?, 'raw', 'raw', true, 0, 0, 0, now(), DATE '2000-01-01', ?::date)",
        [suite, pd.Timestamp(day).date()],
    )


def only_failure(run, rule_id, expectation, severity=ERROR):
    failed = run.failed()
    assert [r.rule_id for r in failed] == [rule_id], run.failures_markdown()
    r = failed[0]
    assert r.expectation == expectation
    assert r.severity == severity
    return r


# --- the suites pass on the sample shop -------------------------------------------------


def test_suites_cover_every_entity_and_required_mart():
    assert {s.name for s in raw_suites()} == {f"raw_{e}" for e in
                                               ("customers", "orders", "order_lines", "carts", "support_tickets")}
    assert sorted(s.name for s in mart_suites()) == sorted(REQUIRED_MARTS)
    kinds = {r.kind for s in SUITES.values() for r in s.rules}
    assert {"schema", "keys", "value_set", "range", "ordering", "volume", "freshness", "reconciliation"} <= kinds


@pytest.mark.parametrize("name", [s.name for s in raw_suites()])
def test_raw_suite_passes_on_sample_shop(scratch, name):
    con = scratch()
    run = validate(con, name)
    assert run.failed() == [], run.failures_markdown()
    assert run.rows_validated == run.row_count > 0
    stored = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE success) FROM audit.validation_results WHERE suite = ?", [name]
    ).fetchone()
    assert stored == (len(run.results), len(run.results))


@pytest.mark.parametrize("name", list(REQUIRED_MARTS))
def test_mart_suite_passes_on_sample_shop(needs_marts, scratch, name):
    run = validate(scratch(marts=True), name)
    assert run.failed() == [], run.failures_markdown()


# --- one crafted bad frame per kind of rule -----------------------------------------------


def test_schema_wrong_type_and_missing_column(scratch):
    con = scratch(sql=["ALTER TABLE raw.orders DROP COLUMN coupon_code",
                       "ALTER TABLE raw.orders ALTER subtotal TYPE DOUBLE"])
    r = only_failure(validate(con, "raw_orders"), "columns_and_types", "expect_column_pair_values_to_be_equal")
    assert r.unexpected_count == 2
    by_col = {e["column_name"]: e for e in r.examples}
    assert by_col["subtotal"]["actual_type"] == "DOUBLE"
    assert by_col["coupon_code"]["actual_type"] == "MISSING"


def test_keys_duplicate(scratch, frame):
    orders = frame("raw.orders")
    bad = pd.concat([orders, orders.iloc[[123]]], ignore_index=True)  # a duplicated order
    run = validate(scratch({"raw.orders": bad}), "raw_orders")
    r = only_failure(run, "order_id_unique", "expect_column_values_to_be_unique")
    assert r.unexpected_count == 2
    assert r.examples == [orders.order_id[123]] * 2


def test_keys_null_key(scratch, frame):
    tickets = frame("raw.support_tickets")
    tickets.loc[5, "ticket_id"] = None
    run = validate(scratch({"raw.support_tickets": tickets}), "raw_support_tickets")
    only_failure(run, "ticket_id_not_null", "expect_column_values_to_not_be_null")


def test_value_set_unknown_status_and_device(scratch, frame):
    orders = frame("raw.orders")
    orders.loc[7, "status"] = "shipped"
    orders.loc[8, "currency"] = "EUR"
    run = validate(scratch({"raw.orders": orders}), "raw_orders")
    failed = {r.rule_id: r for r in run.failed()}
    assert set(failed) == {"status_in_set", "currency_in_set"}, run.failures_markdown()
    assert failed["status_in_set"].expectation == "expect_column_values_to_be_in_set"
    assert failed["status_in_set"].examples == ["shipped"]
    assert failed["currency_in_set"].examples == ["EUR"]


def test_value_set_ticket_category(scratch, frame):
    tickets = frame("raw.support_tickets")
    tickets.loc[0, "category"] = "billing"
    run = validate(scratch({"raw.support_tickets": tickets}), "raw_support_tickets")
    only_failure(run, "category_in_set", "expect_column_values_to_be_in_set")


def test_range_one_bad_record_passes_a_share_of_bad_records_fails(scratch, frame):
    # one record out of range is the loader's to quarantine; the suite is the safety net for a share of them
    orders = frame("raw.orders")
    assert len(orders) * FAST.row_error_rate >= 1
    orders.loc[3, "discount"] = -5
    run = validate(scratch({"raw.orders": orders}), "raw_orders")
    assert run.failed() == []
    # passed under `mostly`, the record is still named (a clean first pass lists no values: run again)
    assert run.result("discount_range").unexpected_count == 1 and run.result("discount_range").examples == [-5]

    share = int(len(orders) * FAST.row_error_rate) + 2  # just above the tolerated rate
    orders.loc[orders.index[:share], "discount"] = -5
    r = only_failure(validate(scratch({"raw.orders": orders}), "raw_orders"),
                     "discount_range", "expect_column_values_to_be_between")
    assert r.unexpected_count == share and r.examples[0] == -5

    tickets = frame("raw.support_tickets")
    rated = tickets.index[tickets.csat_score.notna()]
    tickets.loc[rated[: int(len(tickets) * FAST.row_error_rate) + 2], "csat_score"] = 7
    r = only_failure(validate(scratch({"raw.support_tickets": tickets}), "raw_support_tickets"),
                     "csat_score_range", "expect_column_values_to_be_between")
    assert r.examples[0] == 7


def test_range_share_is_gx_mostly(scratch, frame):
    """A rule one record can break fails only above `row_error_rate` of the rows: GX's `mostly` decides."""
    orders = frame("raw.orders")
    n = int(len(orders) * FAST.row_error_rate)  # exactly the tolerated share
    orders.loc[orders.index[:n], "discount"] = -5
    at = validate(scratch({"raw.orders": orders}), "raw_orders", write_audit=False).result("discount_range")
    assert (at.success, at.unexpected_count, at.element_count) == (True, n, len(orders))
    orders.loc[orders.index[n], "discount"] = -5
    above = validate(scratch({"raw.orders": orders}), "raw_orders", write_audit=False).result("discount_range")
    assert (above.success, above.unexpected_count) == (False, n + 1)


def test_range_mart_kpis_aov_not_positive(needs_marts, scratch):
    # aov_12m > 0 is GX's (dbt does not test it): every qualifying order has a positive net revenue
    con = scratch(sql=["UPDATE marts.mart_kpis SET aov_12m = 0"], marts=True)
    r = only_failure(validate(con, "mart_kpis"), "aov_12m_range", "expect_column_values_to_be_between")
    assert r.examples == [0.0]


def test_ordering_resolved_before_created(scratch, frame):
    tickets = frame("raw.support_tickets")
    resolved = tickets.index[tickets.resolved_at.notna()]
    bad = resolved[: int(len(tickets) * FAST.row_error_rate) + 2]
    tickets.loc[bad, "resolved_at"] = tickets.loc[bad, "created_at"] - timedelta(hours=3)
    run = validate(scratch({"raw.support_tickets": tickets}), "raw_support_tickets")
    r = only_failure(run, "resolved_at_not_before_created_at", "expect_column_pair_values_a_to_be_greater_than_b")
    assert r.unexpected_count == len(bad)


def test_volume_row_count_vs_previous_run(scratch, frame):
    con = scratch()
    first = validate(con, "raw_orders", run_id="night-1")
    assert first.passed
    # the next night's extraction is truncated: half the orders are gone
    orders = frame("raw.orders")
    con.execute("DELETE FROM raw.orders WHERE hash(order_id) % 2 = 0")
    run = validate(con, "raw_orders", run_id="night-2")
    r = run.result("row_count_vs_previous_run")
    assert not r.success and r.severity == ERROR
    assert r.expectation == "expect_column_values_to_be_between"
    assert r.observed_value["previous_row_count"] == len(orders)
    assert r.observed_value["row_count"] < len(orders) * 0.6


def test_volume_a_backfill_of_older_history_is_not_judged_by_its_size(scratch, frame):
    orders = frame("raw.orders")
    first = orders.created_at.min().normalize()
    older = [orders.assign(order_id=orders.order_id + f"-y{k}", created_at=orders.created_at - pd.DateOffset(years=k),
                           updated_at=orders.updated_at - pd.DateOffset(years=k)) for k in (1, 2, 3)]
    con = scratch()
    assert validate(con, "raw_orders", run_id="night-1").passed
    backfill = pd.concat(older, ignore_index=True)  # noqa: F841 - read by DuckDB's replacement scan
    con.execute("INSERT INTO raw.orders BY NAME SELECT * FROM backfill")
    run = validate(con, "raw_orders", run_id="backfill")
    assert run.result("row_count_vs_previous_run").success, run.failures_markdown()
    assert run.result("row_count_vs_previous_run").observed_value["row_count"] == 4 * len(orders)
    history = run.result("history_gaps").observed_value
    assert pd.Timestamp(history["history_through"]) < first  # only the older years are described
    # the same number of rows dated inside the validated span: a duplicated export, 4x the table
    dup = scratch()
    assert validate(dup, "raw_orders", run_id="night-1").passed
    copies = pd.concat([o.assign(created_at=orders.created_at, updated_at=orders.updated_at) for o in older],  # noqa: F841
                       ignore_index=True)
    dup.execute("INSERT INTO raw.orders BY NAME SELECT * FROM copies")
    assert not validate(dup, "raw_orders", run_id="night-2").result("row_count_vs_previous_run").success


def test_volume_one_empty_busy_day_among_the_new_days_stops_the_run(scratch, frame):
    orders = frame("raw.orders")
    day = orders.created_at.dt.normalize().value_counts().index[100]
    con = scratch({"raw.orders": orders[orders.created_at.dt.normalize() != day]})
    validated_through(con, "raw_orders", day - pd.Timedelta(days=7))
    r = only_failure(validate(con, "raw_orders", write_audit=False), "no_empty_day",
                     "expect_no_empty_new_days", severity=ERROR)
    assert [pd.Timestamp(e["day"]) for e in r.examples] == [day]


def test_volume_the_same_empty_day_in_a_first_load_is_described_not_blocking(scratch, frame):
    orders = frame("raw.orders")
    day = orders.created_at.dt.normalize().value_counts().index[100]
    run = validate(scratch({"raw.orders": orders[orders.created_at.dt.normalize() != day]}), "raw_orders")
    r = only_failure(run, "history_gaps", "expect_column_values_to_be_between", severity=WARN)
    assert r.observed_value["history_gap_days"] == 1
    assert r.observed_value["gap_stretches"] == str(day.date())
    assert run.passed


def test_volume_duplicated_new_day_warns_without_blocking(scratch, frame):
    orders = frame("raw.orders")
    day = orders.created_at.dt.normalize().value_counts().index[0]
    copy = orders[orders.created_at.dt.normalize() == day].copy()
    extra = [copy.assign(order_id=copy.order_id + f"-dup{k}") for k in range(3)]  # re-exported under new ids
    con = scratch({"raw.orders": pd.concat([orders, *extra], ignore_index=True)})
    validated_through(con, "raw_orders", day - pd.Timedelta(days=1))
    run = validate(con, "raw_orders")
    r = only_failure(run, "daily_volume_spike", "expect_new_days_to_match_weekday_volume", severity=WARN)
    assert pd.Timestamp(r.examples[0]["day"]) == day
    assert run.passed and run.severity == WARN  # WARN: the run goes on


def test_freshness_judged_on_nightly_runs_not_on_first_import(scratch):
    con = scratch()
    newest = con.execute("SELECT max(created_at)::date FROM raw.orders").fetchone()[0]
    late = newest + timedelta(days=5)
    first = validate(con, "raw_orders", as_of_setting=late, run_id="history")
    assert first.failed() == [], first.failures_markdown()
    assert first.result("freshness").observed_value["freshness_lag_days"] is None  # not judged

    run = validate(con, "raw_orders", as_of_setting=late, run_id="night-1")
    r = only_failure(run, "freshness", "expect_column_values_to_be_between")
    assert r.observed_value["freshness_lag_days"] == 5
    # the days after the newest record are freshness's to judge, not daily volume's
    assert run.result("no_empty_day").success and run.result("no_empty_run").success


def test_reconciliation_cohort_size(needs_marts, scratch):
    con = scratch(sql=["UPDATE marts.mart_cohort_retention SET cohort_size = cohort_size + 1 "
                       "WHERE cohort_month = (SELECT min(cohort_month) FROM marts.mart_cohort_retention)"], marts=True)
    run = validate(con, "mart_cohort_retention")
    r = only_failure(run, "cohort_size_matches_first_orders", "expect_column_pair_values_to_be_equal")
    assert r.unexpected_count == 1
    assert r.examples[0]["mart_cohort_size"] == r.examples[0]["staging_customers"] + 1


def test_reconciliation_revenue(needs_marts, scratch):
    con = scratch(sql=["UPDATE marts.mart_aov_by_device SET net_revenue = net_revenue + 0.01 "
                       "WHERE device = 'mobile' AND order_month = (SELECT min(order_month) FROM marts.mart_aov_by_device)"], marts=True)
    run = validate(con, "mart_aov_by_device")
    r = only_failure(run, "net_revenue_matches_staging", "expect_mart_revenue_to_match_staging")
    assert r.observed_value["revenue_diff_cents"] == 1 and r.unexpected_count == 1
    assert r.observed_value["mart_net_revenue_cents"] == r.observed_value["staging_net_revenue_cents"] + 1
    (line,) = run.failure_lines()
    assert line[1].startswith("ERROR mart_aov_by_device.net_revenue_matches_staging: revenue_diff_cents 1, ")


def test_reconciliation_revenue_of_the_all_row_only(needs_marts, scratch):
    # mart_clv_summary: the 'all' row carries the company total; a cohort-year row changing does not move it
    con = scratch(sql=["UPDATE marts.mart_clv_summary SET net_revenue = net_revenue + 5 WHERE cohort <> 'all'"],
                  marts=True)
    assert validate(con, "mart_clv_summary").result("net_revenue_matches_staging").success
    con.execute("UPDATE marts.mart_clv_summary SET net_revenue = net_revenue - 0.02 WHERE cohort = 'all'")
    r = validate(con, "mart_clv_summary").result("net_revenue_matches_staging")
    assert not r.success and r.observed_value["revenue_diff_cents"] == -2


def test_a_suite_is_a_gx_suite_run_by_its_layers_checkpoint(scratch):
    """The raw suite is a GX ExpectationSuite, validated by a ValidationDefinition on the SQL data source's
    query asset, run by the `raw` Checkpoint; the audit holds GX's results."""
    from assets.quality.gx_runtime import validation_context

    con = scratch()
    run = validate(con, "raw_orders", run_id="night-1")
    ctx = validation_context()
    checkpoint = ctx.checkpoints.get("raw")
    (vd,) = checkpoint.validation_definitions
    assert vd.name == "raw_orders" and vd.data.data_asset.datasource.type == "duckdb"
    assert [e.meta["rule_id"] for e in vd.suite.expectations] == [r.rule_id for r in run.results]
    assert vd.data.data_asset.query == 'SELECT * FROM quality_cache."raw_orders__batch"'
    parts = dict(con.execute('SELECT _frame, count(*) FROM quality_cache."raw_orders__batch" GROUP BY 1').fetchall())
    assert parts["rows"] == parts["keys"] == run.row_count and parts["stats"] == 1 and parts["daily"] > 300
    stored = dict(con.execute("SELECT rule_id, element_count FROM audit.validation_results "
                              "WHERE suite = 'raw_orders' AND rule_id = 'status_in_set'").fetchall())
    assert stored == {"status_in_set": run.row_count}


def test_the_staging_reference_is_computed_once_per_run(needs_marts, scratch):
    from assets.quality.engine import ensure_staging_reference

    con = scratch(marts=True)
    assert validate(con, "mart_aov_by_device", run_id="night-1").passed
    assert ensure_staging_reference(con, "night-1") is False  # the suite above computed it for this run
    # staging changes before the next run: the next run's reconciliation sees it
    con.execute("DELETE FROM staging.stg_shop__orders WHERE order_id = (SELECT min(order_id) FROM "
                "staging.stg_shop__orders WHERE status <> 'cancelled' AND subtotal - discount - refunded_amount > 0)")
    run = validate(con, "mart_aov_by_device", run_id="night-2")
    assert not run.result("net_revenue_matches_staging").success
