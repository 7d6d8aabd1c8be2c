"""BG/NBD purchase-and-dropout model (Fader, Hardie & Lee 2005).

Each customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)`` while alive
and, after every purchase, drops out with probability ``p ~ Beta(a, b)``.
Inputs per customer are the calibration summary: ``x`` = repeat purchase
count (frequency), ``t_x`` = time of the last purchase since the first
(recency), ``T`` = time since the first purchase to the calibration end.
Times are in whatever unit the summary used (days or weeks); ``alpha`` is in
that unit, the other parameters are unit-free.

Why the fit is fast: the likelihood is a sum over customers and in practice
a million customers collapse to a few thousand distinct ``(x, t_x, T)`` rows,
so we fit on distinct rows weighted by their counts with an analytic
gradient (L-BFGS-B in log-parameter space, which keeps all four parameters
positive without constraints on the natural scale).  Even without that
collapse, the special functions are evaluated once per distinct x only.

Degenerate input (see docs/predictive-models.md): empty input, a single
customer, all customers identical, no repeat customer at all, or parameters
that run to the edge of the search box raise :class:`ModelFitError`; an
optimiser that stops without converging raises :class:`ConvergenceError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1

from models._validation import (
    as_float_array,
    check_integer_valued,
    check_non_negative,
    collapse_distinct,
    ensure_finite_output,
    validate_rfm,
    validate_weights,
)
from models.errors import ConvergenceError, InvalidInputError, ModelFitError

PARAM_NAMES: tuple[str, ...] = ("r", "alpha", "a", "b")

# Search box in log space: exp(+-20) spans 2e-9 .. 5e8, far wider than any
# sensible parameter; hitting it means the data do not identify the model.
_LOG_BOUND = 20.0
_BOUND_SLACK = 1e-3
# L-BFGS-B sometimes reports ABNORMAL_TERMINATION_IN_LNSRCH *at* the optimum
# (no further decrease representable in float64).  We accept that only if the
# gradient of the mean log-likelihood is already this small.
_ACCEPT_GRAD_INF_NORM = 1e-5
# Below this |a - 1| the closed forms' (a - 1) division cancels badly.
_A_NEAR_ONE = 1e-7


# ---------------------------------------------------------------------------
# Likelihood
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _BGData:
    """Fit data plus what the likelihood can precompute once.

    Two savings over a row-by-row evaluation:
    * the special functions (gammaln, betaln, digamma) depend on a row only
      through x, which takes few distinct values: they are evaluated once per
      distinct x with the summed weight;
    * for x == 0 rows (typically most customers) the A3/A4 mixture reduces to
      A3 = -r ln(alpha+T), so those rows are kept apart and need one log.
    """

    wsum: float
    xu: np.ndarray  # distinct x values (all rows)
    wu: np.ndarray  # summed weight per distinct x
    T0: np.ndarray  # x == 0 rows: T
    w0: np.ndarray  # x == 0 rows: weights
    x1: np.ndarray  # x > 0 rows: x, t_x, T, weights
    t_x1: np.ndarray
    T1: np.ndarray
    w1: np.ndarray
    inv1: np.ndarray  # x > 0 row -> index into xu1
    xu1: np.ndarray  # distinct x among x > 0 rows


def _prepare(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> _BGData:
    xu, inv = np.unique(x, return_inverse=True)
    rep = x > 0
    xu1, inv1 = np.unique(x[rep], return_inverse=True)
    return _BGData(
        wsum=float(w.sum()),
        xu=xu,
        wu=np.bincount(inv, weights=w, minlength=xu.shape[0]),
        T0=T[~rep],
        w0=w[~rep],
        x1=x[rep],
        t_x1=t_x[rep],
        T1=T[rep],
        w1=w[rep],
        inv1=inv1,
        xu1=xu1,
    )


def _nll_and_grad(log_params: np.ndarray, d: _BGData) -> tuple[float, np.ndarray]:
    """Weighted mean negative log-likelihood and gradient in log-parameters.

    Per customer (FHL 2005 eq. 6):
      ll = A1 + A2 + log(exp(A3) + [x>0] exp(A4)),
      A1 = lnG(r+x) - lnG(r) + r ln(alpha),  A2 = lnB(a, b+x) - lnB(a, b),
      A3 = -(r+x) ln(alpha+T),  A4 = ln(a) - ln(b+x-1) - (r+x) ln(alpha+t_x).
    The two-branch term uses logaddexp so it never underflows to log(0) for
    heavy buyers with long histories.  The *mean* (not the sum) makes the
    optimiser tolerances independent of the number of customers, so weighted
    and unweighted fits stop at the same point.
    """
    r, alpha, a, b = np.exp(log_params)
    wsum, xu, wu = d.wsum, d.xu, d.wu
    log_alpha = np.log(alpha)
    psi_ab = digamma(a + b)

    # x-only parts (A1, A2 and their derivatives), once per distinct x.
    rxu = r + xu
    psi_abxu = digamma(a + b + xu)
    ll_sum = float(wu @ (gammaln(rxu) + betaln(a, b + xu))) + wsum * (r * log_alpha - gammaln(r) - betaln(a, b))
    g_r = float(wu @ digamma(rxu)) + wsum * (log_alpha - digamma(r))
    g_alpha = wsum * r / alpha
    g_a = wsum * psi_ab - float(wu @ psi_abxu)
    g_b = wsum * (psi_ab - digamma(b)) + float(wu @ (digamma(b + xu) - psi_abxu))

    # x == 0 rows: the mixture is just A3 = -r ln(alpha+T).
    if d.T0.shape[0]:
        log_alpha_T0 = np.log(alpha + d.T0)
        s0 = float(d.w0 @ log_alpha_T0)
        ll_sum -= r * s0
        g_r -= s0
        g_alpha -= r * float(d.w0 @ (1.0 / (alpha + d.T0)))

    # x > 0 rows: the A3/A4 mixture.
    if d.x1.shape[0]:
        rx = r + d.x1
        log_alpha_T = np.log(alpha + d.T1)
        log_alpha_tx = np.log(alpha + d.t_x1)
        log_b_x1 = np.log(b + d.xu1 - 1.0)
        a3 = -rx * log_alpha_T
        a4 = (np.log(a) - log_b_x1[d.inv1]) - rx * log_alpha_tx
        lse = np.logaddexp(a3, a4)
        # Posterior weights of the two branches.
        ww3 = d.w1 * np.exp(a3 - lse)
        ww4 = d.w1 * np.exp(a4 - lse)
        ll_sum += float(d.w1 @ lse)
        g_r -= float(ww3 @ log_alpha_T + ww4 @ log_alpha_tx)
        g_alpha -= float(rx @ (ww3 / (alpha + d.T1) + ww4 / (alpha + d.t_x1)))
        g_a += float(ww4.sum()) / a
        g_b -= float(np.bincount(d.inv1, weights=ww4, minlength=d.xu1.shape[0]) @ np.exp(-log_b_x1))

    value = -ll_sum / wsum
    # Chain rule for theta = exp(log_theta).
    grad = -np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b]) / wsum
    return value, grad


def negative_log_likelihood_and_gradient(
    log_params: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Weighted mean negative log-likelihood and its gradient w.r.t.
    ``log([r, alpha, a, b])`` (the objective the fit minimises; public so the
    analytic gradient can be checked against finite differences)."""
    return _nll_and_grad(np.asarray(log_params, dtype=float), _prepare(x, t_x, T, weights))


# ---------------------------------------------------------------------------
# Fitted model
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BetaGeoModel:
    """A fitted BG/NBD model plus the fit diagnostics worth logging.

    ``log_likelihood`` is the (weighted) *sum* over customers, comparable to
    the published -9582.4 on CDNOW.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: float
    n_fit_rows: int  # rows the likelihood ran on (distinct rows if collapsed)
    n_iterations: int
    optimizer_message: str
    gradient_inf_norm: float

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def p_alive(self, x: Any, t_x: Any, T: Any) -> np.ndarray:
        return p_alive(self.params_tuple, x, t_x, T)

    def expected_purchases(self, t: Any, x: Any, t_x: Any, T: Any) -> np.ndarray:
        return expected_purchases(self.params_tuple, t, x, t_x, T)

    def expected_purchases_at(self, horizons: Any, x: Any, t_x: Any, T: Any) -> list[np.ndarray]:
        return expected_purchases_at(self.params_tuple, horizons, x, t_x, T)

    def expected_purchases_unconditional(self, t: Any) -> np.ndarray:
        return expected_purchases_unconditional(self.params_tuple, t)

    def probability_of_n_purchases(self, n: Any, t: Any) -> np.ndarray:
        return probability_of_n_purchases(self.params_tuple, n, t)

    @property
    def params_tuple(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)


def _initial_log_params(x: np.ndarray, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Start at r = a = b = 1 with alpha matching the mean purchase rate.

    Any positive start works in principle; matching the time scale of alpha
    to the data (days vs weeks) saves iterations and avoids a first line
    search that overshoots by orders of magnitude.
    """
    mean_x = float(w @ x) / w.sum()
    mean_T = float(w @ T) / w.sum()
    alpha0 = max(mean_T, 1e-6) / max(mean_x, 1e-3)
    return np.log(np.array([1.0, alpha0, 1.0, 1.0]))


def fit_bgnbd(
    frequency: Any,
    recency: Any,
    T: Any,
    *,
    weights: Any = None,
    collapse: bool = True,
    initial_params: tuple[float, float, float, float] | None = None,
    ftol: float = 1e-13,
    gtol: float = 1e-9,
    maxiter: int = 2000,
) -> BetaGeoModel:
    """Maximum-likelihood BG/NBD fit.

    Args:
        frequency, recency, T: per-customer ``x``, ``t_x``, ``T`` (same time
            unit for recency and T).
        weights: optional positive counts per row (e.g. pre-aggregated rows).
        collapse: fit on distinct ``(x, t_x, T)`` rows with summed weights;
            exact, and 100x+ faster on large customer bases.  ``False`` is
            kept for verification.
        initial_params: natural-scale start ``(r, alpha, a, b)``.

    Raises:
        InvalidInputError: empty, NaN, negative, non-integer x, t_x > T.
        ModelFitError: one customer, all customers identical, no repeat
            customer (the dropout process is then not identified), or a
            parameter diverging to the search-box edge.
        ConvergenceError: the optimiser did not converge (message included).
    """
    x, t_x, T_arr = validate_rfm(frequency, recency, T)
    n = x.shape[0]
    if n == 0:
        raise InvalidInputError("cannot fit BG/NBD on empty input (0 customers)")
    w = validate_weights(weights, n)
    if collapse:
        cols, w = collapse_distinct({"x": x, "t_x": t_x, "T": T_arr}, w)
        x, t_x, T_arr = cols["x"], cols["t_x"], cols["T"]
    n_customers = float(w.sum())

    if n == 1:
        raise ModelFitError(
            "cannot fit BG/NBD on a single customer: 4 parameters are not identified by one observation"
        )
    if all(np.all(v == v[0]) for v in (x, t_x, T_arr)):
        raise ModelFitError(
            "cannot fit BG/NBD: all customers have the same (frequency, recency, T); "
            "the likelihood has no finite maximum"
        )
    if not np.any(x > 0):
        raise ModelFitError(
            "cannot fit BG/NBD: no customer made a repeat purchase (all frequency == 0), "
            "so purchase rate and dropout cannot be told apart"
        )

    if initial_params is not None:
        x0 = np.log(np.asarray(initial_params, dtype=float))
    else:
        x0 = _initial_log_params(x, T_arr, w)
    res = minimize(
        _nll_and_grad,
        x0,
        args=(_prepare(x, t_x, T_arr, w),),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
        options={"ftol": ftol, "gtol": gtol, "maxiter": maxiter},
    )
    grad_inf = float(np.max(np.abs(res.jac)))
    _check_optimiser_result(res, grad_inf, "BG/NBD", PARAM_NAMES)
    r, alpha, a, b = (float(v) for v in np.exp(res.x))
    return BetaGeoModel(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=-float(res.fun) * n_customers,
        n_customers=n_customers,
        n_fit_rows=int(x.shape[0]),
        n_iterations=int(res.nit),
        optimizer_message=str(res.message),
        gradient_inf_norm=grad_inf,
    )


def _check_optimiser_result(res: Any, grad_inf: float, model: str, names: tuple[str, ...]) -> None:
    """Shared post-fit checks (also used by the Gamma-Gamma fit)."""
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
        raise ConvergenceError(f"{model} fit produced non-finite values (L-BFGS-B: {res.message})")
    if not res.success and grad_inf > _ACCEPT_GRAD_INF_NORM:
        raise ConvergenceError(
            f"{model} fit did not converge after {res.nit} iterations "
            f"(L-BFGS-B: {res.message}; max |gradient| {grad_inf:.3g})"
        )
    at_edge = [nm for nm, v in zip(names, res.x) if abs(v) >= _LOG_BOUND - _BOUND_SLACK]
    if at_edge:
        raise ModelFitError(
            f"{model} parameter(s) {at_edge} diverged to the edge of the search box "
            f"(exp(+-{_LOG_BOUND:g})): the data do not identify the model"
        )


Params = tuple[float, float, float, float]


# ---------------------------------------------------------------------------
# Predictions (pure functions of the natural-scale parameters)
# ---------------------------------------------------------------------------
def _log_odds_dead(params: Params, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log of ``a/(b+x-1) * ((alpha+T)/(alpha+t_x))**(r+x)``; -inf for x == 0.

    Kept in log space: the power overflows float64 for heavy buyers who went
    quiet (large x, T >> t_x), which would otherwise yield inf/inf = NaN.
    """
    r, alpha, a, b = params
    with np.errstate(divide="ignore"):
        val = (
            np.log(a)
            - np.log(b + np.maximum(x, 1.0) - 1.0)
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
    return np.where(x > 0, val, -np.inf)


def p_alive(params: tuple[float, float, float, float], x: Any, t_x: Any, T: Any) -> np.ndarray:
    """P(customer still alive at T | x, t_x, T); exactly 1 when x == 0 (the
    model only allows dropout right after a purchase)."""
    xa, ta, Ta = validate_rfm(x, t_x, T)
    return ensure_finite_output("p_alive", expit(-_log_odds_dead(params, xa, ta, Ta)))


def _one_minus_g(params: tuple[float, float, float, float], t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)].

    The textbook form multiplies a vanishing power by a hypergeometric that
    explodes as x and t grow (2F1(r+x, b+x; ...) overflows for x in the
    hundreds).  Euler's transformation
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns it into
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose first two arguments do
    not grow with x, so the series stays bounded and accurate.
    """
    r, alpha, a, b = params
    if abs(a - 1.0) < _A_NEAR_ONE:
        # Removable singularity at a = 1: average the two sides (central
        # difference, O(h^2) error) instead of dividing 0 by 0.
        h = 1e-4
        return 0.5 * (_one_minus_g((r, alpha, 1.0 + h, b), t, x, T) + _one_minus_g((r, alpha, 1.0 - h, b), t, x, T))
    log_1mz = np.log(alpha + T) - np.log(alpha + T + t)
    z = t / (alpha + T + t)
    c = a + b + x - 1.0
    # Each form's 2F1 stays finite as z -> 1 only if its c - A - B > 0:
    # x + r + 1 - a for the Euler form, a - 1 - r - x for the textbook one.
    # Exactly one holds, so pick per customer; otherwise (1-z)^k underflows
    # to 0 while 2F1 overflows to inf and the product is NaN for long horizons.
    euler = x + r + 1.0 - a > 0
    g = np.empty_like(z)
    e, o = euler, ~euler
    g[e] = np.exp((a - 1.0) * log_1mz[e]) * hyp2f1(a + b - 1.0 - r, a - 1.0, c[e], z[e])
    g[o] = np.exp((r + x[o]) * log_1mz[o]) * hyp2f1(r + x[o], b + x[o], c[o], z[o])
    return c / (a - 1.0) * (1.0 - g)


def _validate_horizon(t: Any) -> np.ndarray:
    ta = as_float_array("t", t)
    check_non_negative("t", ta)
    return ta


def expected_purchases(params: tuple[float, float, float, float], t: Any, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """E[X(T, T+t) | x, t_x, T]: expected repeat purchases in the next ``t``.

    FHL (2005) eq. 10, evaluated via Euler's transformation (see
    ``_one_minus_g``) and with p_alive in log space; 0 at t == 0.
    """
    xa, ta, Ta = validate_rfm(x, t_x, T)
    tt = _validate_horizon(t)
    tt, xa, ta, Ta = np.broadcast_arrays(tt, xa, ta, Ta)
    alive = expit(-_log_odds_dead(params, xa, ta, Ta))
    out = _one_minus_g(params, tt, xa, Ta) * alive
    return ensure_finite_output("expected_purchases", out)


def expected_purchases_at(params: tuple[float, float, float, float], horizons: Any, x: Any, t_x: Any,
                          T: Any) -> list[np.ndarray]:
    """:func:`expected_purchases` at each scalar horizon, for many customers at once.

    The same numbers, element for element: the hypergeometric factor depends
    on a customer only through (x, T), so it is evaluated once per distinct
    pair (a few thousand on a shop of a million customers, whose t_x and
    spend are nearly all distinct) and P(alive) once per customer.
    """
    xa, ta, Ta = validate_rfm(x, t_x, T)
    alive = expit(-_log_odds_dead(params, xa, ta, Ta))
    # One complex number per (x, T) pair: a 1-d unique, much faster than unique(axis=...).
    pairs, inverse = np.unique(xa + 1j * Ta, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = []
    for t in horizons:
        tt = _validate_horizon(t)
        if tt.size != 1:
            raise InvalidInputError(f"expected_purchases_at takes scalar horizons, got {tt.size} values")
        g = _one_minus_g(params, np.full(pairs.shape[0], float(tt.reshape(-1)[0])), pairs.real, pairs.imag)
        out.append(ensure_finite_output("expected_purchases", g[inverse] * alive))
    return out


def expected_purchases_unconditional(params: tuple[float, float, float, float], t: Any) -> np.ndarray:
    """E[X(t)] for a new customer over ``t`` from the first purchase (FHL eq. 9).

    Equals the conditional formula at x = t_x = T = 0 (p_alive = 1).
    """
    tt = _validate_horizon(t)
    zeros = np.zeros_like(tt)
    return ensure_finite_output("expected_purchases_unconditional", _one_minus_g(params, tt, zeros, zeros))


def probability_of_n_purchases(params: tuple[float, float, float, float], n: Any, t: Any) -> np.ndarray:
    """P(X(t) = n) for a randomly chosen new customer (FHL 2005 eq. 8).

    The finite sum sum_{j<n} NB(j) in the paper is a negative-binomial CDF,
    computed as a regularised incomplete beta (``betainc``) instead of a
    loop, which is exact and stable for large n.
    """
    r, alpha, a, b = params
    na = as_float_array("n", n)
    check_non_negative("n", na)
    check_integer_valued("n", na)
    tt = _validate_horizon(t)
    na, tt = np.broadcast_arrays(na, tt)
    log_p = np.log(alpha) - np.log(alpha + tt)  # log(alpha/(alpha+t))
    with np.errstate(divide="ignore"):
        log_q = np.log(tt) - np.log(alpha + tt)  # log(t/(alpha+t)); -inf at t=0
        nb_pmf_log = gammaln(r + na) - gammaln(r) - gammaln(na + 1.0) + r * log_p + np.where(na > 0, na * log_q, 0.0)
    first = np.exp(betaln(a, b + na) - betaln(a, b) + nb_pmf_log)
    # P(NB(r, p) >= n) = I_{t/(alpha+t)}(n, r) for n >= 1.
    q = tt / (alpha + tt)
    sf = np.where(na > 0, betainc(np.maximum(na, 1.0), r, q), 0.0)
    second = np.where(na > 0, np.exp(betaln(a + 1.0, b + np.maximum(na, 1.0) - 1.0) - betaln(a, b)) * sf, 0.0)
    return ensure_finite_output("probability_of_n_purchases", first + second)
