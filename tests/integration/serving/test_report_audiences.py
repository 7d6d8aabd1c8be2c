"""Report section "Who to contact this week": tonight's audiences from mart_audience_summary and mart_audience_backtest."""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.serving.report import build_report, section_audiences

D1, D2 = dt.date(2025, 12, 30), dt.date(2025, 12, 31)


def summary() -> pl.DataFrame:
    rows = [
        (D1, "win_back", True, None, 900, 900, None, 1.0),
        (D2, "win_back", True, None, 1247, 40, 12, 94090.5),
        (D2, "vip_at_risk", True, None, 190, 190, None, 65739.8),
        (D2, "cart_recovery", False, "not tracked by this shop (no carts data)", 0, 0, 0, None),
    ]
    return pl.DataFrame(rows, schema=["as_of_date", "audience", "is_tracked", "note", "members", "entered_since_previous",
                                      "left_since_previous", "value_at_stake"], orient="row")


def backtest() -> pl.DataFrame:
    rows = [
        ("win_back", dt.date(2025, 8, 31), 900, 0.05, 0.2, 0.25),
        ("win_back", dt.date(2025, 9, 30), 985, 0.075, 0.17, 0.44),
        ("vip_at_risk", dt.date(2025, 9, 30), 0, None, 0.17, None),
    ]
    return pl.DataFrame(rows, schema=["audience", "cutoff_date", "members", "member_order_rate_30d",
                                      "active_order_rate_30d", "order_rate_lift_30d"], orient="row")


def test_tonights_audiences_with_their_change_value_and_latest_backtest():
    html = section_audiences(summary(), backtest(), "$")
    assert "Who to contact this week" in html and "2025-09-30" in html
    win_back = html.split("<th>Win back</th>")[1].split("</tr>")[0]
    assert "1,247" in win_back and "+40 / −12" in win_back and "$94,090" in win_back
    assert "7.5% vs 17.0% (×0.44, n=985)" in win_back
    vip = html.split("<th>VIP at risk</th>")[1].split("</tr>")[0]
    assert "(first build)" in vip and "no members then" in vip
    assert "not tracked by this shop (no carts data)" in html.split("<th>Cart recovery</th>")[1].split("</tr>")[0]


def test_without_the_marts_the_section_says_so_and_the_report_still_builds():
    assert "mart_audience_summary" in section_audiences(None, None, "$")
    html = build_report({"mart_audience_summary": summary()}, as_of_date=D2)
    assert "Who to contact this week" in html and "not backtested yet" in html


def test_a_backtest_on_a_sample_says_how_many_customers_it_measured():
    sampled = backtest().with_columns(pl.lit(200_000).alias("sample_customers"), pl.lit(1_700_000).alias("known_customers"))
    html = section_audiences(summary(), sampled, "$")
    assert "Measured on a stable sample of 200,000 of the 1,700,000 customers known then" in html
    every = sampled.with_columns(pl.lit(172_972).alias("sample_customers"), pl.lit(172_972).alias("known_customers"))
    assert "sample of" not in section_audiences(summary(), every, "$")
    assert "sample of" not in section_audiences(summary(), backtest(), "$")
