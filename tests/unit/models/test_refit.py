"""Fit on a schedule, score every night: the refit decision and the stored fit (models/refit.py)."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from models.predictions import nightly_predictions, predict_or_skip, stored_models
from models.refit import (
    FIT_FORMAT,
    MIN_DRIFT_PURCHASES,
    Drift,
    RefitPolicy,
    StoredFit,
    append_fit,
    policy_from_vars,
    read_last_fit,
    refit_decision,
)

FIT_DAY = dt.date(2025, 6, 1)


def stored(as_of=FIT_DAY, customers=1000, fitted=True, fit_format=FIT_FORMAT) -> StoredFit:
    return StoredFit(1, "2025-06-02T02:00:00", as_of, customers, fitted, fit_format, {"meta": {}})


POLICY = RefitPolicy(every_days=7, growth=0.10, drift=0.20)


@pytest.mark.parametrize(
    "last, as_of, customers, drift, due, says",
    [
        (None, FIT_DAY, 1000, None, True, "no stored fit"),
        (stored(fit_format=FIT_FORMAT + 1), FIT_DAY, 1000, None, True, "format"),
        (stored(fitted=False), FIT_DAY, 1000, None, True, "could not fit"),
        (stored(), FIT_DAY - dt.timedelta(days=1), 1000, None, True, "before the stored fit"),
        (stored(), FIT_DAY + dt.timedelta(days=7), 1000, None, True, "refit every 7"),
        (stored(), FIT_DAY + dt.timedelta(days=6), 1000, None, False, "not due"),
        (stored(), FIT_DAY, 1000, None, False, "not due"),
        (stored(), FIT_DAY + dt.timedelta(days=1), 1101, None, True, "grew 10.1%"),
        (stored(), FIT_DAY + dt.timedelta(days=1), 1100, None, False, "not due"),
        (stored(), FIT_DAY + dt.timedelta(days=3), 1000, Drift(300.0, 200.0), False, "drift judged from 7 days"),
        (stored(), FIT_DAY + dt.timedelta(days=10), 1000, Drift(300.0, 200.0), True, "drifted"),
        (stored(), FIT_DAY + dt.timedelta(days=10), 1000, Drift(300.0, 260.0), False, "+15.4%"),
        (stored(), FIT_DAY + dt.timedelta(days=10), 1000, Drift(MIN_DRIFT_PURCHASES - 1, 10.0), False, "not judged"),
    ],
)
def test_refit_decision(last, as_of, customers, drift, due, says):
    # With a drift measured, refits are monthly: drift then has whole weeks to be judged in.
    policy = RefitPolicy(every_days=30) if drift is not None else POLICY
    decision = refit_decision(policy, last, as_of, customers, drift)
    assert decision.due is due
    assert says in decision.reason


def test_a_forced_refit_wins_over_a_fresh_fit():
    decision = refit_decision(RefitPolicy(force=True), stored(), FIT_DAY, 1000)
    assert decision.due and "requested" in decision.reason


@pytest.mark.parametrize("kwargs", [{"every_days": 0}, {"every_days": 1.5}, {"growth": 0.0}, {"drift": float("nan")}])
def test_a_bad_policy_is_one_clear_error(kwargs):
    with pytest.raises(ValueError, match="refit "):
        RefitPolicy(**kwargs)


def test_the_policy_comes_from_dbt_vars_rendered_or_not():
    assert policy_from_vars({}) == RefitPolicy()
    rendered = {"predictions_refit_every_days": "14", "predictions_refit_growth": "0.5",
                "predictions_refit_drift": "0.3", "predictions_refit": "True"}
    assert policy_from_vars(rendered) == RefitPolicy(every_days=14, growth=0.5, drift=0.3, force=True)
    assert policy_from_vars({"predictions_refit_every_days": 3, "predictions_refit": False}) == RefitPolicy(every_days=3)
    with pytest.raises(ValueError, match="predictions_refit_growth='ten'"):
        policy_from_vars({"predictions_refit_growth": "ten"})
    with pytest.raises(ValueError, match="every_days"):
        policy_from_vars({"predictions_refit_every_days": "0"})


def test_the_fit_history_round_trips_and_keeps_every_fit():
    con = duckdb.connect()
    assert read_last_fit(con) is None
    meta = {"holdout_predicted_total": 110.0, "holdout_actual_total": 100.0, "first_order_date": "2024-01-02"}
    append_fit(con, "2025-06-02T02:00:00", FIT_DAY, 10, True, "no stored fit", {"meta": meta})
    append_fit(con, "2025-06-09T02:00:00", FIT_DAY + dt.timedelta(days=7), 12, True, "every 7", {"meta": meta})
    last = read_last_fit(con)
    assert (last.fit_id, last.as_of_date, last.customers, last.fit_format) == (2, FIT_DAY + dt.timedelta(days=7), 12, FIT_FORMAT)
    assert last.record["meta"] == meta
    rows = con.execute(
        "select fit_id, first_order_date, round(holdout_relative_error, 6) from model_state.prediction_fits order by 1"
    ).fetchall()
    assert rows == [(1, dt.date(2024, 1, 2), 0.1), (2, dt.date(2024, 1, 2), 0.1)]


@pytest.fixture(scope="module")
def cdnow(cdnow_transactions) -> pl.DataFrame:
    return cdnow_transactions.with_columns(pl.col("customer_id").cast(pl.String))


def test_a_scoring_night_uses_the_stored_parameters_without_fitting(cdnow, monkeypatch):
    end = cdnow["order_date"].max()
    fit_as_of = end - dt.timedelta(days=3)
    first = nightly_predictions(cdnow.filter(pl.col("order_date") <= fit_as_of), fit_as_of, None, POLICY)
    assert first.decision.due and first.fit_record is not None and first.run.meta["refit"] is True

    con = duckdb.connect()
    append_fit(con, first.run.meta["last_fitted_at"], fit_as_of, first.run.scores.height, first.run.skipped is None,
               first.decision.reason, first.fit_record)
    last = read_last_fit(con)

    # Any fit tonight would be a bug: make it fail loudly.
    import models.predictions as predictions
    monkeypatch.setattr(predictions, "fit_bgnbd", lambda *a, **k: pytest.fail("refitted on a scoring night"))
    night = nightly_predictions(cdnow, end, last, POLICY)
    assert not night.decision.due and night.fit_record is None, night.decision.reason
    assert night.run.meta["refit"] is False and night.run.meta["last_fit_as_of_date"] == fit_as_of.isoformat()
    assert night.run.meta["bgnbd_r"] == first.run.meta["bgnbd_r"]
    assert night.run.by_frequency.height == first.run.by_frequency.height > 0

    # The same scores a fresh computation with those parameters gives, as of tonight.
    from models.scoring import score_customers
    from models.summary import customer_summary
    bg, gg = stored_models(first.run.meta)
    expected = score_customers(customer_summary(cdnow, observation_end=end, time_unit="days"), bg, gg)
    assert night.run.scores.equals(expected)
    monkeypatch.undo()
    refit = predict_or_skip(cdnow, end).scores
    assert not night.run.scores.equals(refit)  # a refit would have moved the parameters


def test_the_drift_check_is_the_holdout_check_since_the_fit(cdnow):
    from models.predictions import drift_since_fit
    from models.scoring import holdout_check
    from models.summary import calibration_and_holdout

    end = cdnow["order_date"].max()
    fit_as_of = end - dt.timedelta(days=90)
    bg, _ = stored_models(predict_or_skip(cdnow.filter(pl.col("order_date") <= fit_as_of), fit_as_of).meta)
    expected = holdout_check(calibration_and_holdout(cdnow, fit_as_of, end), bg).summary
    # Orders after tonight's as-of date do not count; datetimes count by day.
    later = pl.DataFrame({"customer_id": ["1"], "order_date": [end + dt.timedelta(days=1)], "amount": [5.0]})
    drift = drift_since_fit(pl.concat([cdnow, later]).with_columns(pl.col("order_date").cast(pl.Datetime)),
                            fit_as_of, end, bg)
    assert drift.actual == expected["actual_total"] > 0
    assert drift.predicted == pytest.approx(expected["predicted_total"], rel=1e-12)
    assert drift_since_fit(cdnow, end, end, bg) is None


def test_a_few_days_after_the_fit_drift_is_not_even_measured(cdnow, monkeypatch):
    import models.predictions as predictions

    end = cdnow["order_date"].max()
    fit_as_of = end - dt.timedelta(days=6)
    first = nightly_predictions(cdnow.filter(pl.col("order_date") <= fit_as_of), fit_as_of, None, POLICY)
    last = StoredFit(1, "2025-01-01T00:00:00", fit_as_of, first.run.scores.height, True, FIT_FORMAT, first.fit_record)
    monkeypatch.setattr(predictions, "drift_since_fit", lambda *a: pytest.fail("drift measured on a 6-day window"))
    night = nightly_predictions(cdnow, end, last, RefitPolicy(every_days=30))
    assert not night.decision.due and "drift judged from 7 days" in night.decision.reason


def test_a_drifted_model_is_refitted(cdnow):
    end = cdnow["order_date"].max()
    fit_as_of = end - dt.timedelta(days=120)
    first = nightly_predictions(cdnow.filter(pl.col("order_date") <= fit_as_of), fit_as_of, None, POLICY)
    meta = dict(first.fit_record["meta"])
    # A stored model that expects ten times the purchases its customers make.
    meta["bgnbd_r"] = meta["bgnbd_r"] * 10
    last = StoredFit(1, "2025-01-01T00:00:00", fit_as_of, first.run.scores.height, True, FIT_FORMAT, {"meta": meta})
    night = nightly_predictions(cdnow, end, last, RefitPolicy(every_days=365, growth=5.0, drift=0.2))
    assert night.decision.due and "drifted" in night.decision.reason, night.decision.reason
    assert night.fit_record is not None


def test_a_shop_too_small_to_fit_is_recorded_and_tried_again(cdnow):
    tiny = cdnow.filter(pl.col("customer_id").cast(pl.Int64) <= 20)
    end = tiny["order_date"].max()
    night = nightly_predictions(tiny, end, None, POLICY)
    assert night.run.skipped and night.fit_record["skipped"] == night.run.skipped
    last = StoredFit(1, "2025-01-01T00:00:00", end, 20, False, FIT_FORMAT, night.fit_record)
    assert nightly_predictions(tiny, end, last, POLICY).decision.due


def test_a_shop_without_qualifying_orders_stores_no_fit(cdnow):
    empty = cdnow.head(0)
    for as_of in (dt.date(2025, 1, 1), None):
        night = nightly_predictions(empty, as_of, None, POLICY)
        assert night.fit_record is None and not night.decision.due
        assert night.run.skipped and night.run.scores.height == 0
