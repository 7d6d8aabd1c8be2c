"""A shop closed on Saturdays, Sundays and over Christmas (Dec 24-26), in its own time zone.

The sample shop's orders, lines, carts and tickets with every record of a
closed day removed: the daily-volume rules (`no_empty_day`,
`daily_volume_spike` and any other `no_empty*` rule) must learn the weekly rhythm by themselves, and the
shop says in its `retention.yml` that it closes over Christmas (three
weekdays in a row that are normally busy cannot be told from a lost export
otherwise). The run publishes.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from .conftest import assert_published, run_shop, sample_frames

pytestmark = pytest.mark.slow

DAILY_RULES = ("no_empty_day", "daily_volume_spike")
CHRISTMAS = ("2024-12-24", "2024-12-25", "2024-12-26")
RETENTION_YML = "quality:\n  closed_days: [" + ", ".join(f'"{d}"' for d in CHRISTMAS) + "]\n"
DAILY_SUITES = ("raw_orders", "raw_order_lines", "raw_carts")


def shop_date(col: str, tz: str) -> pl.Expr:
    """Shop-local calendar date of a naive-UTC timestamp column."""
    return pl.col(col).dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.date()


def open_on(day: pl.Expr) -> pl.Expr:
    christmas = (day.dt.month() == 12) & day.dt.day().is_between(24, 26)
    return (day.dt.weekday() <= 5) & ~christmas  # Monday = 1 .. Friday = 5


def closed_shop_frames(tz: str) -> dict[str, pl.DataFrame]:
    frames = sample_frames(("customers", "orders", "order_lines", "carts", "support_tickets"))
    orders = frames["orders"].filter(open_on(shop_date("created_at", tz)))
    kept = orders["order_id"].implode()
    carts = frames["carts"].filter(
        open_on(shop_date("created_at", tz))
        & (pl.col("converted_order_id").is_null() | pl.col("converted_order_id").is_in(kept))
    )
    tickets = frames["support_tickets"].filter(
        open_on(shop_date("created_at", tz)) & (pl.col("order_id").is_null() | pl.col("order_id").is_in(kept))
    )
    return {
        "customers": frames["customers"],
        "orders": orders,
        "order_lines": frames["order_lines"].filter(pl.col("order_id").is_in(kept)),
        "carts": carts,
        "support_tickets": tickets,
    }


@pytest.fixture(scope="module")
def closed_run(tmp_path_factory):
    from assets.extraction.sample_shop import SAMPLE_CURRENCY, SAMPLE_TIMEZONE
    from assets.extraction.sources import write_landing

    root = tmp_path_factory.mktemp("closed_days")
    write_landing(closed_shop_frames(SAMPLE_TIMEZONE), root / "landing", "csv")
    (root / "landing" / "retention.yml").write_text(RETENTION_YML)
    return run_shop("realshop_closed_days", root / "landing", root / "data", SAMPLE_CURRENCY, SAMPLE_TIMEZONE)


def test_closed_shop_has_no_orders_on_closed_days(closed_run):
    from assets.extraction.sample_shop import SAMPLE_TIMEZONE

    days = closed_run.query(
        closed_run.build_db,
        f"SELECT DISTINCT (timezone('{SAMPLE_TIMEZONE}', timezone('UTC', created_at)))::date FROM raw.orders",
    )
    closed = sorted(d for (d,) in days if d.isoweekday() > 5 or (d.month == 12 and 24 <= d.day <= 26))
    assert days and not closed, f"raw.orders has orders on closed shop days {closed[:5]} (expected none)"
    assert date(2024, 12, 23) in {d for (d,) in days}, "raw.orders: no order on Monday 2024-12-23, a normal open day"


def test_closed_shop_publishes(closed_run):
    assert_published(closed_run)


@pytest.mark.parametrize("suite", DAILY_SUITES)
def test_daily_volume_rules_accept_closed_days(closed_run, suite):
    # Every rule about empty or busy days (however many the suite has), and at least the two named ones.
    rules = closed_run.query(
        closed_run.build_db,
        "SELECT rule_id, success, severity, observed_value, unexpected_examples FROM audit.validation_results "
        "WHERE run_id = ? AND suite = ? AND (list_contains(?, rule_id) OR rule_id LIKE 'no_empty%')",
        [closed_run.result.run_id, suite, list(DAILY_RULES)],
    )
    assert {r[0] for r in rules} >= set(DAILY_RULES), (
        f"audit.validation_results: {suite} ran daily rules {sorted({r[0] for r in rules})}, expected {DAILY_RULES}"
    )
    failed = [r for r in rules if not r[1]]
    assert not failed, f"{suite}: daily-volume rules failed on a shop closed at weekends and Christmas: {failed}"
