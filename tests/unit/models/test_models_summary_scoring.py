"""Summary derivation from raw CDNOW transactions, scoring and holdout check."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from models.bgnbd import fit_bgnbd
from models.errors import InvalidInputError
from models.gamma_gamma import fit_gamma_gamma
from models.scoring import SCORE_COLUMNS, churn_risk_band, holdout_check, model_metadata, score_customers
from models.summary import calibration_and_holdout, customer_summary

# Published CDNOW calibration end and end of data (39 + 39 weeks).
CALIBRATION_END = dt.date(1997, 9, 30)
OBSERVATION_END = dt.date(1998, 6, 30)


def test_summary_reproduces_published_cdnow_summary(cdnow_transactions, cdnow_summary, cdnow_frequency_recency):
    ours = customer_summary(cdnow_transactions, observation_end=CALIBRATION_END, time_unit="weeks", decimals=2)
    assert ours.height == 2357
    joined = ours.join(cdnow_frequency_recency, left_on="customer_id", right_on="ID", suffix="_pub").join(
        cdnow_summary.select("ID", "zbar"), left_on="customer_id", right_on="ID"
    )
    assert joined.height == 2357
    assert (joined["frequency"] == joined["frequency_pub"]).all()
    assert (joined["recency"] == joined["recency_pub"]).all()
    assert (joined["T"] == joined["T_pub"]).all()
    assert (joined["monetary_value"] - joined["zbar"]).abs().max() <= 0.01


def test_summary_merges_same_day_and_excludes_first_purchase():
    tx = pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "order_date": [
                dt.datetime(2024, 1, 1, 9),
                dt.datetime(2024, 1, 1, 18),  # same day: merged with the first
                dt.datetime(2024, 1, 8),
                dt.datetime(2024, 1, 8, 12),
                dt.datetime(2024, 1, 15),
            ],
            "amount": [100.0, 50.0, 10.0, 20.0, 5.0],
        }
    )
    s = customer_summary(tx, observation_end=dt.date(2024, 1, 22))
    a = s.filter(pl.col("customer_id") == "a").row(0, named=True)
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (1, 7.0, 21.0, 30.0)
    b = s.filter(pl.col("customer_id") == "b").row(0, named=True)
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0.0, 7.0, 0.0)
    weeks = customer_summary(tx, observation_end=dt.date(2024, 1, 22), time_unit="weeks")
    assert weeks.filter(pl.col("customer_id") == "a")["T"][0] == pytest.approx(3.0)


def test_calibration_and_holdout_split(cdnow_transactions):
    ch = calibration_and_holdout(cdnow_transactions, CALIBRATION_END, OBSERVATION_END, time_unit="weeks")
    assert ch.height == 2357
    assert ch["duration_holdout"].unique().to_list() == [39.0]
    assert ch["frequency_holdout"].min() >= 0
    # Customer 1 bought on 1997-12-12 only in the holdout.
    assert ch.filter(pl.col("customer_id") == 1)["frequency_holdout"][0] == 1
    late = pl.DataFrame(
        {"customer_id": [1, 2], "order_date": [dt.date(2024, 1, 1), dt.date(2024, 3, 1)], "amount": [1.0, 2.0]}
    )
    split = calibration_and_holdout(late, dt.date(2024, 2, 1), dt.date(2024, 4, 1))
    assert split["customer_id"].to_list() == [1]  # first purchase after calibration_end: excluded


@pytest.fixture(scope="module")
def daily_models(cdnow_transactions):
    ch = calibration_and_holdout(cdnow_transactions, CALIBRATION_END, OBSERVATION_END, time_unit="days")
    bg = fit_bgnbd(ch["frequency"], ch["recency"], ch["T"])
    gg = fit_gamma_gamma(ch["frequency"], ch["monetary_value"])
    return ch, bg, gg


def test_daily_and_weekly_fits_agree(daily_models, cdnow_summary):
    _, bg_days, _ = daily_models
    bg_weeks = fit_bgnbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])
    assert bg_days.r == pytest.approx(bg_weeks.r, rel=1e-3)
    assert bg_days.alpha / 7 == pytest.approx(bg_weeks.alpha, rel=1e-3)  # alpha carries the time unit


def test_score_customers_frame(daily_models):
    ch, bg, gg = daily_models
    scores = score_customers(ch, bg, gg, time_unit="days")
    assert scores.columns == list(SCORE_COLUMNS)
    assert scores.height == ch.height
    assert scores.null_count().sum_horizontal()[0] == 0
    num = scores.select(SCORE_COLUMNS[1:-1]).to_numpy()
    assert np.all(np.isfinite(num)) and np.all(num >= 0)
    assert (scores["expected_purchases_365d"] >= scores["expected_purchases_90d"]).all()
    expected_bands = [churn_risk_band(p) for p in scores["p_alive"].to_list()]
    assert scores["churn_risk"].to_list() == expected_bands
    # CDNOW customer 1 (days): value recorded from lifetimes 0.11.3.
    assert scores.filter(pl.col("customer_id") == 1)["predicted_clv_12m"][0] == pytest.approx(35.8666, rel=1e-4)
    meta = model_metadata(bg, gg)
    assert meta["gg_independence_ok"] is True and np.isfinite(meta["bgnbd_log_likelihood"])


def test_holdout_check_buckets(daily_models):
    ch, bg, _ = daily_models
    result = holdout_check(ch, bg)
    frame = result.by_frequency
    assert frame["frequency_bucket"].to_list() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert frame["n_customers"].sum() == 2357
    assert result.summary["actual_total"] == float(ch["frequency_holdout"].sum())
    # BG/NBD tracks the CDNOW holdout closely per bucket (FHL 2005 fig. 3).
    assert result.summary["mae_bucket"] < 0.5
    assert 0 < result.summary["mae_customer"] < 2


@pytest.mark.parametrize(
    ("p", "band"), [(1.0, "low"), (0.7, "low"), (0.6999, "medium"), (0.3, "medium"), (0.2999, "high"), (0.0, "high")]
)
def test_churn_risk_band_thresholds(p, band):
    assert churn_risk_band(p) == band


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5, None])
def test_churn_risk_band_rejects_invalid(bad):
    with pytest.raises(InvalidInputError):
        churn_risk_band(bad)
