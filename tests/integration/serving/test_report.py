"""The HTML report from hand-made frames: self-contained, every section, graceful gaps, mart values shown as they are."""

from __future__ import annotations

import json

import re
from datetime import date, datetime, timezone

import polars as pl
import pytest

from assets.serving import svg
from assets.serving.report import (
    build_report,
    load_report_frames,
    not_tracked_text,
    write_report,
)

MONTHS = [date(2025, m, 1) for m in range(1, 7)]
ENTITIES = ["orders", "order_lines", "customers", "carts", "support_tickets"]


def coverage(untracked: set[str] = frozenset()) -> pl.DataFrame:
    return pl.DataFrame({"entity": ENTITIES, "is_tracked": [e not in untracked for e in ENTITIES]})


KPI_SCHEMA = {
    "as_of_date": pl.Date, "active_window_days": pl.Int32, "churn_after_days": pl.Int32,
    "customers": pl.Int64, "active_customers": pl.Int64, "churned_customers": pl.Int64, "churned_share": pl.Float64,
    "retention_month": pl.Date, "retention_rate": pl.Float64, "is_retention_window_warming_up": pl.Boolean,
    "churn_month": pl.Date, "churn_rate": pl.Float64, "is_churn_window_warming_up": pl.Boolean,
    "month1_first_cohort": pl.Date, "month1_last_cohort": pl.Date, "month1_retention_rate": pl.Float64,
    "orders_12m": pl.Int64, "aov_12m": pl.Float64, "is_carts_tracked": pl.Boolean, "recovered_revenue_12m": pl.Float64,
    "predicted_customers": pl.Int64, "scored_customers": pl.Int64, "low_churn_risk_customers": pl.Int64,
    "medium_churn_risk_customers": pl.Int64, "high_churn_risk_customers": pl.Int64,
    "high_churn_risk_share": pl.Float64, "predicted_clv_12m": pl.Float64, "prediction_note": pl.String,
}


def kpi_frame(**changes) -> pl.DataFrame:
    """One mart_kpis row; `changes` overrides columns."""
    row = {
        "as_of_date": date(2025, 6, 14), "active_window_days": 365, "churn_after_days": 180,
        "customers": 100, "active_customers": 55, "churned_customers": 30, "churned_share": 0.3,
        "retention_month": MONTHS[4], "retention_rate": 0.87, "is_retention_window_warming_up": False,
        "churn_month": MONTHS[4], "churn_rate": 0.02, "is_churn_window_warming_up": False,
        "month1_first_cohort": MONTHS[0], "month1_last_cohort": MONTHS[4], "month1_retention_rate": 0.123,
        "orders_12m": 40, "aov_12m": 61.5, "is_carts_tracked": True, "recovered_revenue_12m": 850.0,
        "predicted_customers": 100, "scored_customers": 100, "low_churn_risk_customers": 50,
        "medium_churn_risk_customers": 30, "high_churn_risk_customers": 20, "high_churn_risk_share": 0.2,
        "predicted_clv_12m": 1400.0, "prediction_note": None,
    }
    row.update(changes)
    return pl.DataFrame([row], schema=KPI_SCHEMA)


def tile(html: str, label: str) -> tuple[str, str]:
    """(value, note) of the KPI tile `label`."""
    m = re.search(rf'<div class="l">{re.escape(label)}</div><div class="v">([^<]*)</div><div class="n">([^<]*)</div>', html)
    assert m, f"no tile {label!r}"
    return m.group(1), m.group(2)


@pytest.fixture
def frames() -> dict[str, pl.DataFrame]:
    cohort_rows = []
    for ci, c in enumerate(MONTHS):
        for m in range(len(MONTHS) - ci):
            cohort_rows.append(
                {"cohort_month": c, "months_since_first_order": m, "cohort_size": 100,
                 "retention_rate": 1.0 if m == 0 else 0.3 / m}
            )
    return {
        "mart_kpis": kpi_frame(),
        "mart_cohort_retention": pl.DataFrame(cohort_rows),
        "mart_cohort_revenue_curves": pl.DataFrame(
            {"cohort_half": ["2025 H1"] * 3 + ["2024 H2"] * 2, "cohort_half_start": [date(2025, 1, 1)] * 3 + [date(2024, 7, 1)] * 2,
             "months_since_first_order": [0, 1, 2, 0, 1], "customers": [300, 200, 100, 50, 50],
             "cumulative_net_revenue_per_customer": [50.0, 70.0, 90.0, 45.0, 65.0]}
        ),
        "mart_retention_rate": pl.DataFrame(
            {"month": MONTHS, "is_complete_month": [True] * 5 + [False], "is_window_warming_up": [False] * 6,
             "retention_rate": [None, 0.9, 0.88, 0.91, 0.87, 0.86]}
        ),
        "mart_churn_monthly": pl.DataFrame(
            {"month": MONTHS, "is_complete_month": [True] * 5 + [False], "is_window_warming_up": [False] * 6,
             "churn_rate": [None, 0.01, 0.02, 0.03, 0.02, 0.025]}
        ),
        "mart_aov_by_device_12m": pl.DataFrame(
            {"device": ["mobile", "desktop"], "orders": [25, 5], "new_customer_orders": [4, 5],
             "new_customer_aov": [40.0, 80.0], "returning_customer_orders": [16, 0], "returning_customer_aov": [64.79, None]}
        ),
        "mart_cart_abandonment_monthly": pl.DataFrame(
            {"cart_month": MONTHS[:2], "carts": [150, 80], "open_carts": [10, 0], "abandoned_carts": [90, 40],
             "abandonment_rate": [90 / 140, 0.5], "recovered_carts": [9, 8], "recovery_rate": [0.1, 0.2],
             "recovered_revenue": [450.0, 400.0]}
        ),
        "mart_support_retention": pl.DataFrame(
            {
                "dimension": ["ticket", "ticket", "csat", "csat", "channel"],
                "support_group": ["no_ticket", "ticket", "low_1_2", "high_4_5", "chat"],
                "customers": [1000, 200, 20, 150, 90],
                "not_churned_rate": [0.55, 0.62, 0.4, 0.7, 0.6],
            }
        ),
        "mart_support_kpis": pl.DataFrame(
            {"ticket_month": [MONTHS[4], MONTHS[5], MONTHS[5]], "channel": ["email", "email", "chat"],
             "tickets": [40, 31, 12], "first_response_hours_p50": [3.0, 2.5, 0.1], "resolution_hours_p50": [20.0, 18.25, 1.5],
             "resolution_hours_p90": [60.0, 50.0, 4.0], "reopen_rate": [0.05, 0.032, 0.0], "csat_average": [4.1, 4.25, 4.8]}
        ),
        "mart_clv_summary": pl.DataFrame(
            {"cohort": ["2024", "2025", "all"], "cohort_year": [2024, 2025, None], "customers": [10, 20, 30],
             "clv": [500.0, 300.0, 380.0], "margin_clv": [200.0, 120.0, 150.0]}
        ),
        "mart_segment_summary": pl.DataFrame(
            {"segment": ["hibernating", "champions", "new"], "customers": [50, 20, 30], "customer_share": [0.5, 0.2, 0.3],
             "net_revenue": [1000.0, 6000.0, 1500.0], "revenue_share": [0.118, 0.706, 0.176], "avg_orders": [1.2, 6.0, 1.0]}
        ),
        "mart_repeat_purchase_funnel": pl.DataFrame(
            {"cohort": ["2025-01-01", "all"], "customers": [10, 100], "customers_with_2_orders": [3, 40],
             "customers_with_3_orders": [1, 20], "customers_with_4_orders": [0, 8],
             "conversion_1_to_2": [0.3, 0.4], "conversion_2_to_3": [1 / 3, 0.5], "conversion_3_to_4": [0.0, 0.4],
             "median_days_to_second_order": [30.0, 41.0], "repeat_customer_revenue_share": [0.5, 0.62]}
        ),
        "mart_data_coverage": coverage(),
        "mart_churn_rule_vs_model": pl.DataFrame(
            {"is_churned": [True, False, True, False], "churn_risk": ["low", "high", "high", "low"],
             "comparison": ["rule_churned_model_active", "rule_active_model_churned", "both_churned", "both_active"],
             "customers": [752, 261, 1100, 1423], "customer_share": [0.176, 0.061, 0.258, 0.333]}
        ),
        "mart_change_notes": pl.DataFrame(
            {"period": ["month_vs_previous_month", "last_7_days"], "rank": [1, 1],
             "sentence": ["In 2025-05, net revenue rose 3% (+300) against 2025-04, nothing moved unusually.",
                          "In the last 7 days, orders fell 2% (-4) against the days before, nothing moved unusually."]}
        ),
        "mart_audience_summary": pl.DataFrame(
            {"as_of_date": [date(2025, 6, 14)], "audience": ["win_back"], "is_tracked": [True], "note": [None],
             "members": [12], "entered_since_previous": [2], "left_since_previous": [1], "value_at_stake": [900.0]}
        ),
        "mart_audience_backtest": pl.DataFrame(
            {"audience": ["win_back"], "cutoff_date": [date(2025, 2, 28)], "members": [10], "member_order_rate_30d": [0.1],
             "active_order_rate_30d": [0.2], "order_rate_lift_30d": [0.5]}
        ),
    }


def test_report_has_every_section_and_no_external_reference(frames, tmp_path):
    html = build_report(frames, as_of_date=date(2025, 6, 14), currency="USD", shop_name="Test shop",
                        run_id="0123456789", generated_at=datetime(2025, 6, 15, 2, 5, tzinfo=timezone.utc),
                        churn_after_days=180)
    titles = ["Cohort retention", "Retention rate by month", "Churn rate by month", "Average order value by device",
              "Customer lifetime value by cohort", "Customer segments (RFM)", "Repeat-purchase funnel",
              "Cart abandonment and recovery", "Support experience vs retention", "Support KPIs",
              "Predicted churn risk", "Revenue per customer as cohorts age", "Who to contact this week"]
    for title in titles:
        assert f"<h2>{title}</h2>" in html
    assert "14 June 2025" in html and "as of" in html
    # one chart per section, two for carts, none for the support KPI table and the audiences table
    assert html.count("<svg") == len(titles) - 1
    assert "Not available" not in html and "not available" not in html and "Not tracked" not in html
    assert "Margin CLV" in html
    # self-contained: no script, no stylesheet link, no external src/href; only the SVG namespace URI
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=""", html)
    assert set(re.findall(r"https?://[^\s\"'<)]+", html)) == {"http://www.w3.org/2000/svg"}
    path = write_report(html, tmp_path / "report")
    assert path.read_text(encoding="utf-8") == html


def test_tiles_show_the_kpi_mart_row_as_it_is(frames):
    row = frames["mart_kpis"].row(0, named=True)
    html = build_report(frames, as_of_date=None)
    assert tile(html, "Customers")[0] == svg.number(row["customers"])
    assert tile(html, "Active customers") == (svg.number(row["active_customers"]), "ordered in the last 365 days")
    assert tile(html, "Churned")[0] == svg.pct(row["churned_share"], 1)
    assert tile(html, "Retention rate")[0] == svg.pct(row["retention_rate"], 1)
    assert tile(html, "Monthly churn")[0] == svg.pct(row["churn_rate"], 1)
    assert tile(html, "Month-1 retention")[0] == svg.pct(row["month1_retention_rate"], 1)
    assert tile(html, "Average order value")[0] == svg.money(row["aov_12m"], "$", 2)
    assert tile(html, "Recovered revenue")[0] == svg.money(row["recovered_revenue_12m"], "$")
    assert tile(html, "High churn risk")[0] == svg.number(row["high_churn_risk_customers"])
    assert tile(html, "Predicted 12-month CLV")[0] == svg.money(row["predicted_clv_12m"], "$")


def test_active_customers_is_the_mart_value_not_customers_minus_churned(frames):
    # 100 customers, 30 churned: a report that subtracted would show 70
    frames["mart_kpis"] = kpi_frame(customers=100, churned_customers=30, active_customers=41)
    assert tile(build_report(frames, as_of_date=None), "Active customers")[0] == "41"


def test_a_patched_mart_value_reaches_the_page(frames):
    # values no aggregation of the other frames could produce: the report must print the marts' columns
    frames["mart_kpis"] = kpi_frame(aov_12m=1234.56, month1_retention_rate=0.777)
    frames["mart_aov_by_device_12m"] = frames["mart_aov_by_device_12m"].with_columns(
        new_customer_aov=pl.Series([4321.0, 80.0]))
    frames["mart_cart_abandonment_monthly"] = frames["mart_cart_abandonment_monthly"].with_columns(
        recovery_rate=pl.Series([0.61, 0.2]))
    frames["mart_cohort_revenue_curves"] = frames["mart_cohort_revenue_curves"].with_columns(
        cumulative_net_revenue_per_customer=pl.Series([50.0, 70.0, 9876.0, 45.0, 65.0]))
    html = build_report(frames, as_of_date=None)
    assert tile(html, "Average order value")[0] == "$1,234.56"
    assert tile(html, "Month-1 retention")[0] == "77.7%"
    assert "$4,321" in html
    assert "61%" in _card(html, "Cart abandonment and recovery")
    assert "$9,876" in _card(html, "Revenue per customer as cohorts age")


def test_warming_up_months_are_starred_and_explained(frames):
    warming = [True, True, True, False, False, False]
    for name in ("mart_retention_rate", "mart_churn_monthly"):
        frames[name] = frames[name].with_columns(is_window_warming_up=pl.Series(warming))
    frames["mart_kpis"] = kpi_frame(is_retention_window_warming_up=True)
    html = build_report(frames, as_of_date=None)
    retention = _card(html, "Retention rate by month")
    assert ">Jan 25*<" in retention and ">Mar 25*<" in retention and ">Apr 25<" in retention
    assert "365-day window" in retention and "retention is 100%" in retention
    assert "Window warming up" in _card(html, "Churn rate by month")
    assert tile(html, "Retention rate")[1].endswith("window warming up")
    assert "window warming up" not in tile(html, "Monthly churn")[1]


def test_reactivations_are_their_own_line_of_the_retention_chart(frames):
    html = build_report(frames, as_of_date=None)
    assert "Reactivated" not in _card(html, "Retention rate by month")  # an older mart without the column
    frames["mart_retention_rate"] = frames["mart_retention_rate"].with_columns(
        reactivation_rate=pl.Series([None, 0.01, 0.02, 0.035, 0.02, 0.01]))
    retention = _card(html := build_report(frames, as_of_date=None), "Retention rate by month")
    assert "Reactivated" in retention and "textbook" in retention
    assert "Reactivated Apr 25: 4%" in retention, retention


def test_no_warming_up_note_once_the_window_has_run(frames):
    html = build_report(frames, as_of_date=None)
    assert "*" not in _card(html, "Retention rate by month").split("</p>", 1)[1]
    assert "Window warming up" not in html


def test_segments_funnel_and_support_kpis_show_mart_values(frames):
    html = build_report(frames, as_of_date=None)
    segments = _card(html, "Customer segments (RFM)")
    assert segments.index("Champions: customers") < segments.index("New: customers") < segments.index("Hibernating")
    assert "$6,000" in segments
    funnel = _card(html, "Repeat-purchase funnel")
    assert "n=40 of 100" in funnel and "50%" in funnel and "62% of customer revenue" in funnel and "median 41 days" in funnel
    support = _card(html, "Support KPIs")
    assert "June 2025" in support and "<td>18.2</td>" in support  # 18.25 h, one decimal
    assert "<td>4.25</td>" in support and "<td>3.2%</td>" in support and "<td>40</td>" not in support


def test_missing_or_empty_marts_become_notes(frames):
    del frames["mart_support_retention"]
    frames["mart_clv_summary"] = frames["mart_clv_summary"].clear()
    html = build_report(frames, as_of_date=None)
    assert html.count("Not available") == 2
    assert "Not tracked" not in html
    assert "mart_support_retention" in html and "as of unknown" in html
    assert "Not available" in build_report({}, as_of_date=None)


def test_nice_ticks_and_formats():
    assert svg.nice_ticks(0, 0.87) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.nice_ticks(0, 0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    # a single value (one month of a tiny shop) is drawn against zero, not as an axis floor
    assert svg.nice_ticks(1.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.pct(0.1234, 1) == "12.3%" and svg.money(1234.5, "$") == "$1,234" and svg.money(None) == "–"


def test_load_report_frames_reads_marts(build_db):
    import duckdb

    con = duckdb.connect(str(build_db), read_only=True)
    try:
        frames = load_report_frames(con)
    finally:
        con.close()
    # the fixture warehouse also holds marts the report does not read
    assert set(frames) == {"mart_retention_rate"}
    assert "Retention rate by month" in build_report(frames, as_of_date=date(2025, 6, 30))


def _card(html: str, title: str) -> str:
    """The HTML of the section titled `title`."""
    start = html.index(f"<h2>{title}</h2>")
    return html[start:html.index("</section>", start)]


def test_untracked_entities_say_not_tracked_instead_of_zeros(frames):
    # A shop without carts, helpdesk or order lines: its marts exist but are empty.
    frames["mart_data_coverage"] = coverage({"carts", "support_tickets", "order_lines"})
    frames["mart_kpis"] = kpi_frame(is_carts_tracked=False, recovered_revenue_12m=None)
    for name in ("mart_cart_abandonment_monthly", "mart_support_retention", "mart_support_kpis"):
        frames[name] = frames[name].clear()
    frames["mart_clv_summary"] = frames["mart_clv_summary"].with_columns(margin_clv=pl.lit(None, pl.Float64))
    html = build_report(frames, as_of_date=date(2025, 6, 14))
    carts = _card(html, "Cart abandonment and recovery")
    assert "Not tracked by this shop (no carts data)" in carts and "<svg" not in carts
    support = _card(html, "Support experience vs retention")
    assert "Not tracked by this shop (no support tickets data)" in support and "<svg" not in support
    assert "Not tracked by this shop (no support tickets data)" in _card(html, "Support KPIs")
    clv = _card(html, "Customer lifetime value by cohort")
    assert "not tracked by this shop (no order lines data)" in clv and "Margin CLV</text>" not in clv
    assert "Not available" not in html  # not tracked is not the same as missing
    assert tile(html, "Recovered revenue")[0] == "not tracked"


def test_a_tracked_entity_with_an_empty_mart_is_not_called_untracked(frames):
    frames["mart_cart_abandonment_monthly"] = frames["mart_cart_abandonment_monthly"].clear()
    html = build_report(frames, as_of_date=None)
    assert "Not available" in _card(html, "Cart abandonment and recovery")
    assert "Not tracked" not in html


def test_skipped_predictions_show_not_available_with_the_reason(frames):
    reason = "no predictions: 3 customers with a qualifying order; the models need at least 50"
    frames["mart_kpis"] = kpi_frame(predicted_customers=3, scored_customers=0, low_churn_risk_customers=0,
                                    medium_churn_risk_customers=0, high_churn_risk_customers=0,
                                    high_churn_risk_share=None, predicted_clv_12m=None, prediction_note=reason)
    html = build_report(frames, as_of_date=None)
    section = _card(html, "Predicted churn risk")
    assert f"Not available ({reason})" in section and "<svg" not in section
    assert tile(html, "High churn risk") == ("not available", reason)


def test_a_build_without_predictions_says_the_mart_is_missing(frames):
    frames["mart_kpis"] = kpi_frame(predicted_customers=0, scored_customers=0, predicted_clv_12m=None)
    html = build_report(frames, as_of_date=None)
    assert "mart_customer_predictions" in _card(html, "Predicted churn risk")
    assert "High churn risk" not in html


def test_spend_not_fitted_keeps_churn_risk_and_says_why(frames):
    reason = "no spend predictions (expected order value, CLV): Gamma-Gamma could not be fitted: same spend"
    frames["mart_kpis"] = kpi_frame(predicted_clv_12m=None, prediction_note=reason)
    html = build_report(frames, as_of_date=None)
    section = _card(html, "Predicted churn risk")
    assert "<svg" in section and reason in section and ">20  customers, P(alive) under 30%<" in section
    assert tile(html, "High churn risk")[0] == "20"
    assert tile(html, "Predicted 12-month CLV")[0] == "not available"


def test_a_tiny_shop_renders(frames):
    # 3 customers, one month, orders only, no prediction: every chart has a single point or bar.
    month = [date(2025, 6, 1)]
    reason = "no predictions: 3 customers"
    tiny = {
        "mart_kpis": kpi_frame(customers=3, active_customers=3, churned_customers=0, churned_share=0.0,
                               retention_month=None, retention_rate=None, churn_month=None, churn_rate=None,
                               month1_retention_rate=None, is_carts_tracked=False, recovered_revenue_12m=None,
                               predicted_customers=3, scored_customers=0, high_churn_risk_customers=0,
                               predicted_clv_12m=None, prediction_note=reason),
        "mart_cohort_retention": pl.DataFrame({"cohort_month": month, "months_since_first_order": [0], "cohort_size": [3],
                                               "retention_rate": [1.0]}),
        "mart_cohort_revenue_curves": pl.DataFrame({"cohort_half": ["2025 H1"], "cohort_half_start": [date(2025, 1, 1)],
                                                    "months_since_first_order": [0], "customers": [3],
                                                    "cumulative_net_revenue_per_customer": [40.0]}),
        "mart_retention_rate": pl.DataFrame({"month": month, "is_complete_month": [False], "is_window_warming_up": [True],
                                             "retention_rate": [None]}, schema_overrides={"retention_rate": pl.Float64}),
        "mart_churn_monthly": pl.DataFrame({"month": month, "is_complete_month": [False], "is_window_warming_up": [True],
                                            "churn_rate": [None]}, schema_overrides={"churn_rate": pl.Float64}),
        "mart_aov_by_device_12m": pl.DataFrame({"device": ["unknown"], "new_customer_aov": [40.0],
                                                "returning_customer_aov": [None]},
                                               schema_overrides={"returning_customer_aov": pl.Float64}),
        "mart_clv_summary": pl.DataFrame({"cohort": ["2025", "all"], "cohort_year": [2025, None], "customers": [3, 3],
                                          "clv": [40.0, 40.0], "margin_clv": [None, None]},
                                         schema_overrides={"margin_clv": pl.Float64}),
        "mart_cart_abandonment_monthly": frames["mart_cart_abandonment_monthly"].clear(),
        "mart_support_retention": frames["mart_support_retention"].clear(),
        "mart_support_kpis": frames["mart_support_kpis"].clear(),
        "mart_data_coverage": coverage({"carts", "support_tickets", "order_lines", "customers"}),
    }
    html = build_report(tiny, as_of_date=date(2025, 6, 20))
    for title in ["Cohort retention", "Retention rate by month", "Average order value by device",
                  "Customer lifetime value by cohort", "Revenue per customer as cohorts age"]:
        assert "<svg" in _card(html, title), title
    assert html.count("Not tracked by this shop") == 3
    assert f"Not available ({reason})" in html
    assert "Retention rate</div>" not in html  # no complete month yet: no tile rather than a dash
    assert not_tracked_text("carts") == "Not tracked by this shop (no carts data)"


def test_catch_all_devices_sort_last(frames):
    frames["mart_aov_by_device_12m"] = pl.DataFrame(
        {"device": ["unknown", "mobile", "other", "desktop"], "new_customer_aov": [1.0, 2.0, 3.0, 4.0],
         "returning_customer_aov": [1.0, 2.0, 3.0, 4.0]})
    chart = _card(build_report(frames, as_of_date=None), "Average order value by device")
    positions = [chart.index(f">{d}<") for d in ("desktop", "mobile", "other", "unknown")]
    assert positions == sorted(positions)


def test_load_report_frames_reads_the_kpi_row_and_coverage(build_db):
    import duckdb

    kpis = kpi_frame(predicted_customers=3, scored_customers=0, prediction_note="no predictions: too few customers")
    with duckdb.connect(str(build_db)) as con:
        con.register("kpis_frame", kpis.to_arrow())
        con.execute("create table marts.mart_kpis as select * from kpis_frame")
        con.execute("create table marts.mart_data_coverage as "
                    "select * from (values ('orders', true), ('carts', false)) v(entity, is_tracked)")
    with duckdb.connect(str(build_db), read_only=True) as con:
        frames = load_report_frames(con)
    assert frames["mart_kpis"].row(0, named=True) == kpis.row(0, named=True)
    html = build_report(frames, as_of_date=None)
    assert "Not available (no predictions: too few customers)" in html
    assert "Not tracked by this shop (no carts data)" in html


def first_row(html: str) -> tuple[str, list[dict[str, str]], str]:
    """The page's first row as a reader sees it: the story above, each tile's parts, the note below."""
    section = re.search(r'<section class="headline">(.*?)</section>', html, re.S)
    assert section, "no headline row"
    assert html.index('<section class="headline">') < html.index('<div class="kpis">' + "<div"), "headline is not first"
    body = section.group(1)
    story = re.search(r'<p class="story">([^<]*)</p>', body).group(1)
    tiles = [dict(zip(("label", "value", "measures", "window"), m)) for m in re.findall(
        r'<div class="l">([^<]*)</div><div class="v">([^<]*)</div><div class="n">([^<]*)</div><div class="w">([^<]*)</div>',
        body)]
    disagree = re.search(r'<p class="story disagree">([^<]*)</p>', body)
    return html_unescape(story), tiles, html_unescape(disagree.group(1)) if disagree else ""


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_first_row_says_what_each_number_measures_and_over_which_window(frames):
    row = frames["mart_kpis"].row(0, named=True)
    story, tiles, disagree = first_row(build_report(frames, as_of_date=row["as_of_date"]))
    by_label = {t["label"]: t for t in tiles}
    assert list(by_label) == ["Retention rate", "Churned", "Month-1 retention", "High churn risk"]
    for t in tiles:
        assert t["measures"].strip() and t["window"].strip(), t
    retention, churned, month1 = by_label["Retention rate"], by_label["Churned"], by_label["Month-1 retention"]
    assert retention["value"] == svg.pct(row["retention_rate"], 1)
    assert "still active" in retention["measures"]
    assert row["retention_month"].strftime("%B %Y") in retention["window"]
    assert f"trailing {row['active_window_days']} days" in retention["window"]
    assert churned["value"] == svg.pct(row["churned_share"], 1)
    assert f"over {row['churn_after_days']} days" in churned["measures"] and "as of" in churned["window"]
    assert "new customers" in month1["measures"] and "month after their first order" in month1["measures"]
    assert row["month1_first_cohort"].strftime("%b %y") in month1["window"]
    assert "BG/NBD" in by_label["High churn risk"]["measures"]
    # The story says how the three relate, with the windows of this build.
    assert f"{row['active_window_days']}-day window" in story and f"{row['churn_after_days']}-day rule" in story
    assert "month-1 retention follows only new customers" in story
    # Rule and model side by side: the disagreements are the mart's rows, as they are.
    assert "752 customers (17.6%) are churned by the" in disagree and "low risk for the model" in disagree
    assert "261 customers (6.1%) are active by the" in disagree and "high risk for the model" in disagree


def test_every_support_bar_says_what_it_shows(frames):
    frames["mart_support_retention"] = pl.DataFrame(
        {"dimension": ["resolution_time"], "support_group": ["unresolved"], "customers": [35], "not_churned_rate": [1.0]})
    support = _card(build_report(frames, as_of_date=None), "Support experience vs retention")
    assert "Slowest resolution: Ticket still open" in support
    assert "100%  not churned, of n=35" in support
    assert "at least one of their tickets has no resolution yet" in support


def test_the_predictions_card_says_when_the_models_were_last_fitted(frames):
    import duckdb

    from assets.serving.report import fitted_sentence, models_fitted_text

    scored = {"refit": False, "last_fit_as_of_date": "2025-06-10", "last_fitted_at": "2025-06-11T02:00:07"}
    sentence = fitted_sentence(scored)
    assert sentence == "Models last fitted on orders up to 2025-06-10 on 2025-06-11 02:00 UTC; scored tonight with that fit."
    assert "refitted tonight" in fitted_sentence({**scored, "refit": True})
    assert fitted_sentence({"prediction_note": "no predictions"}) is None
    html = build_report(frames, as_of_date=None, models_fitted=sentence)
    assert sentence in _card(html, "Predicted churn risk")

    con = duckdb.connect()
    assert models_fitted_text(con) is None  # a build without predictions
    con.execute("CREATE SCHEMA intermediate")
    con.execute("CREATE TABLE intermediate.int_customer_predictions_fit AS SELECT ? AS metadata", [json.dumps(scored)])
    assert models_fitted_text(con) == sentence
