"""Predictive CLV and churn: BG/NBD + Gamma-Gamma fitted nightly on qualifying orders.

The math lives in `models/` (pure functions); this asset only reads the
customer-order facts dbt built, fits, scores and writes
`marts.mart_customer_predictions`. Qualifying orders and net revenue come
from `intermediate.int_customer_orders`, so the definitions are dbt's, not
recomputed here.
"""

import time
from datetime import timedelta

import dagster as dg
import polars as pl

from models import (
    ModelError,
    calibration_and_holdout,
    customer_summary,
    fit_bgnbd,
    fit_gamma_gamma,
    holdout_check,
    model_metadata,
    score_customers,
)
from assets.warehouse import scalar
from orchestration.resources import WarehouseResource

PREDICTIONS_KEY = dg.AssetKey(["marts", "mart_customer_predictions"])
# Days held out to check the model against what customers actually did.
HOLDOUT_DAYS = 180

ORDERS_SQL = """
select customer_id, order_date, cast(net_revenue as double) as amount
from intermediate.int_customer_orders
"""


def predict(transactions: pl.DataFrame, as_of) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """Fit on everything up to `as_of`, score every customer; check on a holdout split.

    Returns (scores, metadata, holdout-by-frequency frame).
    """
    t0 = time.perf_counter()
    summary = customer_summary(transactions, observation_end=as_of, time_unit="days")
    bg = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    gg = fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    scores = score_customers(summary, bg, gg, time_unit="days")
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
    return scores, meta, by_freq


@dg.asset(
    key=PREDICTIONS_KEY,
    deps=[dg.AssetKey(["intermediate", "int_customer_orders"]), dg.AssetKey(["intermediate", "int_as_of_date"])],
    group_name="marts",
    kinds={"python", "duckdb"},
    description=(
        "Per customer: P(alive), expected purchases in 90/365 days, expected order value, "
        "predicted 12-month CLV (BG/NBD + Gamma-Gamma, 1%/month discount) and a churn-risk band."
    ),
)
def mart_customer_predictions(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    con = warehouse.connect()
    try:
        transactions = con.sql(ORDERS_SQL).pl()
        as_of = scalar(con, "select as_of_date from intermediate.int_as_of_date")
        context.log.info(f"fitting BG/NBD and Gamma-Gamma on {transactions.height:,} qualifying orders as of {as_of}")
        try:
            scores, meta, by_freq = predict(transactions, as_of)
        except ModelError as exc:
            raise dg.Failure(
                description=f"predictive models could not be fitted: {exc}",
                metadata={"qualifying_orders": transactions.height},
            ) from exc
        scores = scores.with_columns(as_of_date=pl.lit(as_of))
        con.register("_scores", scores)
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.mart_customer_predictions as select * from _scores")
        con.unregister("_scores")
    finally:
        con.close()
    bands = scores.group_by("churn_risk").len().sort("churn_risk")
    md = {k: (float(v) if isinstance(v, float) else v) for k, v in meta.items()}
    md["churn_risk_counts"] = dg.MetadataValue.json(dict(zip(bands["churn_risk"], bands["len"])))
    if by_freq.height:
        md["holdout_by_frequency"] = dg.MetadataValue.md(_markdown(by_freq))
    md["dagster/row_count"] = scores.height
    return dg.MaterializeResult(metadata=md)


def _markdown(df: pl.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    rows = [
        "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in df.iter_rows()
    ]
    return head + "\n".join(rows)
