"""Predictive CLV and churn for a whole shop: fit BG/NBD + Gamma-Gamma, or say why not.

`predictions_night` is the one way in, on every engine: from the qualifying
orders dbt built (int_customer_orders) and the as-of date, it refits when
models/refit.py says the stored fit is due and scores with it otherwise;
`store_night` then records a refit in the fit history and the night's
metadata, in the build warehouse. The DuckDB build calls both from the dbt
Python model `mart_customer_predictions`; the Spark build between its two
dbt builds (assets/dbt/engines/spark.py, docs/architecture.md says why). A shop whose data cannot identify the models (a handful
of customers, few repeat buyers, a fit that diverges) still publishes: every
customer with null predictions and the reason in `prediction_note`; the dbt
test `predictions_fitted` then warns. Predictions are an extra; they never
hold back the marts and the report.
"""

import json
import math
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

import polars as pl

from models.bgnbd import BetaGeoModel, fit_bgnbd
from models.cadence import CADENCE_COLUMNS, expected_next_orders
from models.errors import ModelError, ModelFitError
from models.gamma_gamma import GammaGammaModel, fit_gamma_gamma
from models.refit import Drift, RefitDecision, RefitPolicy, StoredFit, append_fit, drift_window_open, refit_decision
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
    # The fitted BG/NBD (None when skipped) and each customer's cadence and
    # expected next order (models/cadence.py), filled by predict_or_skip.
    bgnbd: BetaGeoModel | None = None
    cadence: pl.DataFrame = field(default_factory=pl.DataFrame)

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


def predict_or_skip(transactions: pl.DataFrame, as_of, holdout: bool = True) -> Predictions:
    """Fit on everything up to `as_of` and score every customer; check on a holdout split.

    Never raises a model error: what cannot be fitted is null (BG/NBD: every
    prediction; Gamma-Gamma alone: the spend columns) and the reason is kept.
    Every customer also gets a cadence and an expected next order
    (models/cadence.py): personal where they have enough orders, whatever
    the models did. `holdout` False skips the holdout check (a second BG/NBD
    fit), for callers that only need the scores (the audience backtest).
    """
    run = _fit_and_score(transactions, as_of, holdout)
    if transactions.height == 0:
        return run
    return replace(run, cadence=expected_next_orders(transactions, as_of, run.bgnbd))


def _fit_and_score(transactions: pl.DataFrame, as_of, holdout: bool) -> Predictions:
    customers = transactions["customer_id"]
    t0 = time.perf_counter()
    if transactions.height == 0:
        return Predictions(unscored_customers(customers), skipped="no customer has a qualifying order")
    try:
        summary = customer_summary(transactions, observation_end=as_of, time_unit="days")
    except ModelError as exc:
        return Predictions(unscored_customers(customers), skipped=f"transactions could not be summarised: {exc}")
    run = fit_and_score_summary(summary, t0, customers)
    if not holdout or run.skipped:
        return run
    meta = run.meta
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
    return replace(run, by_frequency=by_freq)


def fit_and_score_summary(summary: pl.DataFrame, t0: float | None = None,
                          customers: pl.Series | None = None, fit_on: pl.DataFrame | None = None) -> Predictions:
    """Fit BG/NBD + Gamma-Gamma on a customer summary (`models.summary`, days) and score it; no holdout check.

    The part of :func:`predict_or_skip` that needs one row per customer,
    not the transactions: callers that summarise in the database
    (models/backtest.py) start here. Never raises a model error (see
    :func:`predict_or_skip`). `t0` (perf_counter) dates `fit_seconds` from
    an earlier start; `customers` are listed when nothing can be fitted
    (default: the summary's). `fit_on`: the summary rows the models are
    fitted on (default: all of them; the backtest passes a sample); every
    row of `summary` is scored.
    """
    t0 = time.perf_counter() if t0 is None else t0
    customers = summary["customer_id"] if customers is None else customers
    fit_on = summary if fit_on is None else fit_on
    reason = too_little_data(fit_on)
    if reason:
        return Predictions(unscored_customers(customers), skipped=reason)
    try:
        bg = fit_bgnbd(fit_on["frequency"], fit_on["recency"], fit_on["T"])
        _finite_params(bg, "BG/NBD")
    except ModelError as exc:
        return Predictions(unscored_customers(customers), skipped=f"BG/NBD could not be fitted: {exc}")

    gg, spend_skipped = None, None
    try:
        gg = fit_gamma_gamma(fit_on["frequency"], fit_on["monetary_value"])
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
    return Predictions(scores, meta, spend_skipped=spend_skipped, bgnbd=bg)


def predict(transactions: pl.DataFrame, as_of) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """Strict form of :func:`predict_or_skip`: (scores, metadata, holdout-by-frequency frame).

    Raises ModelFitError when either model could not be fitted.
    """
    run = predict_or_skip(transactions, as_of)
    if run.note:
        raise ModelFitError(run.note)
    return run.scores, run.meta, run.by_frequency


def published_frame(run: Predictions, as_of) -> pl.DataFrame:
    """The mart's rows: the scores, the cadence columns, `prediction_note`, `as_of_date`.

    Same columns and types whatever was fitted.
    """
    cadence = run.cadence if run.cadence.width else pl.DataFrame(
        schema={"customer_id": pl.String, "last_order_date": pl.Date, "typical_days_between_orders": pl.Float64,
                "expected_next_order_date": pl.Date, "cadence_method": pl.String})
    cadence = cadence.select(c for c in CADENCE_COLUMNS if c != "last_order_date").with_columns(
        pl.col("customer_id").cast(run.scores.schema["customer_id"]))
    scores = run.scores.join(cadence, on="customer_id", how="left")
    return scores.with_columns(
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


@dataclass(frozen=True)
class Night:
    """One night's predictions: the scores, whether they came from a refit and why, and the fit to store."""

    run: Predictions
    decision: RefitDecision
    # What a refit stores (models.refit.append_fit's `record`); None on a scoring night.
    fit_record: dict | None = None
    as_of: date | None = None

    @property
    def frame(self) -> pl.DataFrame:
        """The mart's rows (`published_frame`)."""
        return published_frame(self.run, self.as_of)


def stored_models(meta: dict) -> tuple[BetaGeoModel, GammaGammaModel | None]:
    """The fitted models back from a fit's metadata (`model_metadata` keys); Gamma-Gamma None if it was not fitted."""
    try:
        bg = BetaGeoModel(
            r=meta["bgnbd_r"], alpha=meta["bgnbd_alpha"], a=meta["bgnbd_a"], b=meta["bgnbd_b"],
            log_likelihood=meta["bgnbd_log_likelihood"], n_customers=meta["bgnbd_n_customers"],
            n_fit_rows=meta["bgnbd_n_fit_rows"], n_iterations=meta["bgnbd_iterations"],
            optimizer_message="stored", gradient_inf_norm=float("nan"),
        )
    except KeyError as exc:
        raise ModelFitError(f"stored fit lacks BG/NBD parameter {exc}; expected the keys of model_metadata") from None
    if "gg_p" not in meta:
        return bg, None
    gg = GammaGammaModel(
        p=meta["gg_p"], q=meta["gg_q"], gamma=meta["gg_gamma"], log_likelihood=meta["gg_log_likelihood"],
        n_customers=meta["gg_n_customers"], n_fit_rows=0, n_iterations=0, optimizer_message="stored",
        gradient_inf_norm=float("nan"), frequency_monetary_corr=meta["gg_frequency_monetary_corr"],
    )
    return bg, gg


def drift_since_fit(transactions: pl.DataFrame, fit_as_of: date, as_of: date, bg: BetaGeoModel) -> Drift | None:
    """The stored BG/NBD's prediction of repeat purchases in (fit_as_of, as_of] against the actual ones.

    The totals of `calibration_and_holdout` + `holdout_check` (calibration
    end = the fit's as-of date), in one unsorted pass over purchase days
    instead of two sorted summaries: this runs every scoring night, on
    every customer. Only customers known at the fit count (later ones have
    no prediction). None when it cannot be measured (no day since the fit,
    no customer then, or unusable input, which the scoring then reports).
    """
    if as_of <= fit_as_of or transactions.height == 0:
        return None
    day = pl.col("order_date")
    if isinstance(transactions.schema["order_date"], pl.Datetime):
        day = day.dt.date()
    calibration = pl.col("day") <= fit_as_of
    per_customer = (
        transactions.lazy()
        .select(pl.col("customer_id"), day.alias("day"))
        .filter(pl.col("day") <= as_of)
        .unique()
        .group_by("customer_id")
        .agg(
            pl.col("day").min().alias("first_day"),
            calibration.sum().alias("calibration_days"),
            pl.col("day").filter(calibration).max().alias("last_calibration_day"),
            (~calibration).sum().alias("holdout_days"),
        )
        .filter(pl.col("first_day") <= fit_as_of)
        .select(
            (pl.col("calibration_days") - 1).cast(pl.Float64).alias("x"),
            (pl.col("last_calibration_day") - pl.col("first_day")).dt.total_days().cast(pl.Float64).alias("t_x"),
            (pl.lit(fit_as_of) - pl.col("first_day")).dt.total_days().cast(pl.Float64).alias("T"),
            pl.col("holdout_days"),
        )
        .collect()
    )
    if per_customer.height == 0:
        return None
    try:
        (predicted,) = bg.expected_purchases_at(
            [float((as_of - fit_as_of).days)], *(per_customer[c].to_numpy() for c in ("x", "t_x", "T"))
        )
    except ModelError:
        return None
    # fsum: the same total whatever order group_by returned the customers in.
    return Drift(predicted=math.fsum(predicted), actual=float(per_customer["holdout_days"].sum()))


def score_stored(transactions: pl.DataFrame, as_of, last: StoredFit) -> Predictions:
    """Every customer scored with the stored parameters (no fit); raises ModelError if they cannot score."""
    meta = dict(last.record.get("meta", {}))
    bg, gg = stored_models(meta)
    t0 = time.perf_counter()
    summary = customer_summary(transactions, observation_end=as_of, time_unit="days")
    scores = score_customers(summary, bg, gg, time_unit="days")
    _finite_scores(scores, SCORE_COLUMNS[1:4], "BG/NBD")
    if gg is not None:
        _finite_scores(scores, SPEND_COLUMNS, "Gamma-Gamma")
    meta.update(score_seconds=round(time.perf_counter() - t0, 3), customers_scored=scores.height)
    by_frequency = pl.DataFrame(last.record.get("by_frequency") or [])
    return Predictions(scores, meta, by_frequency, spend_skipped=last.record.get("spend_skipped"))


def nightly_predictions(transactions: pl.DataFrame, as_of, last: StoredFit | None, policy: RefitPolicy,
                        now: datetime | None = None) -> Night:
    """Refit when `models.refit.refit_decision` says so, else score with `last`; never raises a model error.

    The metadata says which it was (`refit`, `refit_reason`) and when the
    models in use were fitted (`last_fitted_at`, `last_fit_as_of_date`).
    """
    now = now or datetime.now(timezone.utc)
    if transactions.height == 0 or as_of is None:
        # Nothing to fit or score, and no data window to record: say so, store nothing.
        run = predict_or_skip(transactions, as_of)
        run.meta.update(refit=False, refit_reason="no qualifying orders: nothing to fit or score")
        return Night(run, RefitDecision(False, run.meta["refit_reason"]), as_of=as_of)
    customers = transactions["customer_id"].n_unique()
    decision = refit_decision(policy, last, as_of, customers)
    if not decision.due and drift_window_open(last, as_of):
        try:
            bg, _ = stored_models(last.record.get("meta", {}))
        except ModelError as exc:
            decision = RefitDecision(True, f"the stored fit cannot be read: {exc}")
        else:
            decision = refit_decision(policy, last, as_of, customers,
                                      drift_since_fit(transactions, last.as_of_date, as_of, bg))
    if not decision.due:
        try:
            run = score_stored(transactions, as_of, last)
        except ModelError as exc:
            decision = RefitDecision(True, f"the stored parameters could not score: {exc}")
        else:
            run.meta.update(refit=False, refit_reason=decision.reason, fit_id=last.fit_id,
                            last_fitted_at=last.fitted_at, last_fit_as_of_date=last.as_of_date.isoformat())
            return Night(run, decision, as_of=as_of)
    run = predict_or_skip(transactions, as_of)
    fitted_at = now.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    if transactions.height:
        run.meta["first_order_date"] = str(transactions["order_date"].min())
    run.meta.update(refit=True, refit_reason=decision.reason, last_fitted_at=fitted_at,
                    last_fit_as_of_date=as_of.isoformat())
    record = {"meta": dict(run.meta), "note": run.note, "skipped": run.skipped, "spend_skipped": run.spend_skipped,
              "by_frequency": run.by_frequency.to_dicts()}
    return Night(run, decision, record, as_of)


# The fit's input, as int_customer_orders holds it: one row per qualifying
# order, in a fixed order (the fit sums floats, and the same orders must give
# the same predictions whether the table was rebuilt or updated).
TRANSACTION_COLUMNS = "customer_id, order_date, cast(net_revenue as double) as amount"
TRANSACTION_ORDER = "customer_id, order_date, amount"


def fit_transactions(orders) -> pl.DataFrame:
    """int_customer_orders (a DuckDB relation: a dbt ref, or Parquet files read by DuckDB) as the fit's frame."""
    return orders.select(TRANSACTION_COLUMNS).order(TRANSACTION_ORDER).pl()


def predictions_night(orders, as_of_date, last: StoredFit | None, policy: RefitPolicy) -> Night:
    """Tonight's predictions from int_customer_orders and int_as_of_date (DuckDB relations), every engine's way in.

    `last` is the stored fit (`models.refit.read_last_fit`), `policy` the
    refit policy (`models.refit.policy_from_vars` of the dbt vars).
    """
    dates = as_of_date.pl()
    as_of = dates["as_of_date"][0] if dates.height else None
    return nightly_predictions(fit_transactions(orders), as_of, last, policy)


def store_night(con, night: Night) -> dict:
    """Record `night` in `con`'s build warehouse (DuckDB); returns the metadata written.

    A refit is appended to the fit history (its `fit_id` joins the
    metadata); the night's metadata replaces the one-row `FIT_METADATA_TABLE`
    that the orchestration shows with the materialization.
    """
    run = night.run
    if night.fit_record is not None:
        run.meta["fit_id"] = append_fit(con, run.meta["last_fitted_at"], night.as_of, run.scores.height,
                                        run.skipped is None, night.decision.reason, night.fit_record)
    metadata = run_metadata(run)
    schema, table = FIT_METADATA_TABLE
    con.execute(f'create schema if not exists "{schema}"')
    con.execute(f'create or replace table "{schema}"."{table}" as select cast(? as varchar) as metadata',
                [json.dumps(metadata, default=str)])
    con.execute('drop table if exists "{}"."{}"'.format(*FORMER_FIT_METADATA_TABLE))
    return metadata
