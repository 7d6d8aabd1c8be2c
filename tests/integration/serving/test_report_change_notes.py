"""The report opens with the change notes of the latest complete month and the last 7 days, as written."""

from datetime import date

import polars as pl

from assets.serving.report import build_report, section_change_notes


def notes() -> pl.DataFrame:
    return pl.DataFrame({
        "period": ["month_vs_previous_month", "month_vs_previous_month", "last_7_days", "last_28_days"],
        "rank": [2, 1, 1, 1],
        "sentence": [
            "In 2025-12, churn rate rose 1.2 points to 6.0% against 2025-11, unusual (robust z +3.9).",
            "In 2025-12, net revenue fell 8% (-8000) against 2025-11, unusual (robust z -4.2): customers ordering -6000.",
            "In the last 7 days, net revenue rose 5% (+500) against the days before, nothing moved unusually.",
            "In the last 28 days, orders rose 2% (+20) against the days before, nothing moved unusually.",
        ],
    })


def test_report_opens_with_the_month_and_week_notes_in_rank_order():
    html = build_report({"mart_change_notes": notes()}, as_of_date=date(2025, 12, 31))
    changed = html.index("What changed")
    assert changed < html.index("Cohort retention")  # the first section
    month, churn = html.index("net revenue fell 8% (-8000)"), html.index("churn rate rose 1.2 points")
    week = html.index("In the last 7 days, net revenue rose 5% (+500)")
    assert changed < month < churn < week
    assert "In the last 28 days" not in html


def test_missing_notes_say_so_instead_of_failing():
    assert "mart_change_notes</code> is missing or empty" in section_change_notes(None)
    no_month_or_week = notes().filter(pl.col("period") == "last_28_days")
    assert "mart_change_notes</code> is missing or empty" in section_change_notes(no_month_or_week)


def test_sentences_are_escaped():
    df = pl.DataFrame({"period": ["last_7_days"], "rank": [1], "sentence": ["AOV <b>rose</b> & more"]})
    assert "AOV &lt;b&gt;rose&lt;/b&gt; &amp; more" in section_change_notes(df)
