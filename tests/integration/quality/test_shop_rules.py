"""Rules that must hold for a shop the suites were not tuned on.

Closed weekdays and holidays, entities the shop does not track, a first
import of history, and what the loader set aside or could not map
(quarantine rate, conflicts, `other` values), plus order subtotals against
their lines. Every raw table is the sample shop's, reshaped by the test.
"""

from dataclasses import replace
from datetime import date, datetime

import pandas as pd

from assets.quality.checks import check_result, config_for_shop
from assets.quality.config import ERROR, WARN
from assets.quality.engine import NOT_TRACKED, run_suite
from assets.quality.suites import CONFLICT_REASON, all_suites
from assets.user_config import load_user_config

from .test_suites import FAST, only_failure, validate, validated_through


def _days(orders: pd.DataFrame) -> pd.Series:
    return orders.created_at.dt.normalize()


def _busy_run(orders: pd.DataFrame, length: int = 3) -> list[pd.Timestamp]:
    """`length` consecutive weekdays (Tue-Thu) late in the history, when the shop is busy."""
    counts = _days(orders).value_counts()
    start = max(d for d in counts.index if d.day_of_week == 1 and d < counts.index.max() - pd.Timedelta(days=40))
    return [start + pd.Timedelta(days=i) for i in range(length)]


def _quarantine(con, entity: str, rows: int, reason: str = "missing_required:created_at") -> None:
    con.execute(
        "INSERT INTO raw.quarantine SELECT ?, ?, 'test.csv', i, '{}', 'test', ? FROM range(?) t(i)",
        [entity, reason, datetime(2026, 1, 1), rows],
    )


# --- daily volume learns the shop's week ---------------------------------------------------


def test_shop_closed_on_saturdays_passes_daily_volume(scratch, frame):
    orders = frame("raw.orders")
    closed_saturdays = orders[_days(orders).dt.day_of_week != 5]
    run = validate(scratch({"raw.orders": closed_saturdays}), "raw_orders")
    assert run.failed() == [], run.failures_markdown()
    assert (_days(closed_saturdays).dt.day_of_week == 5).sum() == 0  # the Saturdays are really empty


def test_empty_run_on_busy_weekdays_fails_and_a_configured_holiday_passes(scratch, frame):
    orders = frame("raw.orders")
    holiday = _busy_run(orders)
    closed = orders[~_days(orders).isin(holiday)]
    con = scratch({"raw.orders": closed})
    validated_through(con, "raw_orders", holiday[0] - pd.Timedelta(days=10))

    run = validate(con, "raw_orders", write_audit=False)
    assert {r.rule_id for r in run.failed()} == {"no_empty_day", "no_empty_run"}, run.failures_markdown()
    r = run.result("no_empty_run")
    assert r.severity == ERROR and not run.passed
    assert len(holiday) == FAST.empty_run_days
    assert [pd.Timestamp(e["day"]) for e in r.examples] == holiday  # every day of the run
    assert all(e["weekday_median"] >= FAST.daily_min_typical_records for e in r.examples)

    configured = replace(FAST, closed_days=tuple(d.date() for d in holiday))
    run = validate(con, "raw_orders", configured, write_audit=False)
    assert run.failed() == [], run.failures_markdown()


def test_closed_weekday_inside_an_outage_neither_breaks_nor_extends_the_run(scratch, frame):
    orders = frame("raw.orders")
    tue = _busy_run(orders)[0]
    # Saturday to the next Tuesday empty, Sundays configured closed: Sat, Mon, Tue are one run of three
    assert FAST.empty_run_days == 3
    lost = [tue + pd.Timedelta(days=i) for i in (4, 5, 6, 7)]
    con = scratch({"raw.orders": orders[~_days(orders).isin(lost)]})
    validated_through(con, "raw_orders", tue - pd.Timedelta(days=1))
    run = validate(con, "raw_orders", replace(FAST, closed_weekdays=("sun",)), write_audit=False)
    r = run.result("no_empty_run")
    assert not r.success
    assert [pd.Timestamp(e["day"]) for e in r.examples] == [lost[0], lost[2], lost[3]]


def test_spike_is_judged_against_the_same_weekday(scratch, frame):
    orders = frame("raw.orders")
    day = _busy_run(orders)[0]
    copy = orders[_days(orders) == day]
    extra = [copy.assign(order_id=copy.order_id + f"-dup{k}") for k in range(int(FAST.daily_spike_factor))]
    con = scratch({"raw.orders": pd.concat([orders, *extra], ignore_index=True)})
    validated_through(con, "raw_orders", day - pd.Timedelta(days=1))
    run = validate(con, "raw_orders")
    r = only_failure(run, "daily_volume_spike", "expect_new_days_to_match_weekday_volume", severity=WARN)
    assert [pd.Timestamp(e["day"]) for e in r.examples] == [day]


# --- entities a shop does not track ----------------------------------------------------------


def test_untracked_carts_pass_with_a_note(scratch):
    con = scratch(sql=["DELETE FROM raw.carts", "DELETE FROM raw.quarantine WHERE entity = 'carts'"])
    run = validate(con, "raw_carts")
    assert run.note == NOT_TRACKED and run.results == []
    result = check_result(run)
    assert result.passed and NOT_TRACKED in result.description
    assert result.metadata["tracked"].value is False
    assert con.execute("SELECT success, expectations FROM audit.suite_runs WHERE suite = 'raw_carts'").fetchall() \
        == [(True, 0)]


def test_quarantined_rows_alone_make_an_entity_tracked(scratch):
    con = scratch(sql=["DELETE FROM raw.carts"])
    _quarantine(con, "carts", 3)
    run = validate(con, "raw_carts")
    assert run.note is None
    assert not run.result("not_empty").success and run.result("not_empty").severity == ERROR


def test_empty_orders_table_fails(scratch):
    con = scratch(sql=["DELETE FROM raw.orders", "DELETE FROM raw.quarantine WHERE entity = 'orders'"])
    run = validate(con, "raw_orders")
    assert run.note is None
    failed = {r.rule_id: r for r in run.failed()}
    assert "not_empty" in failed and failed["not_empty"].severity == ERROR
    assert "freshness" not in failed  # no records: no lag, not judged (and no sentinel)
    assert run.result("freshness").observed_value["freshness_lag_days"] is None


# --- what the loader set aside or could not map ------------------------------------------


def test_quarantine_rate_warns_above_one_percent_and_stops_above_ten(scratch):
    con = scratch(sql=["DELETE FROM raw.quarantine WHERE entity = 'orders'"])
    loaded = con.execute("SELECT count(*) FROM raw.orders").fetchone()[0]

    _quarantine(con, "orders", int(loaded * 0.03))  # ~3% of the rows read
    run = validate(con, "raw_orders", write_audit=False)
    r = only_failure(run, "quarantine_rate_warn", "expect_quarantine_rate_to_be_at_most", severity=WARN)
    assert run.passed
    assert 0.02 < r.observed_value["quarantine_rate"] < 0.04
    assert "missing_required:created_at" in r.observed_value["top_reasons"]

    _quarantine(con, "orders", int(loaded * 0.2))
    run = validate(con, "raw_orders", write_audit=False)
    assert {r.rule_id: r.severity for r in run.failed()} == {"quarantine_rate_warn": WARN, "quarantine_rate": ERROR}
    assert not run.passed


def test_a_few_bad_rows_of_a_tiny_entity_warn_but_do_not_stop(scratch):
    con = scratch(sql=["DELETE FROM raw.quarantine WHERE entity = 'support_tickets'",
                       "DELETE FROM raw.support_tickets WHERE ticket_id NOT IN "
                       "(SELECT ticket_id FROM raw.support_tickets ORDER BY ticket_id LIMIT 3)"])
    _quarantine(con, "support_tickets", 1)  # 1 of 4 rows read: 25%, but one record
    run = validate(con, "raw_support_tickets", write_audit=False)
    failed = {r.rule_id: r.severity for r in run.failed() if r.rule_id.startswith("quarantine")}
    assert failed == {"quarantine_rate_warn": WARN}

    _quarantine(con, "support_tickets", 9)  # 10 quarantined: now judged, and far above 10%
    run = validate(con, "raw_support_tickets", write_audit=False)
    failed = {r.rule_id: r.severity for r in run.failed() if r.rule_id.startswith("quarantine")}
    assert failed == {"quarantine_rate_warn": WARN, "quarantine_rate": ERROR}


def test_conflicting_duplicates_warn(scratch):
    con = scratch()
    _quarantine(con, "customers", 2, reason=CONFLICT_REASON)
    run = validate(con, "raw_customers")
    r = only_failure(run, "no_conflicting_duplicates", "expect_column_values_to_be_between", severity=WARN)
    assert r.observed_value["conflicting_rows"] == 2


def test_values_loaded_as_other_warn_with_the_exported_texts(scratch, frame):
    orders = frame("raw.orders")
    orders.loc[orders.index[:7], ["device", "device_original"]] = ["other", "smart-fridge"]
    orders.loc[orders.index[7:9], ["device", "device_original"]] = ["other", "console"]
    run = validate(scratch({"raw.orders": orders}), "raw_orders")
    r = only_failure(run, "device_other_values", "expect_column_values_to_be_between", severity=WARN)
    assert r.observed_value["other_rows"] == 9
    assert r.observed_value["top_original_values"] == "smart-fridge (7), console (2)"
    assert run.passed


def test_subtotal_off_its_lines_warns(scratch):
    con = scratch(sql=[
        "UPDATE raw.orders SET subtotal = subtotal + 5 WHERE order_id IN "
        "(SELECT DISTINCT order_id FROM raw.order_lines ORDER BY order_id LIMIT 2)",
        "UPDATE raw.orders SET subtotal = subtotal + 0.01 WHERE order_id IN "  # within the tolerance
        "(SELECT DISTINCT order_id FROM raw.order_lines ORDER BY order_id LIMIT 1 OFFSET 5)",
    ])
    run = validate(con, "raw_orders")
    r = only_failure(run, "subtotal_matches_lines", "expect_column_values_to_be_between", severity=WARN)
    assert r.observed_value["orders_off"] == 2
    assert r.observed_value["example_orders"].count(" vs ") == 2

    tolerant = replace(FAST, subtotal_mismatch_max_rate=0.01)
    assert validate(con, "raw_orders", tolerant, write_audit=False, full=True).failed() == []


# --- section `quality` of retention.yml ------------------------------------------------------


def test_config_file_overrides_a_severity_and_a_threshold(scratch, frame, tmp_path):
    orders = frame("raw.orders")
    day = _busy_run(orders)[0]
    con = scratch({"raw.orders": orders[_days(orders) != day]})
    validated_through(con, "raw_orders", day - pd.Timedelta(days=1))
    loaded = con.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
    _quarantine(con, "orders", int(loaded * 0.03))
    assert {r.rule_id for r in validate(con, "raw_orders", write_audit=False).failed()} \
        == {"no_empty_day", "quarantine_rate_warn"}

    path = tmp_path / "retention.yml"
    path.write_text(
        "quality:\n"
        "  severity: {raw_orders.no_empty_day: WARN}\n"
        "  quarantine_rate: {warn: 0.05}\n"
        f"  closed_days: ['{date(2000, 1, 1)}']\n"
    )
    config = replace(config_for_shop(load_user_config(path)), build_data_docs=False)
    run = run_suite(con, all_suites(config)["raw_orders"], "configured", config, write_audit=False,
                    log_fn=lambda m: None)
    r = only_failure(run, "no_empty_day", "expect_no_empty_new_days", severity=WARN)
    assert [pd.Timestamp(e["day"]) for e in r.examples] == [day]
