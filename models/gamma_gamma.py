"""Gamma-Gamma spend model (Fader & Hardie, "The Gamma-Gamma Model of
Monetary Value", 2013 note) and the discounted customer lifetime value.

A customer's transaction values are Gamma(p, nu) with ``nu ~ Gamma(q, gamma)``
across customers.  Only repeat transactions are used (x > 0, the mean spend
over repeat purchase days ``m > 0``), because the first purchase is often
atypical (acquisition offers) and is excluded from ``monetary_value`` by
:func:`models.summary.customer_summary`.

Key assumption: spend is independent of purchase frequency.  The fit reports
the Pearson correlation between x and m in :attr:`GammaGammaModel.frequency_monetary_corr`;
if ``|corr| > 0.3`` the CLV numbers should be treated with caution (see
docs/predictive-models.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from models._validation import (
    as_float_array,
    broadcast_same_length,
    check_integer_valued,
    check_non_negative,
    collapse_distinct,
    ensure_finite_output,
    validate_weights,
)
from models.bgnbd import _LOG_BOUND, BetaGeoModel, _check_optimiser_result
from models.errors import InvalidInputError, ModelFitError, PredictionError

PARAM_NAMES: tuple[str, ...] = ("p", "q", "gamma")

#: |Pearson(frequency, monetary value)| above which the independence
#: assumption is considered doubtful (documented rule of thumb).
INDEPENDENCE_CORR_WARN = 0.3


class IndependenceAssumptionWarning(UserWarning):
    """Frequency and monetary value are correlated beyond the threshold."""


@dataclass(frozen=True)
class _GGData:
    """Fit data with the parameter-free pieces precomputed once.

    As in the BG/NBD fit, the special functions depend on a row only through
    x, so they are evaluated once per distinct x with the summed weight.
    """

    x: np.ndarray
    xm: np.ndarray  # x * m
    w: np.ndarray
    wx: np.ndarray  # w * x
    wsum: float
    xu: np.ndarray
    wu: np.ndarray
    const_p: float  # sum w x (ln m + ln x): the coefficient of p in the log-likelihood
    const: float  # -sum w ln m


def _prepare(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> _GGData:
    xu, inv = np.unique(x, return_inverse=True)
    log_m, log_x = np.log(m), np.log(x)
    return _GGData(
        x=x,
        xm=x * m,
        w=w,
        wx=w * x,
        wsum=float(w.sum()),
        xu=xu,
        wu=np.bincount(inv, weights=w, minlength=xu.shape[0]),
        const_p=float((w * x) @ (log_m + log_x)),
        const=-float(w @ log_m),
    )


def _nll_and_grad(log_params: np.ndarray, d: _GGData) -> tuple[float, np.ndarray]:
    """Weighted mean negative log-likelihood and gradient in log-parameters.

    Per customer (same form as ``lifetimes``, so parameters are comparable):
      ll = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + (px-1) ln(m)
           + px ln(x) - (px+q) ln(x m + gamma).
    """
    p, q, g = np.exp(log_params)
    wsum, xu, wu = d.wsum, d.xu, d.wu
    pxu = p * xu
    psi_pxqu = digamma(pxu + q)
    log_q_g = np.log(g)

    log_xm_g = np.log(d.xm + g)
    pxq = p * d.x + q
    ll_sum = (
        float(wu @ (gammaln(pxu + q) - gammaln(pxu)))
        + wsum * (q * log_q_g - gammaln(q))
        + p * d.const_p
        + d.const
        - float(d.w @ (pxq * log_xm_g))
    )
    g_p = float(wu @ (xu * (psi_pxqu - digamma(pxu)))) + d.const_p - float(d.wx @ log_xm_g)
    g_q = float(wu @ psi_pxqu) + wsum * (log_q_g - digamma(q)) - float(d.w @ log_xm_g)
    g_g = wsum * q / g - float(d.w @ (pxq / (d.xm + g)))
    value = -ll_sum / wsum
    grad = -np.array([g_p * p, g_q * q, g_g * g]) / wsum
    return value, grad


def negative_log_likelihood_and_gradient(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted mean negative log-likelihood of the observed mean spends and
    its gradient w.r.t. ``log([p, q, gamma])`` (the objective the fit
    minimises; public so the gradient can be checked numerically)."""
    return _nll_and_grad(np.asarray(log_params, dtype=float), _prepare(x, m, weights))


@dataclass(frozen=True)
class GammaGammaModel:
    """Fitted Gamma-Gamma model with its diagnostics.

    ``frequency_monetary_corr`` is the weighted Pearson correlation between x
    and m on the fitted customers: the independence check, kept on the model
    so the pipeline can publish it next to the parameters.
    """

    p: float
    q: float
    gamma: float
    log_likelihood: float
    n_customers: float
    n_fit_rows: int  # rows the likelihood ran on (distinct rows if collapsed)
    n_iterations: int
    optimizer_message: str
    gradient_inf_norm: float
    frequency_monetary_corr: float

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def independence_ok(self) -> bool:
        return abs(self.frequency_monetary_corr) <= INDEPENDENCE_CORR_WARN

    @property
    def population_mean_spend(self) -> float:
        """E[spend] of a new customer, p*gamma/(q-1); undefined for q <= 1."""
        if self.q <= 1.0:
            raise PredictionError(f"Gamma-Gamma q = {self.q:.4g} <= 1: the population mean spend is infinite")
        return self.p * self.gamma / (self.q - 1.0)

    def conditional_expected_average_order_value(self, x: Any, m: Any) -> np.ndarray:
        return conditional_expected_average_order_value(self, x, m)


def frequency_monetary_correlation(x: Any, m: Any, weights: Any = None) -> float:
    """Weighted Pearson correlation between frequency and mean spend.

    Returns 0.0 when either variable is constant (correlation undefined, and
    no evidence of dependence), never NaN.
    """
    xa = as_float_array("frequency", x)
    ma = as_float_array("monetary_value", m)
    xa, ma = broadcast_same_length(frequency=xa, monetary_value=ma)
    w = validate_weights(weights, xa.shape[0])
    if xa.shape[0] == 0:
        raise InvalidInputError("cannot compute a correlation on empty input")
    wn = w / w.sum()
    dx = xa - wn @ xa
    dm = ma - wn @ ma
    vx, vm = wn @ (dx * dx), wn @ (dm * dm)
    if vx <= 0 or vm <= 0:
        return 0.0
    return float((wn @ (dx * dm)) / np.sqrt(vx * vm))


def _validate_spend(x: Any, m: Any) -> tuple[np.ndarray, np.ndarray]:
    xa = as_float_array("frequency", x)
    ma = as_float_array("monetary_value", m)
    xa, ma = broadcast_same_length(frequency=xa, monetary_value=ma)
    check_non_negative("frequency", xa)
    check_integer_valued("frequency", xa)
    check_non_negative("monetary_value", ma)
    return xa, ma


def fit_gamma_gamma(
    frequency: Any,
    monetary_value: Any,
    *,
    weights: Any = None,
    collapse: bool = True,
    drop_non_repeat: bool = True,
    initial_params: tuple[float, float, float] | None = None,
    ftol: float = 1e-13,
    gtol: float = 1e-9,
    maxiter: int = 2000,
    warn_on_dependence: bool = True,
) -> GammaGammaModel:
    """Maximum-likelihood Gamma-Gamma fit on repeat customers.

    Args:
        frequency, monetary_value: per-customer x and mean repeat spend m.
        drop_non_repeat: silently drop rows with x == 0 or m == 0 (the usual
            case: pass the whole customer summary).  With ``False`` such rows
            are an error.

    Raises:
        InvalidInputError: empty, NaN, negative input (or x==0/m==0 rows when
            ``drop_non_repeat`` is False).
        ModelFitError: no repeat customer with positive spend, one customer,
            all customers identical, or diverging parameters.
        ConvergenceError: optimiser did not converge (message included).
    """
    x, m = _validate_spend(frequency, monetary_value)
    if x.shape[0] == 0:
        raise InvalidInputError("cannot fit Gamma-Gamma on empty input (0 customers)")
    w = validate_weights(weights, x.shape[0])
    keep = (x > 0) & (m > 0)
    if not drop_non_repeat and not np.all(keep):
        raise InvalidInputError("Gamma-Gamma needs frequency > 0 and monetary_value > 0 for every row")
    x, m, w = x[keep], m[keep], w[keep]
    n = x.shape[0]
    if n == 0:
        raise ModelFitError(
            "cannot fit Gamma-Gamma: no customer has a repeat purchase with positive spend "
            "(frequency > 0 and monetary_value > 0)"
        )
    if n == 1:
        raise ModelFitError("cannot fit Gamma-Gamma on a single repeat customer")
    corr = frequency_monetary_correlation(x, m, w)
    if collapse:
        cols, w = collapse_distinct({"x": x, "m": m}, w)
        x, m = cols["x"], cols["m"]
    if np.all(x == x[0]) and np.all(m == m[0]):
        raise ModelFitError(
            "cannot fit Gamma-Gamma: all repeat customers have the same (frequency, monetary_value); "
            "the spend heterogeneity is not identified"
        )
    if warn_on_dependence and abs(corr) > INDEPENDENCE_CORR_WARN:
        warnings.warn(
            f"frequency/monetary correlation {corr:.3f} exceeds {INDEPENDENCE_CORR_WARN}: "
            "the Gamma-Gamma independence assumption is doubtful",
            IndependenceAssumptionWarning,
            stacklevel=2,
        )

    if initial_params is not None:
        x0 = np.log(np.asarray(initial_params, dtype=float))
    else:
        # p = 1, q = 2 makes the prior mean spend equal gamma: start it at the
        # observed mean so the scale (cents vs dollars) never matters.
        x0 = np.log(np.array([1.0, 2.0, max(float(w @ m) / w.sum(), 1e-9)]))
    res = minimize(
        _nll_and_grad,
        x0,
        args=(_prepare(x, m, w),),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 3,
        options={"ftol": ftol, "gtol": gtol, "maxiter": maxiter},
    )
    grad_inf = float(np.max(np.abs(res.jac)))
    _check_optimiser_result(res, grad_inf, "Gamma-Gamma", PARAM_NAMES)
    p, q, g = (float(v) for v in np.exp(res.x))
    n_customers = float(w.sum())
    return GammaGammaModel(
        p=p,
        q=q,
        gamma=g,
        log_likelihood=-float(res.fun) * n_customers,
        n_customers=n_customers,
        n_fit_rows=int(x.shape[0]),
        n_iterations=int(res.nit),
        optimizer_message=str(res.message),
        gradient_inf_norm=grad_inf,
        frequency_monetary_corr=corr,
    )


def conditional_expected_average_order_value(model: GammaGammaModel, x: Any, m: Any) -> np.ndarray:
    """E[spend per transaction | x, m] = p (gamma + x m) / (p x + q - 1).

    A credibility-weighted blend of the population mean p*gamma/(q-1) and the
    customer's own mean m; customers with x == 0 get the population mean (their
    m is ignored).  Raises :class:`PredictionError` if q <= 1 (mean undefined).
    """
    xa, ma = _validate_spend(x, m)
    mean_pop = model.population_mean_spend  # raises for q <= 1
    weight = model.p * xa / (model.p * xa + model.q - 1.0)
    out = (1.0 - weight) * mean_pop + weight * np.where(xa > 0, ma, 0.0)
    return ensure_finite_output("conditional_expected_average_order_value", out)


def customer_lifetime_value(
    bgnbd_model: BetaGeoModel,
    gg_model: GammaGammaModel,
    x: Any,
    t_x: Any,
    T: Any,
    m: Any,
    *,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_unit_days: float = 1.0,
    days_per_month: float = 30.0,
) -> np.ndarray:
    """Discounted expected revenue over ``horizon_months`` (the ``lifetimes``
    DCF sum): sum_i (E[X(i)] - E[X(i-1)]) * E[spend] / (1 + d)^i.

    ``time_unit_days`` is the length of the models' time unit in days (1 for
    a daily summary, 7 for weekly); a month is ``days_per_month`` days (30, as
    ``lifetimes`` uses for daily data; note lifetimes uses 4.345 weeks, i.e.
    30.4 days, for weekly data, so weekly CLVs differ slightly).
    """
    if horizon_months < 0 or int(horizon_months) != horizon_months:
        raise InvalidInputError("horizon_months must be a non-negative integer")
    if not np.isfinite(monthly_discount_rate) or monthly_discount_rate <= -1.0:
        raise InvalidInputError("monthly_discount_rate must be finite and > -1")
    if not (time_unit_days > 0 and days_per_month > 0):
        raise InvalidInputError("time_unit_days and days_per_month must be positive")
    spend = conditional_expected_average_order_value(gg_model, x, m)
    period = days_per_month / time_unit_days
    clv = np.zeros_like(spend)
    previous = np.zeros_like(spend)
    months = range(1, int(horizon_months) + 1)
    # All horizons at once: the hypergeometric once per distinct (x, T) and month.
    for i, cumulative in zip(months, bgnbd_model.expected_purchases_at([i * period for i in months], x, t_x, T)):
        clv += (cumulative - previous) * spend / (1.0 + monthly_discount_rate) ** i
        previous = cumulative
    return ensure_finite_output("customer_lifetime_value", clv)
