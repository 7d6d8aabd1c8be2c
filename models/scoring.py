"""Customer scoring and holdout validation built on the fitted models.

Everything here returns Polars frames / plain numbers so the orchestration
layer can persist them and publish them as metadata without knowing the math.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from models.bgnbd import BetaGeoModel
from models.errors import InvalidInputError
from models.gamma_gamma import GammaGammaModel, customer_lifetime_value
from models.summary import TimeUnit, days_per_unit

#: p_alive >= this -> "low" churn risk.
CHURN_LOW_MIN_P_ALIVE = 0.7
#: p_alive >= this (and < CHURN_LOW_MIN_P_ALIVE) -> "medium"; below -> "high".
CHURN_MEDIUM_MIN_P_ALIVE = 0.3

SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "p_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_avg_order_value",
    "predicted_clv_12m",
    "churn_risk",
)


def churn_risk_band(p_alive: float) -> str:
    """Map P(alive) to a churn-risk band.

    Thresholds: p_alive >= 0.7 -> "low", 0.3 <= p_alive < 0.7 -> "medium",
    p_alive < 0.3 -> "high".  They are business conventions (a coin-flip
    band around 0.5, wide enough to be stable between runs), not estimates.
    """
    if not isinstance(p_alive, (int, float, np.floating, np.integer)) or not math.isfinite(p_alive):
        raise InvalidInputError(f"p_alive must be a finite number, got {p_alive!r}")
    if not 0.0 <= p_alive <= 1.0:
        raise InvalidInputError(f"p_alive must be in [0, 1], got {p_alive!r}")
    if p_alive >= CHURN_LOW_MIN_P_ALIVE:
        return "low"
    if p_alive >= CHURN_MEDIUM_MIN_P_ALIVE:
        return "medium"
    return "high"


def churn_risk_expr(p_alive_col: str = "p_alive") -> pl.Expr:
    """Vectorised :func:`churn_risk_band` (same thresholds) as a Polars expression."""
    p = pl.col(p_alive_col)
    return (
        pl.when(p >= CHURN_LOW_MIN_P_ALIVE)
        .then(pl.lit("low"))
        .when(p >= CHURN_MEDIUM_MIN_P_ALIVE)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("high"))
    )


def _require_columns(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{what} lacks column(s) {missing}; have {frame.columns}")
    if frame.height == 0:
        raise InvalidInputError(f"{what} is empty")


#: churn_risk of a customer whose P(alive) could not be estimated.
CHURN_RISK_UNKNOWN = "unknown"
#: Columns that need the Gamma-Gamma spend model (null without it).
SPEND_COLUMNS: tuple[str, ...] = ("expected_avg_order_value", "predicted_clv_12m")


def unscored_customers(customer_ids: pl.Series) -> pl.DataFrame:
    """The score frame of customers nobody could score: same columns and
    types as :func:`score_customers`, every prediction null, churn_risk
    ``unknown``. Published when the data cannot identify the models, so the
    customers stay listed and no number is invented."""
    ids = customer_ids.cast(pl.String).unique().sort()
    return pl.DataFrame({"customer_id": ids}).with_columns(
        *[pl.lit(None, dtype=pl.Float64).alias(c) for c in SCORE_COLUMNS[1:-1]],
        pl.lit(CHURN_RISK_UNKNOWN, dtype=pl.String).alias("churn_risk"),
    )


def score_customers(
    summary_frame: pl.DataFrame,
    bgnbd: BetaGeoModel,
    gg: GammaGammaModel | None,
    *,
    time_unit: TimeUnit = "days",
    clv_horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    customer_col: str = "customer_id",
) -> pl.DataFrame:
    """Per-customer predictions from a summary frame (columns customer_id,
    frequency, recency, T, monetary_value, in ``time_unit``).

    Returns customer_id, p_alive, expected_purchases_90d,
    expected_purchases_365d, expected_avg_order_value, predicted_clv_12m,
    churn_risk.  Horizons are calendar days converted to ``time_unit``; the
    CLV uses 30-day months (see :func:`customer_lifetime_value`).  Without a
    Gamma-Gamma model (``gg`` None: spend could not be fitted) the spend
    columns (:data:`SPEND_COLUMNS`) are null and the BG/NBD ones are kept.

    Predictions are computed once per distinct (x, t_x, T, m) row and joined
    back: identical histories get identical scores, and the hypergeometric
    evaluations (12 per CLV) dominate the cost on large bases.
    """
    cols = ("frequency", "recency", "T", "monetary_value")
    _require_columns(summary_frame, (customer_col, *cols), "summary_frame")
    unit_days = days_per_unit(time_unit)
    base = summary_frame.select(
        pl.col(customer_col),
        pl.col("frequency").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64) for c in cols[1:]],
    )
    distinct = base.select(cols).unique()
    x, t_x, T, m = (distinct[c].to_numpy() for c in cols)
    if gg is None:
        spend = [pl.lit(None, dtype=pl.Float64).alias(c) for c in SPEND_COLUMNS]
    else:
        spend = [
            pl.Series("expected_avg_order_value", gg.conditional_expected_average_order_value(x, m)),
            pl.Series(
                "predicted_clv_12m",
                customer_lifetime_value(
                    bgnbd,
                    gg,
                    x,
                    t_x,
                    T,
                    m,
                    horizon_months=clv_horizon_months,
                    monthly_discount_rate=monthly_discount_rate,
                    time_unit_days=unit_days,
                ),
            ),
        ]
    e90, e365 = bgnbd.expected_purchases_at([90.0 / unit_days, 365.0 / unit_days], x, t_x, T)
    scores = distinct.with_columns(
        pl.Series("p_alive", bgnbd.p_alive(x, t_x, T)),
        pl.Series("expected_purchases_90d", e90),
        pl.Series("expected_purchases_365d", e365),
        *spend,
    ).with_columns(churn_risk_expr().alias("churn_risk"))
    out = base.join(scores, on=list(cols), how="left", nulls_equal=True)
    return out.select(pl.col(customer_col).alias("customer_id"), *SCORE_COLUMNS[1:]).sort("customer_id")


@dataclass(frozen=True)
class HoldoutCheck:
    """Predicted vs actual holdout purchases.

    ``by_frequency`` has one row per calibration-frequency bucket ("0".."6",
    "7+"); ``summary`` holds plain numbers for run metadata.
    """

    by_frequency: pl.DataFrame
    summary: dict[str, float]


def holdout_check(cal_holdout: pl.DataFrame, bgnbd: BetaGeoModel, *, top_bucket: int = 7) -> HoldoutCheck:
    """Compare BG/NBD conditional expectations with the holdout actuals.

    ``cal_holdout`` is the output of :func:`models.summary.calibration_and_holdout`
    (same time unit as the model).  Summary numbers: n_customers,
    actual_total, predicted_total, mae_customer (mean |pred - actual| per
    customer), mae_bucket (mean over buckets of |mean pred - mean actual|,
    the figure of FHL 2005 fig. 3), mean_actual, mean_predicted.
    """
    _require_columns(
        cal_holdout, ("frequency", "recency", "T", "frequency_holdout", "duration_holdout"), "cal_holdout"
    )
    x = cal_holdout["frequency"].to_numpy().astype(float)
    duration = cal_holdout["duration_holdout"].to_numpy().astype(float)
    t_x, T = cal_holdout["recency"].to_numpy().astype(float), cal_holdout["T"].to_numpy().astype(float)
    if duration.size and (duration == duration[0]).all():
        # One holdout length (calibration_and_holdout's): the 2F1 once per distinct (x, T).
        (pred,) = bgnbd.expected_purchases_at([duration[0]], x, t_x, T)
    else:
        pred = bgnbd.expected_purchases(duration, x, t_x, T)
    frame = pl.DataFrame(
        {
            "bucket_order": np.minimum(x, top_bucket).astype(np.int64),
            "actual": cal_holdout["frequency_holdout"].cast(pl.Float64),
            "predicted": pred,
        }
    )
    by_bucket = (
        frame.group_by("bucket_order")
        .agg(
            pl.len().alias("n_customers"),
            pl.col("actual").mean().alias("actual_mean"),
            pl.col("predicted").mean().alias("predicted_mean"),
        )
        .with_columns(
            pl.when(pl.col("bucket_order") >= top_bucket)
            .then(pl.lit(f"{top_bucket}+"))
            .otherwise(pl.col("bucket_order").cast(pl.String))
            .alias("frequency_bucket"),
            (pl.col("predicted_mean") - pl.col("actual_mean")).abs().alias("abs_error"),
        )
        .sort("bucket_order")
        .select("frequency_bucket", "bucket_order", "n_customers", "actual_mean", "predicted_mean", "abs_error")
    )
    actual = frame["actual"].to_numpy()
    summary = {
        "n_customers": float(frame.height),
        "actual_total": float(actual.sum()),
        "predicted_total": float(pred.sum()),
        "mean_actual": float(actual.mean()),
        "mean_predicted": float(pred.mean()),
        "mae_customer": float(np.mean(np.abs(pred - actual))),
        "mae_bucket": float(by_bucket["abs_error"].mean()),
    }
    return HoldoutCheck(by_frequency=by_bucket, summary=summary)


def model_metadata(bgnbd: BetaGeoModel, gg: GammaGammaModel | None) -> dict[str, Any]:
    """Flat dict of parameters and fit diagnostics (for Dagster metadata); no gg_* keys without a Gamma-Gamma model."""
    bg = {
        **{f"bgnbd_{k}": v for k, v in bgnbd.params.items()},
        "bgnbd_log_likelihood": bgnbd.log_likelihood,
        "bgnbd_n_customers": bgnbd.n_customers,
        "bgnbd_n_fit_rows": bgnbd.n_fit_rows,
        "bgnbd_iterations": bgnbd.n_iterations,
    }
    if gg is None:
        return bg
    return {
        **bg,
        **{f"gg_{k}": v for k, v in gg.params.items()},
        "gg_log_likelihood": gg.log_likelihood,
        "gg_n_customers": gg.n_customers,
        "gg_frequency_monetary_corr": gg.frequency_monetary_corr,
        "gg_independence_ok": gg.independence_ok,
    }
