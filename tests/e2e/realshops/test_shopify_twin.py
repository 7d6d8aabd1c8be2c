"""The same real history as a Shopify orders export: it publishes, and a night that loses a busy day stops.

CDNOW's 800 most frequent buyers, as a New York shop's admin would export
them (tests/support/shopify_export.py: a few line items per order, e-mails as
the customers' identity, times with the shop's UTC offset, into the evening):
closed from Dec 24 to Jan 3 every year, its first weeks thinned to one
order in five (a partial, sparse first month), no retention.yml.

1. The first export (orders placed through 1998-05-31) publishes with
   RETENTION_SOURCE=shopify_csv; the closure is described as a WARN.
2. A second export (orders placed 1998-06-01 .. 06-15) that leaves out
   Wednesday 1998-06-10, a normally busy day in the shop's calendar, stops
   the run before publishing, naming the rule and the day on the console.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import polars as pl
import pytest

from assets.settings import PROJECT_ROOT
from tests.support.shopify_export import cdnow_purchases, export_rows, order_names, write_export

from .conftest import assert_published, run_shop

pytestmark = pytest.mark.slow

MASTER = PROJECT_ROOT / "tests" / "fixtures" / "cdnow" / "CDNOW_master.txt"
# Enough buyers for a Wednesday of 1998 to reach the 20 orders a day from which days are judged.
CUSTOMERS = 800
TIMEZONE = "America/New_York"
THINNED_UNTIL = date(1997, 1, 25)  # before it, one order in five
HISTORY_END = "1998-05-31"
LOST_DAY = "1998-06-10"  # a Wednesday
NIGHT_END = "1998-06-15"
SHOP = "realshop_shopify_twin"


def closed(day: pl.Expr) -> pl.Expr:
    return ((day.dt.month() == 12) & (day.dt.day() >= 24)) | ((day.dt.month() == 1) & (day.dt.day() <= 3))


def twin_purchases() -> pl.DataFrame:
    from scripts.cdnow_to_landing import read_cdnow

    master = read_cdnow(MASTER)
    frequent = master.group_by("customer_id").len().sort("len", "customer_id", descending=[True, False]).head(CUSTOMERS)
    purchases = cdnow_purchases(master.join(frequent.select("customer_id"), on="customer_id"))
    day = pl.col("placed_at").dt.date()
    launch = (day >= THINNED_UNTIL) | (pl.col("key").hash(17) % 5 == 0)
    return order_names(purchases.filter(~closed(day) & launch)).with_columns(day=day)


def published(data) -> str | None:
    current = data / "current"
    return current.readlink().name if current.is_symlink() else None


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("shopify_twin")
    landing, data = root / "exports", root / "data"
    purchases = twin_purchases()
    end, night_end, lost = (date.fromisoformat(d) for d in (HISTORY_END, NIGHT_END, LOST_DAY))
    history = purchases.filter(pl.col("day") <= end)
    write_export(landing / "orders_export_1.csv",
                 export_rows(history, TIMEZONE, datetime.combine(end, datetime.max.time())))
    runs = {"history": run_shop(SHOP, landing, data, "USD", TIMEZONE, until=HISTORY_END, source="shopify_csv")}
    runs["published_first"] = published(data)
    night = purchases.filter((pl.col("day") > end) & (pl.col("day") <= night_end))
    kept = night.filter(pl.col("day") != lost)
    write_export(landing / "orders_export_2.csv",
                 export_rows(kept, TIMEZONE, datetime.combine(night_end, datetime.max.time())))
    runs["lost_day"] = run_shop(SHOP, landing, data, "USD", TIMEZONE, until=NIGHT_END, source="shopify_csv")
    runs["published_after"] = published(data)
    runs["exported_orders"] = history.height + kept.height
    runs["customers"] = pl.concat([history, kept])["customer"].n_unique()
    runs["lost_day_count"] = night.filter(pl.col("day") == lost).height
    return runs


def test_the_export_of_a_history_with_closures_and_a_sparse_start_publishes(nights):
    run = nights["history"]
    assert_published(run)
    failed = {(suite, rule): severity for suite, rule, severity, _ in run.failed_rules()}
    assert set(failed.values()) <= {"WARN"}, failed
    described = [m for m in run.logged(logging.WARNING) if "raw_orders.history_gaps" in m]
    assert described and "1997-12-24..1998-01-03 (11 days)" in described[0], run.logged(logging.WARNING)


def test_every_order_and_customer_of_both_exports_is_loaded(nights):
    run = nights["lost_day"]  # the build file after both nights (a failed gate keeps what was loaded)
    orders, customers = run.query(run.build_db, "SELECT count(*), count(DISTINCT customer_id) FROM raw.orders")[0]
    quarantined = run.query(run.build_db, "SELECT reason, count(*) FROM raw.quarantine GROUP BY reason")
    assert (orders, customers) == (nights["exported_orders"], nights["customers"]), (
        f"raw.orders: {orders} orders of {customers} customers, expected {nights['exported_orders']} of "
        f"{nights['customers']} (e-mails differing in case are one customer); quarantine: {quarantined}")


def test_a_night_that_leaves_out_a_busy_day_stops_before_publishing(nights):
    run = nights["lost_day"]
    assert nights["lost_day_count"] >= 30, "the lost day must be a normally busy day"
    assert not run.result.success
    assert nights["published_first"] and nights["published_after"] == nights["published_first"], (
        "a failed night must not publish")
    failed = {(suite, rule): severity for suite, rule, severity, _ in run.failed_rules()}
    assert failed.get(("raw_orders", "no_empty_day")) == "ERROR", failed
    errors = [m for m in run.logged(logging.ERROR) if "raw_orders.no_empty_day" in m]
    assert errors and f"1 day(s): {LOST_DAY}" in errors[0], run.logged(logging.ERROR)
