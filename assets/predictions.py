"""Predictive CLV and churn: BG/NBD + Gamma-Gamma fitted nightly on qualifying orders.

The math lives in `models/` (pure functions); this asset only reads the
customer-order facts dbt built, fits, scores and writes
`marts.mart_customer_predictions`. Qualifying orders and net revenue come
from `intermediate.int_customer_orders`, so the definitions are dbt's, not
recomputed here.

A shop whose data cannot identify the models (a handful of customers, few
repeat buyers, a fit that diverges) still publishes: the mart lists every
customer with null predictions and says why in `prediction_note`, and the
asset's own check `predictions_fitted` turns WARN. Predictions are an extra;
they never hold back the marts and the report.
"""

import math
import time
from dataclasses import dataclass, field
from datetime import timedelta

import dagster as dg
import polars as pl

from models import (
    BetaGeoModel,
    GammaGammaModel,
    ModelError,
    ModelFitError,
    calibration_and_holdout,
    customer_summary,
    fit_bgnbd,
    fit_gamma_gamma,
    holdout_check,
    model_metadata,
    score_customers,
    unscored_customers,
)
from models.scoring import SCORE_COLUMNS, SPEND_COLUMNS
from assets.warehouse import scalar
from assets.resources import WarehouseResource

PREDICTIONS_KEY = dg.AssetKey(["marts", "mart_customer_predictions"])
FIT_CHECK = "predictions_fitted"
# Days held out to check the model against what customers actually did.
HOLDOUT_DAYS = 180
# Below these counts a fit may converge, but its four (two) parameters are
# fitted to noise: the predictions would look precise and mean nothing.
# BG/NBD learns purchase rates from repeat buyers and dropout from the gaps
# after them; Gamma-Gamma fits only on repeat buyers.
MIN_CUSTOMERS = 50
MIN_REPEAT_CUSTOMERS = 10

ORDERS_SQL = """
select customer_id, order_date, cast(net_revenue as double) as amount
from intermediate.int_customer_orders
"""

# The published columns: the scores, the reason predictions are missing (null
# when both models were fitted), the as-of date.
NOTE_COLUMN = "prediction_note"


@dataclass(frozen=True)
class Predictions:
    """What the nightly step publishes: one row per customer, whatever could be fitted.

    `skipped` says why there are no predictions at all (BG/NBD not fitted);
    `spend_skipped` why only the spend columns (Gamma-Gamma) are null.
    """

    scores: pl.DataFrame
    meta: dict = field(default_factory=dict)
    by_frequency: pl.DataFrame = field(default_factory=pl.DataFrame)
    skipped: str | None = None
    spend_skipped: str | None = None

    @property
    def note(self) -> str | None:
        """One line for analysts and the report; None when both models were fitted."""
        if self.skipped:
            return f"no predictions: {self.skipped}"
        if self.spend_skipped:
            return f"no spend predictions (expected order value, CLV): {self.spend_skipped}"
        return None


def too_little_data(summary: pl.DataFrame) -> str | None:
    """Why `summary` (one row per customer) is too small to fit on, or None."""
    customers = summary.height
    repeaters = summary.filter(pl.col("frequency") > 0).height
    if customers < MIN_CUSTOMERS:
        return f"{customers} customers with a qualifying order; the models need at least {MIN_CUSTOMERS}"
    if repeaters < MIN_REPEAT_CUSTOMERS:
        return f"{repeaters} repeat customers; the models need at least {MIN_REPEAT_CUSTOMERS}"
    return None


def _finite_params(model: BetaGeoModel | GammaGammaModel, name: str) -> None:
    bad = {k: v for k, v in model.params.items() if not math.isfinite(v)}
    if bad or not math.isfinite(model.log_likelihood):
        raise ModelFitError(f"{name} fit gave non-finite parameters {bad or model.params} "
                            f"(log-likelihood {model.log_likelihood}); expected finite numbers")


def _finite_scores(scores: pl.DataFrame, columns: tuple[str, ...], name: str) -> None:
    bad = scores.select(pl.col(c).is_nan().sum() + pl.col(c).is_infinite().sum() for c in columns).row(0)
    if any(bad):
        raise ModelFitError(f"{name} gave non-finite predictions in {dict(zip(columns, bad))}; expected finite numbers")


def predict_or_skip(transactions: pl.DataFrame, as_of) -> Predictions:
    """Fit on everything up to `as_of` and score every customer; check on a holdout split.

    Never raises a model error: what cannot be fitted is null (BG/NBD: every
    prediction; Gamma-Gamma alone: the spend columns) and the reason is kept.
    """
    customers = transactions["customer_id"]
    t0 = time.perf_counter()
    if transactions.height == 0:
        return Predictions(unscored_customers(customers), skipped="no customer has a qualifying order")
    try:
        summary = customer_summary(transactions, observation_end=as_of, time_unit="days")
    except ModelError as exc:
        return Predictions(unscored_customers(customers), skipped=f"transactions could not be summarised: {exc}")
    reason = too_little_data(summary)
    if reason:
        return Predictions(unscored_customers(customers), skipped=reason)
    try:
        bg = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
        _finite_params(bg, "BG/NBD")
    except ModelError as exc:
        return Predictions(unscored_customers(customers), skipped=f"BG/NBD could not be fitted: {exc}")

    gg, spend_skipped = None, None
    try:
        gg = fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
        _finite_params(gg, "Gamma-Gamma")
    except ModelError as exc:
        gg, spend_skipped = None, f"Gamma-Gamma could not be fitted: {exc}"
    try:
        scores = score_customers(summary, bg, gg, time_unit="days")
        _finite_scores(scores, SPEND_COLUMNS, "Gamma-Gamma")
    except ModelError as exc:
        if gg is None:
            return Predictions(unscored_customers(customers), skipped=f"BG/NBD could not score: {exc}")
        # The spend model fitted but cannot predict (e.g. undefined mean spend): keep BG/NBD.
        gg, spend_skipped = None, f"Gamma-Gamma could not predict: {exc}"
        try:
            scores = score_customers(summary, bg, None, time_unit="days")
        except ModelError as exc2:
            return Predictions(unscored_customers(customers), skipped=f"BG/NBD could not score: {exc2}")
    try:
        _finite_scores(scores, SCORE_COLUMNS[1:4], "BG/NBD")
    except ModelError as exc:
        return Predictions(unscored_customers(customers), skipped=str(exc))
    fit_seconds = time.perf_counter() - t0

    meta = {**model_metadata(bg, gg), "fit_seconds": round(fit_seconds, 3), "customers_scored": scores.height}
    calibration_end = as_of - timedelta(days=HOLDOUT_DAYS)
    by_freq = pl.DataFrame()
    try:
        ch = calibration_and_holdout(transactions, calibration_end, as_of, time_unit="days")
        bg_cal = fit_bgnbd(ch["frequency"], ch["recency"], ch["T"])
        check = holdout_check(ch, bg_cal)
        by_freq = check.by_frequency
        meta.update({f"holdout_{k}": v for k, v in check.summary.items()})
        meta["holdout_calibration_end"] = calibration_end.isoformat()
    except ModelError as exc:
        # Too little history for a holdout is worth saying, not failing the night.
        meta["holdout_skipped"] = str(exc)
    return Predictions(scores, meta, by_freq, spend_skipped=spend_skipped)


def predict(transactions: pl.DataFrame, as_of) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """Strict form of :func:`predict_or_skip`: (scores, metadata, holdout-by-frequency frame).

    Raises ModelFitError when either model could not be fitted.
    """
    run = predict_or_skip(transactions, as_of)
    if run.note:
        raise ModelFitError(run.note)
    return run.scores, run.meta, run.by_frequency


def published_frame(run: Predictions, as_of) -> pl.DataFrame:
    """The mart's rows: the scores, `prediction_note`, `as_of_date` (same types whatever was fitted)."""
    return run.scores.with_columns(
        pl.lit(run.note, dtype=pl.String).alias(NOTE_COLUMN),
        pl.lit(as_of, dtype=pl.Date).alias("as_of_date"),
    )


def fit_check(run: Predictions) -> dg.AssetCheckResult:
    """WARN (never blocking) when a model could not be fitted; passes on a full fit."""
    return dg.AssetCheckResult(
        check_name=FIT_CHECK,
        asset_key=PREDICTIONS_KEY,
        passed=run.note is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=run.note or "BG/NBD and Gamma-Gamma fitted",
        metadata={
            "customers": run.scores.height,
            "bgnbd_fitted": run.skipped is None,
            "gamma_gamma_fitted": run.skipped is None and run.spend_skipped is None,
            "reason": run.note or "",
        },
    )


@dg.asset(
    key=PREDICTIONS_KEY,
    deps=[dg.AssetKey(["intermediate", "int_customer_orders"]), dg.AssetKey(["intermediate", "int_as_of_date"])],
    group_name="marts",
    kinds={"python", "duckdb"},
    description=(
        "Per customer: P(alive), expected purchases in 90/365 days, expected order value, "
        "predicted 12-month CLV (BG/NBD + Gamma-Gamma, 1%/month discount) and a churn-risk band; "
        "null predictions (and the reason in prediction_note) when the data cannot identify the models."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            FIT_CHECK,
            asset=PREDICTIONS_KEY,
            description=(
                "BG/NBD and Gamma-Gamma could be fitted; WARN (the mart is still written, "
                "with null predictions) when the shop has too few customers or repeat buyers "
                "or a fit diverged."
            ),
        )
    ],
)
def mart_customer_predictions(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    con = warehouse.connect()
    try:
        transactions = con.sql(ORDERS_SQL).pl()
        as_of = scalar(con, "select as_of_date from intermediate.int_as_of_date")
        context.log.info(f"fitting BG/NBD and Gamma-Gamma on {transactions.height:,} qualifying orders as of {as_of}")
        run = predict_or_skip(transactions, as_of)
        if run.note:
            context.log.warning(f"mart_customer_predictions: {run.note}")
        frame = published_frame(run, as_of)
        con.register("_scores", frame)
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.mart_customer_predictions as select * from _scores")
        con.unregister("_scores")
    finally:
        con.close()
    bands = frame.group_by("churn_risk").len().sort("churn_risk")
    md = {k: (float(v) if isinstance(v, float) else v) for k, v in run.meta.items()}
    md["churn_risk_counts"] = dg.MetadataValue.json(dict(zip(bands["churn_risk"], bands["len"])))
    if run.by_frequency.height:
        md["holdout_by_frequency"] = dg.MetadataValue.md(_markdown(run.by_frequency))
    if run.note:
        md["prediction_note"] = run.note
    md["dagster/row_count"] = frame.height
    return dg.MaterializeResult(metadata=md, check_results=[fit_check(run)])


def _markdown(df: pl.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    rows = [
        "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in df.iter_rows()
    ]
    return head + "\n".join(rows)
