"""The HTML report from hand-made frames: self-contained, every section, graceful gaps."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import polars as pl
import pytest

from assets.serving import svg
from assets.serving.report import aov_by_device_table, build_report, cart_monthly, load_report_frames, write_report

MONTHS = [date(2025, m, 1) for m in range(1, 7)]


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
    }


def test_report_has_every_section_and_no_external_reference(frames, tmp_path):
    html = build_report(frames, as_of_date=date(2025, 6, 14), currency="USD", shop_name="Test shop",
                        run_id="0123456789", generated_at=datetime(2025, 6, 15, 2, 5, tzinfo=timezone.utc),
                        churn_after_days=180)
    for title in ["Cohort retention", "Retention rate by month", "Churn rate by month", "Average order value by device",
                  "Cart abandonment and recovery", "Support experience vs retention",
                  "Customer lifetime value by cohort", "Revenue per customer as cohorts age"]:
        assert f"<h2>{title}</h2>" in html
    assert "14 June 2025" in html and "as of" in html
    assert html.count("<svg") == 9  # heatmap, 2 trends, AOV, CLV, 2 cart charts, support, CLV curves
    assert "Not available" not in html
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
