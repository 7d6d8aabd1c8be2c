"""The HTML report from hand-made frames: self-contained, every section, graceful gaps."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import polars as pl
import pytest

from assets.serving import svg
from assets.serving.report import (
    aov_by_device_table,
    build_report,
    cart_monthly,
    load_report_frames,
    not_tracked_text,
    write_report,
)

MONTHS = [date(2025, m, 1) for m in range(1, 7)]
ENTITIES = ["orders", "order_lines", "customers", "carts", "support_tickets"]


def coverage(untracked: set[str] = frozenset()) -> pl.DataFrame:
    return pl.DataFrame({"entity": ENTITIES, "is_tracked": [e not in untracked for e in ENTITIES]})


def prediction_bands(note: str | None = None, fitted: bool = True) -> pl.DataFrame:
    """The per-band summary `load_report_frames` makes of mart_customer_predictions."""
    if not fitted:
        return pl.DataFrame({"churn_risk": ["unknown"], "customers": [3], "predicted_clv_12m": [None],
                             "prediction_note": [note]}, schema_overrides={"predicted_clv_12m": pl.Float64})
    return pl.DataFrame({"churn_risk": ["high", "low", "medium"], "customers": [20, 50, 30],
                         "predicted_clv_12m": [None if note else v for v in (100.0, 900.0, 400.0)],
                         "prediction_note": [note] * 3},
                        schema_overrides={"predicted_clv_12m": pl.Float64, "prediction_note": pl.String})


@pytest.fixture
def frames() -> dict[str, pl.DataFrame]:
    cohort_rows = []
    for ci, c in enumerate(MONTHS):
        for m in range(len(MONTHS) - ci):
            cohort_rows.append(
                {"cohort_month": c, "months_since_first_order": m, "cohort_size": 100,
                 "retention_rate": 1.0 if m == 0 else 0.3 / m,
                 "cumulative_net_revenue_per_customer": 50.0 + 20 * m}
            )
    return {
        "mart_cohort_retention": pl.DataFrame(cohort_rows),
        "mart_retention_rate": pl.DataFrame(
            {"month": MONTHS, "is_complete_month": [True] * 5 + [False], "retention_rate": [None, 0.9, 0.88, 0.91, 0.87, 0.86]}
        ),
        "mart_churn_monthly": pl.DataFrame(
            {"month": MONTHS, "is_complete_month": [True] * 5 + [False], "churn_rate": [None, 0.01, 0.02, 0.03, 0.02, 0.025]}
        ),
        "mart_customer_churn": pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "is_churned": [True, False, False, False]}),
        "mart_aov_by_device": pl.DataFrame(
            {
                "order_month": [MONTHS[0], MONTHS[0], MONTHS[1]],
                "device": ["mobile", "desktop", "mobile"],
                "orders": [10, 5, 10],
                "net_revenue": [500.0, 400.0, 700.0],
                "new_customer_orders": [4, 5, 0],
                "new_customer_aov": [40.0, 80.0, None],
                "returning_customer_orders": [6, 0, 10],
                "returning_customer_aov": [56.67, None, 70.0],
            }
        ),
        "mart_cart_abandonment": pl.DataFrame(
            {
                "cart_month": [MONTHS[0], MONTHS[0], MONTHS[1]],
                "device": ["mobile", "desktop", "mobile"],
                "customer_type": ["known", "guest", "known"],
                "carts": [100, 50, 80],
                "open_carts": [10, 0, 0],
                "abandoned_carts": [60, 30, 40],
                "recovered_carts": [6, 3, 8],
                "recovered_revenue": [300.0, 150.0, 400.0],
            }
        ),
        "mart_support_retention": pl.DataFrame(
            {
                "dimension": ["ticket", "ticket", "csat", "csat", "channel"],
                "support_group": ["no_ticket", "ticket", "low_1_2", "high_4_5", "chat"],
                "customers": [1000, 200, 20, 150, 90],
                "not_churned_rate": [0.55, 0.62, 0.4, 0.7, 0.6],
            }
        ),
        "mart_clv_summary": pl.DataFrame(
            {"cohort": ["2024", "2025", "all"], "cohort_year": [2024, 2025, None], "customers": [10, 20, 30],
             "clv": [500.0, 300.0, 380.0], "margin_clv": [200.0, 120.0, 150.0]}
        ),
        "mart_data_coverage": coverage(),
        "mart_customer_predictions": prediction_bands(),
    }


def test_report_has_every_section_and_no_external_reference(frames, tmp_path):
    html = build_report(frames, as_of_date=date(2025, 6, 14), currency="USD", shop_name="Test shop",
                        run_id="0123456789", generated_at=datetime(2025, 6, 15, 2, 5, tzinfo=timezone.utc),
                        churn_after_days=180)
    for title in ["Cohort retention", "Retention rate by month", "Churn rate by month", "Average order value by device",
                  "Cart abandonment and recovery", "Support experience vs retention",
                  "Customer lifetime value by cohort", "Predicted churn risk", "Revenue per customer as cohorts age"]:
        assert f"<h2>{title}</h2>" in html
    assert "14 June 2025" in html and "as of" in html
    # heatmap, 2 trends, AOV, CLV, 2 cart charts, support, predictions, CLV curves
    assert html.count("<svg") == 10
    assert "Not available" not in html and "not available" not in html and "Not tracked" not in html
    assert "Margin CLV" in html and "$1,400" in html  # predicted 12-month CLV tile: 100 + 900 + 400
    # self-contained: no script, no stylesheet link, no external src/href; only the SVG namespace URI
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=""", html)
    assert set(re.findall(r"https?://[^\s\"'<)]+", html)) == {"http://www.w3.org/2000/svg"}
    # units
    assert "$" in html and "%" in html
    path = write_report(html, tmp_path / "report")
    assert path.read_text(encoding="utf-8") == html


def test_missing_or_empty_marts_become_notes(frames):
    del frames["mart_support_retention"]
    frames["mart_clv_summary"] = frames["mart_clv_summary"].clear()
    html = build_report(frames, as_of_date=None)
    assert html.count("Not available") == 2
    assert "Not tracked" not in html
    assert "mart_support_retention" in html and "as of unknown" in html
    assert "Not available" in build_report({}, as_of_date=None)


def test_aov_by_device_is_order_weighted(frames):
    t = aov_by_device_table(frames["mart_aov_by_device"]).sort("device")
    mobile = t.filter(pl.col("device") == "mobile").row(0, named=True)
    assert mobile["new_orders"] == 4 and mobile["new_aov"] == pytest.approx(40.0)
    assert mobile["returning_aov"] == pytest.approx((6 * 56.67 + 10 * 70.0) / 16)
    desktop = t.filter(pl.col("device") == "desktop").row(0, named=True)
    assert desktop["returning_aov"] is None


def test_cart_rates(frames):
    m = cart_monthly(frames["mart_cart_abandonment"]).row(0, named=True)
    assert m["abandonment_rate"] == pytest.approx(90 / 140)
    assert m["recovery_rate"] == pytest.approx(9 / 90)


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
    assert set(frames) == {"mart_customer_churn", "mart_aov_by_device", "mart_retention_rate"}
    assert "Retention rate by month" in build_report(frames, as_of_date=date(2025, 6, 30))


def _card(html: str, title: str) -> str:
    """The HTML of the section titled `title`."""
    start = html.index(f"<h2>{title}</h2>")
    return html[start:html.index("</section>", start)]


def test_untracked_entities_say_not_tracked_instead_of_zeros(frames):
    # A shop without carts, helpdesk or order lines: its marts exist but are empty.
    frames["mart_data_coverage"] = coverage({"carts", "support_tickets", "order_lines"})
    frames["mart_cart_abandonment"] = frames["mart_cart_abandonment"].clear()
    frames["mart_support_retention"] = frames["mart_support_retention"].clear()
    frames["mart_clv_summary"] = frames["mart_clv_summary"].with_columns(margin_clv=pl.lit(None, pl.Float64))
    html = build_report(frames, as_of_date=date(2025, 6, 14))
    carts = _card(html, "Cart abandonment and recovery")
    assert "Not tracked by this shop (no carts data)" in carts and "<svg" not in carts
    support = _card(html, "Support experience vs retention")
    assert "Not tracked by this shop (no support tickets data)" in support and "<svg" not in support
    clv = _card(html, "Customer lifetime value by cohort")
    assert "not tracked by this shop (no order lines data)" in clv and "Margin CLV</text>" not in clv
    assert "Not available" not in html  # not tracked is not the same as missing
    assert '<div class="l">Recovered revenue</div><div class="v">not tracked</div>' in html


def test_a_tracked_entity_with_an_empty_mart_is_not_called_untracked(frames):
    frames["mart_cart_abandonment"] = frames["mart_cart_abandonment"].clear()
    html = build_report(frames, as_of_date=None)
    assert "Not available" in _card(html, "Cart abandonment and recovery")
    assert "Not tracked" not in html


def test_skipped_predictions_show_not_available_with_the_reason(frames):
    reason = "no predictions: 3 customers with a qualifying order; the models need at least 50"
    frames["mart_customer_predictions"] = prediction_bands(reason, fitted=False)
    html = build_report(frames, as_of_date=None)
    section = _card(html, "Predicted churn risk")
    assert f"Not available ({reason})" in section and "<svg" not in section
    assert f'<div class="v">not available</div><div class="n">{reason}</div>' in html


def test_spend_not_fitted_keeps_churn_risk_and_says_why(frames):
    reason = "no spend predictions (expected order value, CLV): Gamma-Gamma could not be fitted: same spend"
    frames["mart_customer_predictions"] = prediction_bands(reason)
    html = build_report(frames, as_of_date=None)
    section = _card(html, "Predicted churn risk")
    assert "<svg" in section and reason in section
    assert '<div class="l">High churn risk</div><div class="v">20</div>' in html
    assert '<div class="l">Predicted 12-month CLV</div><div class="v">not available</div>' in html


def test_a_tiny_shop_renders(frames):
    # 3 customers, one month, orders only, no prediction: every chart has a single point or bar.
    month = [date(2025, 6, 1)]
    tiny = {
        "mart_cohort_retention": pl.DataFrame({"cohort_month": month, "months_since_first_order": [0], "cohort_size": [3],
                                               "retention_rate": [1.0], "cumulative_net_revenue_per_customer": [40.0]}),
        "mart_retention_rate": pl.DataFrame({"month": month, "is_complete_month": [False], "retention_rate": [None]},
                                            schema_overrides={"retention_rate": pl.Float64}),
        "mart_churn_monthly": pl.DataFrame({"month": month, "is_complete_month": [False], "churn_rate": [None]},
                                           schema_overrides={"churn_rate": pl.Float64}),
        "mart_customer_churn": pl.DataFrame({"customer_id": ["a", "b", "c"], "is_churned": [False] * 3}),
        "mart_aov_by_device": pl.DataFrame({"order_month": month, "device": ["unknown"], "orders": [3],
                                            "net_revenue": [120.0], "new_customer_orders": [3], "new_customer_aov": [40.0],
                                            "returning_customer_orders": [0], "returning_customer_aov": [None]},
                                           schema_overrides={"returning_customer_aov": pl.Float64}),
        "mart_clv_summary": pl.DataFrame({"cohort": ["2025", "all"], "cohort_year": [2025, None], "customers": [3, 3],
                                          "clv": [40.0, 40.0], "margin_clv": [None, None]},
                                         schema_overrides={"margin_clv": pl.Float64}),
        "mart_cart_abandonment": frames["mart_cart_abandonment"].clear(),
        "mart_support_retention": frames["mart_support_retention"].clear(),
        "mart_data_coverage": coverage({"carts", "support_tickets", "order_lines", "customers"}),
        "mart_customer_predictions": prediction_bands("no predictions: 3 customers", fitted=False),
    }
    html = build_report(tiny, as_of_date=date(2025, 6, 20))
    for title in ["Cohort retention", "Retention rate by month", "Average order value by device",
                  "Customer lifetime value by cohort", "Revenue per customer as cohorts age"]:
        assert "<svg" in _card(html, title), title
    assert html.count("Not tracked by this shop") == 2
    assert "Not available (no predictions: 3 customers)" in html
    assert not_tracked_text("carts") == "Not tracked by this shop (no carts data)"


def test_catch_all_devices_sort_last(frames):
    aov = frames["mart_aov_by_device"]
    extra = aov.head(2).with_columns(device=pl.Series(["other", "unknown"]))
    t = aov_by_device_table(pl.concat([extra, aov]))
    assert t["device"].to_list() == ["desktop", "mobile", "other", "unknown"]


def test_load_report_frames_summarises_predictions_and_reads_coverage(build_db):
    import duckdb

    with duckdb.connect(str(build_db)) as con:
        con.execute("""
            create table marts.mart_customer_predictions as
            select 'c' || i as customer_id, null::double as p_alive, null::double as predicted_clv_12m,
                   'unknown' as churn_risk, 'no predictions: too few customers' as prediction_note
            from range(3) t(i)""")
        con.execute("create table marts.mart_data_coverage as "
                    "select * from (values ('orders', true), ('carts', false)) v(entity, is_tracked)")
    with duckdb.connect(str(build_db), read_only=True) as con:
        frames = load_report_frames(con)
    bands = frames["mart_customer_predictions"]
    assert bands.rows() == [("unknown", 3, None, "no predictions: too few customers")]
    html = build_report(frames, as_of_date=None)
    assert "Not available (no predictions: too few customers)" in html
    assert "Not tracked by this shop (no carts data)" in html
