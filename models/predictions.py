"""Predictive CLV and churn for a whole shop: fit BG/NBD + Gamma-Gamma, or say why not.

The nightly dbt Python model `mart_customer_predictions`
(dbt_project/models/marts/mart_customer_predictions.py) calls
`predict_or_skip` on the qualifying orders dbt built and writes
`published_frame`. A shop whose data cannot identify the models (a handful
of customers, few repeat buyers, a fit that diverges) still publishes: every
customer with null predictions and the reason in `prediction_note`; the dbt
test `predictions_fitted` then warns. Predictions are an extra; they never
hold back the marts and the report.
"""

import math
import time
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from models.bgnbd import BetaGeoModel, fit_bgnbd
from models.errors import ModelError, ModelFitError
from models.gamma_gamma import GammaGammaModel, fit_gamma_gamma
from models.scoring import SCORE_COLUMNS, SPEND_COLUMNS, holdout_check, model_metadata, score_customers, unscored_customers
from models.summary import calibration_and_holdout, customer_summary

# Days held out to check the model against what customers actually did.
HOLDOUT_DAYS = 180
# Below these counts a fit may converge, but its four (two) parameters are
# fitted to noise: the predictions would look precise and mean nothing.
# BG/NBD learns purchase rates from repeat buyers and dropout from the gaps
# after them; Gamma-Gamma fits only on repeat buyers.
MIN_CUSTOMERS = 50
MIN_REPEAT_CUSTOMERS = 10

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


# Where the dbt model leaves `run_metadata` for the orchestration to show
# with the materialization (schema, table): a Python model cannot emit it.
# An intermediate, named like one: analysts see it among the intermediates.
FIT_METADATA_TABLE = ("intermediate", "int_customer_predictions_fit")
# Its name before it was renamed: a build file from then still holds it, and
# publishing copies every intermediate table, so the writers drop it.
FORMER_FIT_METADATA_TABLE = ("intermediate", "mart_customer_predictions_fit")


def run_metadata(run: Predictions) -> dict:
    """The fit's numbers for the run's metadata (parameters, holdout check, counts, reason); JSON-ready."""
    md = {k: (float(v) if isinstance(v, float) else v) for k, v in run.meta.items()}
    md["customers"] = run.scores.height
    md["bgnbd_fitted"] = run.skipped is None
    md["gamma_gamma_fitted"] = run.skipped is None and run.spend_skipped is None
    if run.note:
        md["prediction_note"] = run.note
    if run.by_frequency.height:
        md["holdout_by_frequency"] = run.by_frequency.to_dicts()
    return md
