"""The anchors (bare DuckDB read-dedupe-persist and marts SQL) and the landing-folder writer."""

from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest

ORDERS = 2_000


def test_marts_statements_fill_placeholders_and_drop_comment_lines(anchors):
    sql = "-- a comment; with {braces}\ncreate table t as select {days} as d;\n\n  -- another\nselect '{tz}';\n"
    assert anchors.marts_statements(sql, {"days": 180, "tz": "UTC"}) == [
        "create table t as select 180 as d",
        "select 'UTC'",
    ]


def _orders(rows):
    return pl.DataFrame(rows, schema={"order_id": pl.String, "status": pl.String, "updated_at": pl.Datetime("us")}, orient="row")


def test_read_dedupe_persist_keeps_the_newest_version_of_each_key(anchors, tmp_path):
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    t = datetime(2025, 3, 1, 12)
    _orders([("o1", "placed", t), ("o2", "placed", t)]).write_parquet(landing / "orders" / "a.parquet")
    _orders([("o1", "refunded", t + timedelta(days=3)), ("o2", "placed", t)]).write_parquet(landing / "orders" / "b.parquet")

    result = anchors.read_dedupe_persist(landing, tmp_path / "anchor.duckdb")

    assert result["rows"] == {"orders": 2}
    con = duckdb.connect(str(tmp_path / "anchor.duckdb"), read_only=True)
    assert con.execute("select order_id, status from raw.orders order by 1").fetchall() == [("o1", "refunded"), ("o2", "placed")]


@pytest.fixture(scope="module")
def anchor_db(tmp_path_factory, anchors, landing):
    folder = tmp_path_factory.mktemp("anchor")
    landing.write_landing(folder / "landing", ORDERS)
    anchors.read_dedupe_persist(folder / "landing", folder / "anchor.duckdb")
    result = anchors.run_marts(folder / "anchor.duckdb", "America/New_York")
    return folder / "anchor.duckdb", result


def test_run_marts_builds_the_five_required_marts(anchor_db):
    _, result = anchor_db
    required = {"mart_cohort_retention", "mart_retention_rate", "mart_customer_churn", "mart_customer_clv", "mart_aov_by_device"}
    assert required <= set(result["rows"])
    assert all(result["rows"][m] > 0 for m in required)


def test_anchor_marts_every_cohort_is_fully_active_in_its_first_month(anchor_db):
    con = duckdb.connect(str(anchor_db[0]), read_only=True)
    first_months = con.execute(
        "select min(retention_rate), max(retention_rate), count(*) from anchor_marts.mart_cohort_retention "
        "where months_since_first_order = 0"
    ).fetchone()
    cohorts = con.execute("select count(distinct cohort_month) from anchor_marts.customer_summary").fetchone()[0]
    assert first_months == (1.0, 1.0, cohorts)


def test_anchor_marts_customer_clv_adds_up_to_the_known_customers_qualifying_revenue(anchor_db):
    con = duckdb.connect(str(anchor_db[0]), read_only=True)
    clv, aov = con.execute(
        "select (select sum(historical_clv) from anchor_marts.mart_customer_clv), "
        "(select sum(net_revenue) from anchor_marts.orders where is_qualifying and customer_id is not null)"
    ).fetchone()
    assert clv == pytest.approx(aov)


def test_landing_before_the_last_day_holds_nothing_from_it_and_the_day_files_only_it(landing, tmp_path):
    days = landing.history_days(ORDERS)
    base = landing.write_landing(tmp_path / "base", ORDERS, days=days - 1)
    day = landing.write_day(tmp_path / "day", ORDERS)
    assert sum(base.values()) > 0 and sum(day.values()) > 0

    orders_base = pl.read_parquet(tmp_path / "base" / "orders" / "*.parquet")
    orders_day = pl.read_parquet(tmp_path / "day" / "orders" / "*.parquet")
    last_day_starts = orders_base["updated_at"].max().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert orders_day["updated_at"].min() >= last_day_starts
    assert orders_day["updated_at"].max() < last_day_starts + timedelta(days=1)
    assert all(p.name.startswith("day-") for p in (tmp_path / "day" / "orders").iterdir())
