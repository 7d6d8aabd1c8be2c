"""The audience backtest's refits: month-end cutoffs, no hindsight, and reuse of unchanged fits."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import models.backtest as backtest
from models.backtest import backtest_cutoffs, backtest_predictions

D = dt.date
CDNOW_END = D(1998, 6, 30)


def test_cutoffs_are_the_latest_month_ends_with_90_days_of_data_after_them():
    assert backtest_cutoffs(D(2024, 1, 15), D(2025, 12, 31)) == [
        D(2025, 4, 30), D(2025, 5, 31), D(2025, 6, 30), D(2025, 7, 31), D(2025, 8, 31), D(2025, 9, 30)]
    # 2025-09-30 + 90 days = 2025-12-29: one day short on 2025-12-28.
    assert backtest_cutoffs(D(2024, 1, 15), D(2025, 12, 28))[-1] == D(2025, 8, 31)
    # Never before the first order; a young shop has fewer cutoffs, a new one none.
    assert backtest_cutoffs(D(2025, 7, 10), D(2025, 12, 31)) == [D(2025, 7, 31), D(2025, 8, 31), D(2025, 9, 30)]
    assert backtest_cutoffs(D(2025, 11, 1), D(2025, 12, 31)) == []
    assert backtest_cutoffs(None, D(2025, 12, 31)) == []


@pytest.fixture(scope="module")
def cdnow(cdnow_transactions):
    return cdnow_transactions.with_columns(pl.col("customer_id").cast(pl.String))


@pytest.fixture(scope="module")
def cdnow_backtest(cdnow):
    return backtest_predictions(cdnow, CDNOW_END, count=2)


def test_cdnow_each_cutoff_is_fitted_on_its_known_orders_only(cdnow, cdnow_backtest):
    cutoffs = cdnow_backtest["cutoff_date"].unique().sort().to_list()
    assert cutoffs == [D(1998, 2, 28), D(1998, 3, 31)]
    for cutoff in cutoffs:
        rows = cdnow_backtest.filter(pl.col("cutoff_date") == cutoff)
        # CDNOW's cohort bought in Q1 1997: everyone is known on both cutoffs, all scored.
        assert rows.height == cdnow["customer_id"].n_unique() == 2357
        assert rows["p_alive"].null_count() == 0 and rows["prediction_note"].null_count() == rows.height
        assert (rows["expected_next_order_date"].is_not_null()).all()


def test_a_planted_future_order_changes_no_prediction_on_an_earlier_cutoff(cdnow, cdnow_backtest):
    first = cdnow_backtest.filter(pl.col("cutoff_date") == D(1998, 2, 28)).drop("input_fingerprint")
    planted = pl.concat([cdnow, pl.DataFrame({"customer_id": ["1"], "order_date": [D(1998, 3, 5)], "amount": [500.0]},
                                             schema=cdnow.schema)])
    again = backtest_predictions(planted, CDNOW_END, count=2)
    assert again.filter(pl.col("cutoff_date") == D(1998, 2, 28)).drop("input_fingerprint").equals(first)
    # The later cutoff does see it: customer 1's last order moved.
    later = again.filter((pl.col("cutoff_date") == D(1998, 3, 31)) & (pl.col("customer_id") == "1"))
    before = cdnow_backtest.filter((pl.col("cutoff_date") == D(1998, 3, 31)) & (pl.col("customer_id") == "1"))
    assert later["p_alive"][0] != before["p_alive"][0]


def test_an_unchanged_cutoff_is_copied_from_the_previous_build_and_a_changed_one_refitted(cdnow, cdnow_backtest, monkeypatch):
    calls = []
    real = backtest.predict_cutoff
    monkeypatch.setattr(backtest, "predict_cutoff", lambda agg, cutoff: calls.append(cutoff) or real(agg, cutoff))
    assert backtest_predictions(cdnow, CDNOW_END, count=2, previous=cdnow_backtest).equals(cdnow_backtest)
    assert calls == []
    # A late refund on an order of March 1998 changes only the second cutoff's input.
    march = cdnow.filter((pl.col("order_date") > D(1998, 2, 28)) & (pl.col("order_date") <= D(1998, 3, 31))).row(0, named=True)
    changed = cdnow.with_columns(
        pl.when((pl.col("customer_id") == march["customer_id"]) & (pl.col("order_date") == march["order_date"]))
        .then(pl.col("amount") / 2).otherwise(pl.col("amount")).alias("amount"))
    backtest_predictions(changed, CDNOW_END, count=2, previous=cdnow_backtest)
    assert calls == [D(1998, 3, 31)]
