"""A real shop's history publishes as it is; later nights are judged on what they bring.

CDNOW's transactions (half its customers, to keep the runs small) with the
shop closed from Dec 24 to Jan 3 every year: the history starts on a
Saturday in January after a closure, its first three months are the launch
(four times the later volume), and there is no retention.yml.

1. The first run loads the history through 1998-05-31 and publishes; the
   closure is described as a WARN (dates, size), never blocking.
2. A quiet night within the freshness lag passes; quiet nights past it stop
   the run at the extraction, naming the rule, the lag and the key to change.
3. A night whose file leaves out a normally busy day (Wednesday 1998-06-10)
   stops the run at raw/orders: nothing is published, and the console and
   `make where`'s summary name the rule, the day and the key to change.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assets.settings import PROJECT_ROOT

from .conftest import assert_published, run_shop

pytestmark = pytest.mark.slow

MASTER = PROJECT_ROOT / "tests" / "fixtures" / "cdnow" / "CDNOW_master.txt"
HISTORY_END = "1998-05-31"
LOST_DAY = "1998-06-10"  # a Wednesday
NIGHT_END = "1998-06-15"
# One name for every night: the shop's settings (its name included) decide whether a night is quiet.
SHOP = "realshop_nightly_gates"


def closed(day: pl.Expr) -> pl.Expr:
    return ((day.dt.month() == 12) & (day.dt.day() >= 24)) | ((day.dt.month() == 1) & (day.dt.day() <= 3))


def cdnow_with_closures() -> pl.DataFrame:
    from scripts.cdnow_to_landing import cdnow_orders, read_cdnow

    orders = cdnow_orders(read_cdnow(MASTER))
    day = pl.col("created_at").str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d")
    return orders.filter((pl.col("customer_id").cast(pl.Int64) % 2 == 1) & ~closed(day)).with_columns(day=day)


def write(orders: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    orders.drop("day").write_csv(path)


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("nightly_gates")
    landing, data = root / "landing", root / "data"
    orders = cdnow_with_closures()
    end = date.fromisoformat(HISTORY_END)
    write(orders.filter(pl.col("day") <= end), landing / "orders" / "history.csv")
    runs = {"history": run_shop(SHOP, landing, data, "USD", "UTC", until=HISTORY_END)}
    published = (data / "current").readlink().name if (data / "current").is_symlink() else None
    runs["quiet_in_lag"] = run_shop(SHOP, landing, data, "USD", "UTC", until="1998-06-01")
    runs["quiet_past_lag"] = run_shop(SHOP, landing, data, "USD", "UTC", until="1998-06-04")
    night = orders.filter((pl.col("day") > end) & (pl.col("day") <= date.fromisoformat(NIGHT_END)))
    write(night.filter(pl.col("day") != date.fromisoformat(LOST_DAY)), landing / "orders" / "night-0615.csv")
    runs["lost_day"] = run_shop(SHOP, landing, data, "USD", "UTC", until=NIGHT_END)
    runs["published_after"] = (data / "current").readlink().name if (data / "current").is_symlink() else None
    runs["published_first"] = published
    runs["lost_day_count"] = night.filter(pl.col("day") == date.fromisoformat(LOST_DAY)).height
    return runs


def summary(run) -> str:
    from orchestration.where import RunRecord, summarize_run, warehouse_records

    records = warehouse_records(run.build_db, run.result.run_id)
    return "\n".join(summarize_run(RunRecord(run.result.run_id, "FAILURE" if not run.result.success else "SUCCESS",
                                             **records)))


def test_the_history_with_closures_and_a_launch_publishes_without_configuration(nights):
    run = nights["history"]
    assert_published(run)
    failed = {(suite, rule): severity for suite, rule, severity, _ in run.failed_rules()}
    assert failed.get(("raw_orders", "history_gaps")) == "WARN", failed
    assert set(failed.values()) == {"WARN"}, failed
    described = [m for m in run.logged(logging.WARNING) if "raw_orders.history_gaps" in m]
    assert described and "1997-12-24..1998-01-03 (11 days)" in described[0], run.logged(logging.WARNING)


def test_a_quiet_night_within_the_freshness_lag_passes(nights):
    run = nights["quiet_in_lag"]
    assert run.result.success, run.step_failures()
    assert any("freshness as of 1998-06-01" in m for m in run.logged(logging.INFO))


def test_quiet_nights_past_the_freshness_lag_stop_the_run(nights):
    run = nights["quiet_past_lag"]
    assert not run.result.success
    errors = [m for m in run.logged(logging.ERROR) if "raw_orders.freshness" in m]
    assert errors, run.logged(logging.ERROR)
    assert "1998-05-31, 4 days before the as-of date 1998-06-04" in errors[0], errors[0]
    assert "freshness_lag_days: {orders: <days>}" in errors[0], errors[0]
    assert "ERROR raw_orders.freshness" in summary(run)


def test_a_night_that_leaves_out_a_busy_day_stops_before_publishing(nights):
    run = nights["lost_day"]
    assert nights["lost_day_count"] >= 20, "the lost day must be a normally busy day"
    assert not run.result.success
    assert nights["published_after"] == nights["published_first"], "a failed night must not publish"
    failed = {(suite, rule): severity for suite, rule, severity, _ in run.failed_rules()}
    assert failed.get(("raw_orders", "no_empty_day")) == "ERROR", failed
    assert ("raw_orders", "history_gaps") not in failed, "the history was described once, on the first run"
    errors = [m for m in run.logged(logging.ERROR) if "raw_orders.no_empty_day" in m]
    assert errors and f"1 day(s): {LOST_DAY}" in errors[0], run.logged(logging.ERROR)
    assert f'closed_days: ["{LOST_DAY}"]' in errors[0] and "severity: {raw_orders.no_empty_day: WARN}" in errors[0]
    text = summary(run)
    assert f"ERROR raw_orders.no_empty_day: 1 day(s): {LOST_DAY}" in text, text

