"""Degenerate input must raise the documented, typed errors (never NaN)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.optimize import OptimizeResult

from models.bgnbd import _check_optimiser_result, expected_purchases, fit_bgnbd, p_alive, probability_of_n_purchases
from models.errors import ConvergenceError, InvalidInputError, ModelError, ModelFitError, PredictionError
from models.gamma_gamma import GammaGammaModel, fit_gamma_gamma
from models.scoring import score_customers
from models.summary import calibration_and_holdout, customer_summary

PARAMS = (0.243, 4.414, 0.793, 2.426)


def test_errors_are_value_errors():
    assert issubclass(ModelError, ValueError)
    assert issubclass(ConvergenceError, ModelFitError)


# --- BG/NBD fit --------------------------------------------------------------
def test_bgnbd_empty():
    with pytest.raises(InvalidInputError, match="empty"):
        fit_bgnbd([], [], [])


def test_bgnbd_single_customer():
    with pytest.raises(ModelFitError, match="single customer"):
        fit_bgnbd([2], [10.0], [30.0])


def test_bgnbd_all_customers_identical():
    with pytest.raises(ModelFitError, match="same"):
        fit_bgnbd([2] * 50, [10.0] * 50, [30.0] * 50)


def test_bgnbd_no_repeat_customers():
    with pytest.raises(ModelFitError, match="no customer made a repeat purchase"):
        fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [10.0, 20.0, 30.0])


@pytest.mark.parametrize(
    ("x", "t_x", "T", "match"),
    [
        ([1, np.nan], [1.0, 2.0], [5.0, 5.0], "NaN"),
        ([1, 2], [1.0, np.inf], [5.0, 5.0], "NaN"),
        ([1, -1], [1.0, 2.0], [5.0, 5.0], "negative"),
        ([1, 2], [1.0, 6.0], [5.0, 5.0], "exceed"),
        ([1.5, 2], [1.0, 2.0], [5.0, 5.0], "whole"),
        ([0, 2], [1.0, 2.0], [5.0, 5.0], "recency must be 0"),
        ([1, 2, 3], [1.0, 2.0], [5.0, 5.0], "different lengths"),
    ],
)
def test_bgnbd_invalid_inputs(x, t_x, T, match):
    with pytest.raises(InvalidInputError, match=match):
        fit_bgnbd(x, t_x, T)


def test_bgnbd_non_convergence_names_optimiser_message(cdnow_summary):
    with pytest.raises(ConvergenceError, match="L-BFGS-B: .*ITERATIONS"):
        fit_bgnbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"], maxiter=1)


def test_parameters_at_search_box_edge_are_refused():
    res = OptimizeResult(x=np.array([0.0, 20.0, 0.0, 0.0]), fun=1.0, success=True, nit=5, message="ok")
    with pytest.raises(ModelFitError, match=r"\['alpha'\] diverged"):
        _check_optimiser_result(res, 0.0, "BG/NBD", ("r", "alpha", "a", "b"))


# --- BG/NBD predictions --------------------------------------------------------
def test_predictions_reject_bad_input():
    with pytest.raises(InvalidInputError):
        p_alive(PARAMS, [1], [np.nan], [5.0])
    with pytest.raises(InvalidInputError):
        expected_purchases(PARAMS, -1.0, [1], [1.0], [5.0])
    with pytest.raises(InvalidInputError):
        probability_of_n_purchases(PARAMS, 1.5, 10.0)


# --- Gamma-Gamma -------------------------------------------------------------------
def test_gg_empty():
    with pytest.raises(InvalidInputError, match="empty"):
        fit_gamma_gamma([], [])


def test_gg_no_repeat_customers():
    with pytest.raises(ModelFitError, match="no customer has a repeat purchase"):
        fit_gamma_gamma([0, 0, 0], [0.0, 0.0, 0.0])


def test_gg_single_repeat_customer():
    with pytest.raises(ModelFitError, match="single repeat customer"):
        fit_gamma_gamma([0, 3], [0.0, 12.0])


def test_gg_all_identical():
    with pytest.raises(ModelFitError, match="same"):
        fit_gamma_gamma([2] * 20, [10.0] * 20)


@pytest.mark.parametrize(
    ("x", "m", "match"),
    [([1, 2], [10.0, -1.0], "negative"), ([1, 2], [10.0, np.nan], "NaN"), ([1, 2], [10.0, None], "NaN")],
)
def test_gg_invalid_inputs(x, m, match):
    with pytest.raises(InvalidInputError, match=match):
        fit_gamma_gamma(x, m)


def test_gg_strict_mode_rejects_non_repeat_rows():
    with pytest.raises(InvalidInputError, match="frequency > 0"):
        fit_gamma_gamma([0, 2, 3], [0.0, 1.0, 2.0], drop_non_repeat=False)


def test_gg_non_convergence(cdnow_summary):
    with pytest.raises(ConvergenceError, match="L-BFGS-B"):
        fit_gamma_gamma(cdnow_summary["x"], cdnow_summary["zbar"], maxiter=1)


def test_gg_undefined_mean_spend_raises_instead_of_nan():
    gg = GammaGammaModel(p=2.0, q=0.9, gamma=10.0, log_likelihood=0, n_customers=0, n_fit_rows=0,
                         n_iterations=0, optimizer_message="", gradient_inf_norm=0, frequency_monetary_corr=0)
    with pytest.raises(PredictionError, match="q ="):
        gg.conditional_expected_average_order_value([0, 1], [0.0, 5.0])


# --- summary / scoring --------------------------------------------------------------
def _tx(**overrides):
    data = {"customer_id": [1, 1], "order_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 5)], "amount": [1.0, 2.0]}
    data.update(overrides)
    return pl.DataFrame(data)


def test_summary_empty():
    empty = pl.DataFrame(schema={"customer_id": pl.Int64, "order_date": pl.Date, "amount": pl.Float64})
    with pytest.raises(InvalidInputError, match="empty"):
        customer_summary(empty)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (_tx(amount=[1.0, -2.0]), "negative"),
        (_tx(amount=[1.0, float("nan")]), "NaN"),
        (_tx(amount=[1.0, None]), "null"),
        (_tx(order_date=["2024-01-01", "2024-01-05"]), "Date or Datetime"),
        (_tx().drop("amount"), "lack column"),
    ],
)
def test_summary_invalid_inputs(frame, match):
    with pytest.raises(InvalidInputError, match=match):
        customer_summary(frame)


def test_summary_bad_time_unit_and_window():
    with pytest.raises(InvalidInputError, match="time_unit"):
        customer_summary(_tx(), time_unit="months")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no transaction on or before"):
        customer_summary(_tx(), observation_end=dt.date(2023, 1, 1))
    with pytest.raises(InvalidInputError, match="must be after"):
        calibration_and_holdout(_tx(), dt.date(2024, 2, 1), dt.date(2024, 1, 1))


def test_score_customers_rejects_missing_columns(cdnow_summary):
    bg = fit_bgnbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])
    gg = fit_gamma_gamma(cdnow_summary["x"], cdnow_summary["zbar"])
    with pytest.raises(InvalidInputError, match="lacks column"):
        score_customers(cdnow_summary, bg, gg)
