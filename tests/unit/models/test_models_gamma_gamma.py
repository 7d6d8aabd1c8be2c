"""Gamma-Gamma against the published CDNOW values and lifetimes' CLV."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from models.bgnbd import BetaGeoModel
from models.gamma_gamma import (
    GammaGammaModel,
    conditional_expected_average_order_value,
    customer_lifetime_value,
    fit_gamma_gamma,
    frequency_monetary_correlation,
    negative_log_likelihood_and_gradient,
)


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    return fit_gamma_gamma(cdnow_summary["x"], cdnow_summary["zbar"])


def test_fit_reproduces_published_parameters(fitted):
    assert fitted.n_customers == 946  # customers with x > 0
    assert fitted.p == pytest.approx(6.25, rel=0.01)
    assert fitted.q == pytest.approx(3.74, rel=0.01)
    assert fitted.gamma == pytest.approx(15.44, rel=0.01)


def test_independence_diagnostic_is_reported(fitted, cdnow_summary):
    rep = cdnow_summary.filter(cdnow_summary["x"] > 0)
    expected = float(np.corrcoef(rep["x"].to_numpy(), rep["zbar"].to_numpy())[0, 1])
    assert fitted.frequency_monetary_corr == pytest.approx(expected, rel=1e-9)
    assert fitted.independence_ok  # CDNOW: corr ~ 0.11
    assert frequency_monetary_correlation([1, 2, 3], [5.0, 5.0, 5.0]) == 0.0


def test_weighted_distinct_fit_equals_unweighted_fit(cdnow_summary):
    unweighted = fit_gamma_gamma(cdnow_summary["x"], cdnow_summary["zbar"], collapse=False)
    collapsed = fit_gamma_gamma(cdnow_summary["x"], cdnow_summary["zbar"])
    for name in ("p", "q", "gamma"):
        assert collapsed.params[name] == pytest.approx(unweighted.params[name], rel=5e-5)


def test_analytic_gradient_matches_finite_differences(cdnow_summary):
    rep = cdnow_summary.filter(cdnow_summary["x"] > 0)
    x, m = rep["x"].to_numpy().astype(float), rep["zbar"].to_numpy()
    w = np.ones_like(x)
    for point in (np.log([6.25, 3.74, 15.44]), np.log([1.0, 2.0, 30.0])):
        err = check_grad(
            lambda p: negative_log_likelihood_and_gradient(p, x, m, w)[0],
            lambda p: negative_log_likelihood_and_gradient(p, x, m, w)[1],
            point,
            epsilon=1e-7,
        )
        assert err < 1e-5


def test_conditional_aov_blends_population_and_individual_means(fitted):
    pop = fitted.population_mean_spend
    assert conditional_expected_average_order_value(fitted, 0, 0.0)[0] == pytest.approx(pop)
    # More repeat purchases -> closer to the customer's own mean.
    vals = fitted.conditional_expected_average_order_value([1, 5, 50], [100.0, 100.0, 100.0])
    assert np.all(np.diff(vals) > 0) and vals[-1] < 100.0


def _lifetimes_daily_models():
    # Parameters and outputs recorded from lifetimes 0.11.3 (throw-away venv,
    # see bench/bench_models.py) on the *daily* CDNOW calibration summary.
    bg = BetaGeoModel(0.24259454342106726, 30.8952190125417, 0.7929218333480184, 2.4259057287223205, 0, 0, 0, 0, "", 0)
    gg = GammaGammaModel(6.249572277633115, 3.744224674758777, 15.44352101837173, 0, 0, 0, 0, "", 0, 0)
    return bg, gg


def test_clv_matches_lifetimes_dcf_sum():
    bg, gg = _lifetimes_daily_models()
    # customers 1..3 of CDNOW in days: (x, t_x, T, m)
    x, t_x, T, m = [2, 1, 0], [213.0, 12.0, 0.0], [272.0, 272.0, 272.0], [22.345, 11.77, 0.0]
    clv = customer_lifetime_value(bg, gg, x, t_x, T, m, horizon_months=12, monthly_discount_rate=0.01, time_unit_days=1)
    np.testing.assert_allclose(clv, [35.866580315548966, 4.587473130638713, 8.244009825891549], rtol=1e-9)


def test_clv_is_unit_invariant():
    bg_d, gg = _lifetimes_daily_models()
    bg_w = BetaGeoModel(bg_d.r, bg_d.alpha / 7, bg_d.a, bg_d.b, 0, 0, 0, 0, "", 0)
    days = customer_lifetime_value(bg_d, gg, [2], [213.0], [272.0], [22.345], time_unit_days=1)
    weeks = customer_lifetime_value(bg_w, gg, [2], [213.0 / 7], [272.0 / 7], [22.345], time_unit_days=7)
    assert weeks[0] == pytest.approx(days[0], rel=1e-10)
