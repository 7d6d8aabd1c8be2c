"""The day-level SQL alone (`assets/quality/days.py`): which days a run judges, how history is described.

Fast: an in-memory DuckDB table of orders per day, no Great Expectations.
The shop: three years (2021-03-15 .. 2024-03-31), 40 orders a day, closed on
Sundays and from Dec 24 to Jan 2 every year, a sparse first month (8 a day)
and one launch-sale day at 400.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import duckdb
import pytest

from assets.quality.config import DEFAULT_CONFIG, ERROR, USER_KEYS, WARN, setting_hint
from assets.quality.days import daily_sql, history_sql, shop_time
from assets.quality.freshness import reference_date
from assets.quality.results import RuleResult, failure_text, history_text

START, END = dt.date(2021, 3, 15), dt.date(2024, 3, 31)
SALE = dt.date(2022, 6, 1)


def closed(d: dt.date) -> bool:
    return d.isoweekday() == 7 or (d.month == 12 and d.day >= 24) or (d.month == 1 and d.day <= 2)


def per_day(d: dt.date) -> int:
    if closed(d):
        return 0
    if d == SALE:
        return 400
    return 8 if d < START + dt.timedelta(days=30) else 40


def shop(end: dt.date = END, missing: tuple[dt.date, ...] = ()) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE orders (order_id VARCHAR, created_at TIMESTAMP)")
    con.execute(
        """INSERT INTO orders SELECT day::varchar || '-' || i, day + INTERVAL 10 HOUR
           FROM (SELECT unnest(?) AS day, unnest(?) AS n), range(n) t(i)""",
        [kept := [d for d in _days(START, end) if d not in missing], [per_day(d) for d in kept]],
    )
    return con


def _days(a: dt.date, b: dt.date) -> list[dt.date]:
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


def query(con, sql: str, **values):
    names = set(re.findall(r"\$([a-z_]+)", sql))
    cur = con.execute(sql, {n: values.get(n) for n in names})
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def daily(con, config=DEFAULT_CONFIG, **values):
    return query(con, daily_sql("orders", "created_at", config), **values)


def history(con, config=DEFAULT_CONFIG, **values):
    return query(con, history_sql("orders", "created_at", config), **values)[0]


def test_a_first_run_judges_no_day_and_describes_the_history_once():
    con = shop()
    days = daily(con)
    assert all(r["records_on_busy_days"] is None and r["empty_run_days"] is None
               and r["ratio_to_weekday_median"] is None for r in days)
    h = history(con)
    # the three Christmas closures (Sundays are not busy days), the launch sale; the sparse first month is no gap
    assert h["history_gap_days"] == 24
    assert h["gap_stretches"] == ("2021-12-24..2022-01-01 (8 days), 2022-12-24..2023-01-02 (8 days), "
                                  "2023-12-25..2024-01-02 (8 days)")
    assert h["history_spike_days"] == 1 and h["spike_examples"].startswith("2022-06-01: 400")
    lines = h["suggested_config"].splitlines()
    assert lines[1] == "closed_weekdays: [sun]"
    closed_days = re.findall(r'"(\d{4}-\d\d-\d\d)"', lines[0])
    # every closure of the history, and the next one after the newest day
    assert "2021-12-24" in closed_days and "2023-01-02" in closed_days
    assert {"2024-12-24", "2025-01-02"} <= set(closed_days)
    assert all(closed(dt.date.fromisoformat(d)) for d in closed_days)


def test_the_next_night_judges_only_its_new_day_and_a_missing_busy_day_fails():
    validated = dt.date(2024, 3, 20)
    wednesday = dt.date(2024, 3, 27)
    con = shop(missing=(wednesday,))
    days = {r["day"]: r for r in daily(con, validated_through=validated, validated_from=START)}
    empty = [d for d, r in days.items() if r["records_on_busy_days"] == 0]
    assert empty == [wednesday]
    assert days[wednesday]["weekday_median"] == 40
    assert days[wednesday]["empty_run_days"] == 1
    # old closures are history, not judged again; nothing older is described again
    assert days[dt.date(2023, 12, 27)]["records_on_busy_days"] is None
    assert history(con, validated_through=validated, validated_from=START)["history_gap_days"] == 0


def test_three_lost_busy_days_make_a_run_across_a_closed_sunday():
    lost = (dt.date(2024, 3, 23), dt.date(2024, 3, 25), dt.date(2024, 3, 26))  # Sat, (Sun closed), Mon, Tue
    con = shop(missing=lost)
    days = {r["day"]: r for r in daily(con, validated_through=dt.date(2024, 3, 20), validated_from=START)}
    assert [days[d]["empty_run_days"] for d in lost] == [3, 3, 3]
    assert days[dt.date(2024, 3, 24)]["records_on_busy_days"] is None  # Sunday: never busy


def test_a_closure_the_history_shows_every_year_is_not_a_lost_export():
    con = shop(end=dt.date(2025, 1, 10))
    days = daily(con, validated_through=dt.date(2024, 12, 20), validated_from=START)
    christmas = [r for r in days if dt.date(2024, 12, 24) <= r["day"] <= dt.date(2025, 1, 2)]
    assert christmas and all(r["records"] == 0 and r["records_on_busy_days"] is None for r in christmas)
    # the busy days around it are judged
    assert [r["records_on_busy_days"] for r in days if r["day"] == dt.date(2025, 1, 3)] == [40]


def test_an_empty_day_of_the_launch_weeks_does_not_excuse_the_same_day_next_year():
    # 2021-04-21 (a Wednesday) empty while the shop was still starting; 2022-04-21 (a Thursday) lost
    con = shop(end=dt.date(2022, 4, 30), missing=(dt.date(2021, 4, 21), dt.date(2022, 4, 21)))
    days = {r["day"]: r for r in daily(con, validated_through=dt.date(2022, 4, 14), validated_from=START)}
    assert days[dt.date(2022, 4, 21)]["records_on_busy_days"] == 0


def test_a_new_day_with_three_times_its_weekday_is_a_spike():
    con = shop()
    con.execute("INSERT INTO orders SELECT 'dup-' || i, TIMESTAMP '2024-03-28 12:00' FROM range(100) t(i)")
    days = {r["day"]: r for r in daily(con, validated_through=dt.date(2024, 3, 20), validated_from=START)}
    assert days[dt.date(2024, 3, 28)]["ratio_to_weekday_median"] == pytest.approx(140 / 40)


def test_a_backfill_of_older_days_is_described_and_later_days_are_not_described_again():
    con = shop()
    h = history(con, validated_through=END, validated_from=dt.date(2022, 6, 15))
    assert h["history_through"] == dt.date(2022, 6, 14)
    assert h["history_gap_days"] == 8 and h["gap_stretches"] == "2021-12-24..2022-01-01 (8 days)"
    assert h["history_spike_days"] == 1  # the launch sale, 2022-06-01


def test_a_tiny_shop_has_no_busy_day_to_judge_or_describe():
    con = duckdb.connect()
    con.execute("CREATE TABLE orders AS SELECT 'o' || i AS order_id, TIMESTAMP '2025-01-01' + i * INTERVAL 3 DAY "
                "AS created_at FROM range(40) t(i)")
    assert history(con)["history_gap_days"] == 0
    assert all(r["records_on_busy_days"] is None for r in daily(con, validated_through=dt.date(2025, 2, 1)))


def test_configured_closed_days_are_neither_judged_nor_described():
    con = shop()
    config = replace(DEFAULT_CONFIG, closed_weekdays=("sun",),
                     closed_days=tuple(d for d in _days(START, END) if closed(d) and d.isoweekday() != 7))
    h = history(con, config)
    assert h["history_gap_days"] == 0 and h["suggested_config"] is None


# --- the run's as-of date, and what a person reads --------------------------------------------------


def test_freshness_is_judged_against_the_setting_then_until_then_today():
    until = dt.datetime(2025, 3, 31, 23, 59)
    assert reference_date(dt.date(2025, 1, 1), until) == dt.date(2025, 1, 1)
    assert reference_date(None, until) == dt.date(2025, 3, 31)
    assert reference_date(None, None, today=dt.date(2026, 5, 1)) == dt.date(2026, 5, 1)
    # a generated history ends on its last day
    assert reference_date(None, None, dt.datetime(2025, 12, 31, 23, 59), today=dt.date(2026, 5, 1)) == dt.date(
        2025, 12, 31)


def test_every_setting_a_failure_names_is_a_key_of_the_quality_section():
    cases = [("raw_orders", "no_empty_day", "volume"), ("raw_orders", "daily_volume_spike", "volume"),
             ("raw_orders", "freshness", "freshness"), ("raw_carts", "row_count_vs_previous_run", "volume"),
             ("mart_kpis", "row_count_vs_previous_run", "volume"), ("raw_orders", "quarantine_rate", "quarantine"),
             ("raw_orders", "quarantine_rate_warn", "quarantine"), ("raw_orders", "total_range", "range"),
             ("raw_orders", "device_other_values", "other_value"),
             ("raw_orders", "no_conflicting_duplicates", "conflict"),
             ("raw_orders", "subtotal_matches_lines", "reconciliation"),
             ("mart_clv_summary", "revenue_matches_staging", "reconciliation"),
             ("raw_orders", "history_gaps", "volume")]
    for suite, rule, kind in cases:
        hint = setting_hint(suite, rule, kind, ERROR, ["2025-01-01"])
        body = hint.removeprefix("retention.yml quality: ")
        keys = set(re.findall(r"(?:^|; or |, | / )([a-z_]+)(?=:| /)", body))
        assert keys and keys <= set(USER_KEYS), f"{suite}.{rule}: {hint} names {keys - set(USER_KEYS)}"
        assert f"severity: {{{suite}.{rule}: WARN}}" in hint


def test_a_failed_day_rule_reads_as_suite_rule_days_and_the_setting():
    r = RuleResult("no_empty_day", "volume", "expect_column_values_to_be_between", "records_on_busy_days", False,
                   ERROR, unexpected_count=7, description="no empty day",
                   examples=[{"day": f"2025-03-{d:02d}T00:00:00", "weekday_median": 40.0} for d in range(3, 8)])
    (line,) = failure_text("raw_orders", r)
    assert line.startswith("ERROR raw_orders.no_empty_day: 7 day(s): 2025-03-03 (weekday median 40), ")
    assert "2025-03-07 (weekday median 40) and 2 more" in line
    assert 'closed_days: ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]' in line
    assert "severity: {raw_orders.no_empty_day: WARN}" in line


def test_a_history_warning_is_one_line_with_the_lines_to_paste():
    r = RuleResult("history_gaps", "volume", "expect_column_values_to_be_between", "history_gap_days", False, WARN,
                   observed_value={"history_gap_days": 8, "history_from": "2021-03-15", "history_through": "2022-06-14",
                                   "gap_stretches": "2021-12-24..2022-01-01 (8 days)",
                                   "suggested_config": 'closed_days: ["2021-12-24"]\nclosed_weekdays: [sun]'})
    lines = failure_text("raw_orders", r)
    assert lines[0] == ("WARN raw_orders.history_gaps: 8 empty busy day(s) in the history loaded "
                        "(2021-03-15..2022-06-14), described, not blocking: 2021-12-24..2022-01-01 (8 days)")
    assert lines[2:] == ["    quality:", '      closed_days: ["2021-12-24"]', "      closed_weekdays: [sun]"]


def test_a_history_without_gaps_still_names_the_weekdays_it_was_closed():
    observed = {"history_gap_days": 0, "history_from": "2021-03-15", "history_through": "2022-06-14",
                "suggested_config": "closed_weekdays: [sat, sun]"}
    passed = RuleResult("history_gaps", "volume", "expect_column_values_to_be_between", None, True, WARN,
                        observed_value=observed)
    assert history_text("raw_orders", passed) == [
        "raw_orders: the history loaded (2021-03-15..2022-06-14) has no unexplained gap",
        "  to describe its closures, add to retention.yml:", "    quality:", "      closed_weekdays: [sat, sun]"]
    assert history_text("raw_orders", replace(passed, observed_value={**observed, "suggested_config": None})) == []


def test_days_are_the_shops_so_a_lost_evening_selling_day_west_of_utc_is_empty():
    # 40 orders a day at 10:00 and 21:30 New York time: the evening half falls on the next UTC date
    con = duckdb.connect()
    con.execute("CREATE TABLE orders (order_id VARCHAR, created_at TIMESTAMP)")
    validated, lost = dt.date(2024, 3, 20), dt.date(2024, 3, 27)  # a Wednesday
    local = [dt.datetime.combine(d, t) for d in _days(dt.date(2024, 1, 8), dt.date(2024, 3, 31)) if d != lost
             for t in (dt.time(10), dt.time(21, 30))]
    con.execute(
        """INSERT INTO orders SELECT ts::varchar || '-' || i, timezone('UTC', timezone('America/New_York', ts))
           FROM (SELECT unnest(?::TIMESTAMP[]) AS ts), range(20) t(i)""",
        [local],
    )
    days = {r["day"]: r for r in query(con, daily_sql("orders", "created_at", DEFAULT_CONFIG, "America/New_York"),
                                       validated_through=validated, validated_from=dt.date(2024, 1, 8))}
    assert [d for d, r in days.items() if r["records_on_busy_days"] == 0] == [lost]
    assert days[lost + dt.timedelta(days=1)]["records"] == 40
    utc = {r["day"]: r for r in daily(con, validated_through=validated, validated_from=dt.date(2024, 1, 8))}
    assert utc[lost]["records"] == 20, "in UTC days the evening before fills the lost day"
    assert shop_time("created_at", "UTC") == "created_at"


def test_a_half_hour_zone_counts_its_days_to_the_minute():
    # Kolkata is UTC+5:30: 18:29 UTC is 23:59 there, 18:30 UTC the next day's first minute
    con = duckdb.connect()
    con.execute("CREATE TABLE orders (order_id VARCHAR, created_at TIMESTAMP)")
    con.execute("INSERT INTO orders VALUES ('a', '2024-03-01 18:29:59'), ('b', '2024-03-01 18:30:00'), "
                "('c', '2024-03-02 18:44:00')")
    days = {r["day"]: r["records"] for r in query(con, daily_sql("orders", "created_at", DEFAULT_CONFIG,
                                                                 "Asia/Kolkata"))}
    assert days == {dt.date(2024, 3, 1): 1, dt.date(2024, 3, 2): 1, dt.date(2024, 3, 3): 1}
