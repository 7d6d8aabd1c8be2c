"""CDNOW, a real retailer's orders and nothing else, through the whole pipeline to publish.

The landing folder holds only `orders/` with order_id, customer_id,
created_at and subtotal (scripts/cdnow_to_landing.py); the contract's
defaults supply the rest. Cohort sizes and month-1 retention of the
published `marts.mart_cohort_retention` are checked against values computed
here straight from the fixture file, with the glossary's definitions
(dbt_project/docs/metrics.md): a qualifying order is not cancelled and has
net revenue > 0 (CDNOW lines with dollar_value 0 do not qualify); the cohort
month is the shop-local month of a customer's first qualifying order; a
customer is active in month k with a qualifying order in that month. The
shop time zone is UTC, so the file's dates are the shop's dates.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from .conftest import assert_published, run_shop

from assets.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

MASTER = PROJECT_ROOT / "tests" / "fixtures" / "cdnow" / "CDNOW_master.txt"


def expected_cohorts(master: Path) -> pl.DataFrame:
    """cohort_month, cohort_size, month1_active, month1_retention from the raw file alone."""
    rows = [line.split() for line in master.read_text().splitlines()[1:] if line.strip()]
    tx = pl.DataFrame(
        {"customer_id": [r[0] for r in rows], "day": [r[1] for r in rows], "dollars": [r[3] for r in rows]}
    ).with_columns(
        month=pl.col("day").str.strptime(pl.Date, "%Y%m%d").dt.truncate("1mo"),
        dollars=pl.col("dollars").cast(pl.Decimal(18, 2)),
    )
    qualifying = tx.filter(pl.col("dollars") > 0)
    first = qualifying.group_by("customer_id").agg(cohort_month=pl.col("month").min())
    sizes = first.group_by("cohort_month").agg(cohort_size=pl.len())
    month1 = (
        qualifying.join(first, on="customer_id")
        .filter(pl.col("month") == pl.col("cohort_month").dt.offset_by("1mo"))
        .group_by("cohort_month")
        .agg(month1_active=pl.col("customer_id").n_unique())
    )
    return (
        sizes.join(month1, on="cohort_month", how="left")
        .with_columns(pl.col("month1_active").fill_null(0))
        .with_columns(month1_retention=pl.col("month1_active") / pl.col("cohort_size"))
        .sort("cohort_month")
    )


@pytest.fixture(scope="module")
def cdnow_run(tmp_path_factory):
    from scripts.cdnow_to_landing import write_landing

    root = tmp_path_factory.mktemp("cdnow")
    write_landing(MASTER, root / "landing")
    return run_shop("realshop_cdnow", root / "landing", root / "data", currency="USD", timezone="UTC")


def test_cdnow_orders_only_publishes(cdnow_run):
    assert_published(cdnow_run)


def test_cdnow_every_order_loads_with_the_minimal_defaults(cdnow_run):
    lines = sum(1 for line in MASTER.read_text().splitlines()[1:] if line.strip())
    got = cdnow_run.query(
        cdnow_run.build_db,
        "SELECT count(*), count(*) FILTER (WHERE status = 'fulfilled' AND device = 'unknown' "
        "AND currency = 'USD' AND discount = 0 AND refunded_amount = 0 AND updated_at = created_at) "
        "FROM raw.orders",
    )[0]
    quarantined = cdnow_run.query(cdnow_run.build_db, "SELECT reason, count(*) FROM raw.quarantine GROUP BY reason")
    assert got == (lines, lines), (
        f"raw.orders: {got[0]} rows ({got[1]} with the minimal-orders defaults), expected all {lines} "
        f"lines of {MASTER.name}; quarantine by reason: {quarantined}"
    )


def test_cdnow_cohort_sizes_match_the_raw_file(cdnow_run):
    assert cdnow_run.published_db.exists(), f"{cdnow_run.published_db} was not published: {cdnow_run.step_failures()}"
    expected = expected_cohorts(MASTER)
    got = pl.DataFrame(
        cdnow_run.query(
            cdnow_run.published_db,
            "SELECT DISTINCT cohort_month, cohort_size FROM marts.mart_cohort_retention ORDER BY cohort_month",
        ),
        schema={"cohort_month": pl.Date, "cohort_size": pl.Int64},
        orient="row",
    )
    want = expected.select("cohort_month", pl.col("cohort_size").cast(pl.Int64))
    assert got.equals(want), f"mart_cohort_retention cohort sizes:\n{got}\nexpected from {MASTER.name}:\n{want}"


def test_cdnow_month1_retention_matches_the_raw_file(cdnow_run):
    assert cdnow_run.published_db.exists(), f"{cdnow_run.published_db} was not published: {cdnow_run.step_failures()}"
    expected = expected_cohorts(MASTER)
    got = pl.DataFrame(
        cdnow_run.query(
            cdnow_run.published_db,
            "SELECT cohort_month, active_customers, retention_rate FROM marts.mart_cohort_retention "
            "WHERE months_since_first_order = 1 ORDER BY cohort_month",
        ),
        schema={"cohort_month": pl.Date, "active_customers": pl.Int64, "retention_rate": pl.Float64},
        orient="row",
    )
    assert got["cohort_month"].to_list() == expected["cohort_month"].to_list(), (
        f"mart_cohort_retention month-1 rows for {got['cohort_month'].to_list()}, "
        f"expected {expected['cohort_month'].to_list()}"
    )
    assert got["active_customers"].to_list() == expected["month1_active"].to_list(), (
        f"month-1 active customers {got['active_customers'].to_list()}, "
        f"expected {expected['month1_active'].to_list()}"
    )
    for month, rate, want in zip(got["cohort_month"], got["retention_rate"], expected["month1_retention"]):
        assert rate == pytest.approx(want, abs=1e-12), f"month-1 retention of cohort {month}: {rate}, expected {want}"


def test_cdnow_change_marts_build_and_add_up(cdnow_run):
    from tests.support.change_marts import change_mart_problems, dbt_statuses

    (run_results,) = cdnow_run.data.glob("dbt/runs/*/retention_dbt/run_results.json")
    statuses = dbt_statuses(run_results)
    assert change_mart_problems(lambda sql: cdnow_run.query(cdnow_run.build_db, sql), statuses) == []
    # orders only: customer attributes are 'unknown', carts give no rows, and the 18 months of
    # CDNOW give a year-on-year comparison of the last complete month
    got = cdnow_run.query(cdnow_run.build_db, """
        select
            (select list(distinct segment order by segment) from marts.mart_metric_changes where dimension = 'country'),
            (select count(*) from marts.mart_metric_changes where metric like 'cart%'),
            (select count(*) from marts.mart_change_notes where period = 'month_vs_same_month_last_year')""")
    assert got == [(["unknown"], 0, 1)]


def test_cdnow_audiences_backtest_and_lists_are_built_and_agree(cdnow_run):
    import json

    db = cdnow_run.published_db
    assert db.exists(), f"{db} was not published: {cdnow_run.step_failures()}"
    # Every customer gets an expected next order (CDNOW's models fit).
    customers, dated = cdnow_run.query(
        db, "SELECT count(*), count(expected_next_order_date) FROM marts.mart_customer_predictions")[0]
    assert customers == dated > 0, f"{dated} of {customers} customers have an expected next order date"
    # CDNOW ends 1998-06-30: the six latest month-ends with 90 days after them (1998-03-31 + 90 = 1998-06-29).
    cutoffs = [r[0].isoformat() for r in cdnow_run.query(
        db, "SELECT DISTINCT cutoff_date FROM marts.mart_audience_backtest ORDER BY 1")]
    assert cutoffs == ["1997-10-31", "1997-11-30", "1997-12-31", "1998-01-31", "1998-02-28", "1998-03-31"], cutoffs
    rows = dict(cdnow_run.query(db, "SELECT audience, members FROM marts.mart_audience_summary"))
    assert rows["cart_recovery"] == rows["after_bad_support"] == 0  # orders only: not tracked, empty
    assert rows["win_back"] > 0 and rows["vip_at_risk"] > 0, rows
    manifest = json.loads((cdnow_run.exports / "audiences" / "_manifest.json").read_text())
    assert {a: e["members"] for a, e in manifest["audiences"].items()} == rows
