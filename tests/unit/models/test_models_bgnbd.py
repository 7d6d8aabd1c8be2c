"""BG/NBD against the published CDNOW values (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from models.bgnbd import (
    expected_purchases,
    expected_purchases_unconditional,
    fit_bgnbd,
    negative_log_likelihood_and_gradient,
    p_alive,
    probability_of_n_purchases,
)

PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_TUPLE = tuple(PUBLISHED.values())


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    return fit_bgnbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])


def test_fit_reproduces_published_parameters(fitted):
    for name, value in PUBLISHED.items():
        assert fitted.params[name] == pytest.approx(value, rel=0.01), name
    assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert fitted.n_customers == 2357
    assert fitted.n_fit_rows < 2357  # the collapse actually happened


def test_weighted_distinct_fit_equals_unweighted_fit(cdnow_summary):
    x, t_x, T = (cdnow_summary[c].to_numpy().astype(float) for c in ("x", "t_x", "T"))
    unweighted = fit_bgnbd(x, t_x, T, collapse=False)
    # Distinct rows with explicit counts, fitted without internal collapsing.
    rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    weighted = fit_bgnbd(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts, collapse=False)
    collapsed = fit_bgnbd(x, t_x, T)  # the default path
    for name in PUBLISHED:
        ref = unweighted.params[name]
        assert weighted.params[name] == pytest.approx(ref, rel=5e-5), name
        assert collapsed.params[name] == pytest.approx(ref, rel=5e-5), name
    assert weighted.log_likelihood == pytest.approx(unweighted.log_likelihood, rel=1e-9)


@pytest.mark.parametrize(
    "point", [np.log(PUBLISHED_TUPLE), np.log([1.0, 10.0, 2.0, 0.5]), np.log([3.0, 0.5, 0.2, 8.0])]
)
def test_analytic_gradient_matches_finite_differences(cdnow_summary, point):
    x, t_x, T = (cdnow_summary[c].to_numpy().astype(float) for c in ("x", "t_x", "T"))
    w = np.ones_like(x)

    def f(p):
        return negative_log_likelihood_and_gradient(p, x, t_x, T, w)[0]

    def g(p):
        return negative_log_likelihood_and_gradient(p, x, t_x, T, w)[1]

    err = check_grad(f, g, point, epsilon=1e-7)
    assert err < 1e-5 * max(1.0, float(np.linalg.norm(g(point))))


def test_conditional_expectation_published_example(fitted):
    # Published: 1.226 for x=2, t_x=30.43, T=38.86 over the next 39 weeks.
    assert round(float(expected_purchases(PUBLISHED_TUPLE, 39, 2, 30.43, 38.86)[0]), 3) == 1.226
    assert round(float(fitted.expected_purchases(39, 2, 30.43, 38.86)[0]), 3) == 1.226


def test_unconditional_expectation_with_fitted_params(fitted):
    # Fitted (full-precision MLE) parameters: the published 4-decimal values
    # are matched for t <= 32; at t = 78 the exact value is 1.85797 (checked
    # with mpmath at 40 digits) vs the published 1.8576, i.e. equal to 3
    # decimals, which is also the precision lifetimes' own test uses.
    t = [0.1429, 1, 3, 31.8571, 32]
    expected = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437]
    np.testing.assert_allclose(fitted.expected_purchases_unconditional(t), expected, atol=5e-5)
    assert fitted.expected_purchases_unconditional(78)[0] == pytest.approx(1.8576, abs=5e-4)


def test_probability_of_no_purchase_published_params():
    assert round(float(probability_of_n_purchases(PUBLISHED_TUPLE, 0, 39)[0]), 7) == 0.5737864


def test_purchase_count_distribution_sums_to_one_and_matches_mean(fitted):
    n = np.arange(0, 400)
    probs = fitted.probability_of_n_purchases(n, 39)
    assert np.all(probs >= 0)
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(n @ probs) == pytest.approx(float(fitted.expected_purchases_unconditional(39)[0]), rel=1e-6)


def test_p_alive_bounds_and_monotonic_in_recency(fitted, cdnow_summary):
    pa = fitted.p_alive(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])
    assert np.all((pa >= 0) & (pa <= 1))
    assert np.all(pa[cdnow_summary["x"].to_numpy() == 0] == 1.0)
    t_x = np.linspace(0.5, 38.86, 50)
    curve = fitted.p_alive(np.full(50, 3), t_x, np.full(50, 38.86))
    assert np.all(np.diff(curve) > 0)  # more recent last purchase -> more likely alive


def test_predictions_stay_finite_for_extreme_histories():
    # Reference values computed with mpmath (40 digits) from the textbook
    # formula; the naive float64 formula returns NaN for the x=500 case.
    params = (0.24259290705765948, 4.41353155705167, 0.7928861524723285, 2.4257534551191546)
    cases = [(1000, 500, 30, 38.86), (1e5, 50, 38, 38.86), (365, 1000, 720, 720)]
    reference = [2.422400263164341e-44, 951.715410404649, 425.65662088840133]
    got = [float(expected_purchases(params, *c)[0]) for c in cases]
    np.testing.assert_allclose(got, reference, rtol=1e-10)
    assert p_alive(params, 10_000, 1.0, 10_000.0)[0] == 0.0
    assert expected_purchases_unconditional(params, 0.0)[0] == 0.0


def test_a_equal_one_is_handled(fitted):
    params = (fitted.r, fitted.alpha, 1.0, fitted.b)
    near = (fitted.r, fitted.alpha, 1.0 + 1e-3, fitted.b)
    val = expected_purchases(params, 39, 2, 30.43, 38.86)[0]
    assert np.isfinite(val)
    assert val == pytest.approx(expected_purchases(near, 39, 2, 30.43, 38.86)[0], rel=1e-2)


@pytest.mark.parametrize(
    "params",
    [(0.5, 10.0, 3.0, 4.0), (0.02335, 0.08798, 54.53, 0.364), (0.243, 4.414, 0.793, 2.426)],
)
def test_long_horizons_stay_finite_and_increasing(params):
    # Large a makes the Euler-form 2F1 overflow near z = 1 (NaN before the
    # per-customer choice of form); small a makes the textbook form overflow.
    t = np.array([0.0, 1.0, 1e3, 1e6, 1e9, 1e12])
    values = expected_purchases_unconditional(params, t)
    assert np.all(np.isfinite(values)) and np.all(np.diff(values) > 0)
    r, alpha, a, b = params
    if a > 1 and r >= 0.5:
        # E[X(inf)] = E[1/p] = (a+b-1)/(a-1): purchases until the dropout coin lands.
        assert values[-1] == pytest.approx((a + b - 1) / (a - 1), rel=1e-3)
    cond = expected_purchases(params, 1e9, [0, 3, 300], [0.0, 20.0, 30.0], [40.0, 40.0, 40.0])
    assert np.all(np.isfinite(cond)) and np.all(cond >= 0)


def test_gradient_and_fit_without_one_time_buyers(cdnow_summary):
    # Exercises the likelihood path with no x == 0 rows at all.
    rep = cdnow_summary.filter(cdnow_summary["x"] > 0)
    x, t_x, T = (rep[c].to_numpy().astype(float) for c in ("x", "t_x", "T"))
    w = np.ones_like(x)
    point = np.log(PUBLISHED_TUPLE)
    err = check_grad(
        lambda p: negative_log_likelihood_and_gradient(p, x, t_x, T, w)[0],
        lambda p: negative_log_likelihood_and_gradient(p, x, t_x, T, w)[1],
        point,
        epsilon=1e-7,
    )
    assert err < 1e-5


def test_expected_purchases_at_many_horizons_is_expected_purchases_element_for_element():
    import numpy as np

    from models.bgnbd import expected_purchases, expected_purchases_at
    from models.errors import InvalidInputError

    rng = np.random.default_rng(7)
    n = 5_000
    T = rng.integers(1, 400, n) / 7.0  # weeks: fractional T
    x = rng.poisson(2.0, n).astype(float)
    t_x = np.where(x > 0, np.floor(rng.random(n) * T * 7) / 7.0, 0.0)
    params = (0.24, 4.41, 0.79, 2.43)
    horizons = [0.0, 13.0, 52.0, 400.0]
    got = expected_purchases_at(params, horizons, x, t_x, T)
    for h, values in zip(horizons, got):
        assert np.array_equal(values, expected_purchases(params, h, x, t_x, T)), h
    with pytest.raises(InvalidInputError, match="scalar horizons"):
        expected_purchases_at(params, [[1.0, 2.0]], x, t_x, T)
