"""Each customer's typical time between orders and the expected date of the next one.

Method (docs/predictive-models.md, "Expected next order"):

* purchase occasions are distinct order days, as in the BG/NBD summary
  (two orders on one day are one occasion);
* a customer with at least MIN_PERSONAL_GAPS gaps between occasions
  (three order days or more) has a *personal* cadence: the median of their
  own gaps, in days. A median, not a mean, so one long holiday does not move
  the date;
* anyone else gets the *model* cadence: the BG/NBD posterior mean time
  between purchases while alive, ``(alpha + T) / (r + x)`` days (the inverse
  of the posterior mean purchase rate given x repeat days in T days);
* without a fitted BG/NBD those customers have no cadence (null);
* expected next order = last order day + cadence, rounded to whole days.
  It may lie before the as-of date: the customer is overdue.

Pure functions on Polars frames; the caller decides what data is "known".
`cadence_from_gaps` takes the per-customer gap statistics instead of the
orders, for callers that compute them in the database (models/backtest.py).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from models.bgnbd import BetaGeoModel
from models.errors import InvalidInputError

#: Gaps between order days needed before a customer's own median is trusted.
MIN_PERSONAL_GAPS = 2
PERSONAL = "personal"
MODEL = "model"
CADENCE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "last_order_date",
    "typical_days_between_orders",
    "expected_next_order_date",
    "cadence_method",
)


def _order_days(transactions: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    missing = [c for c in ("customer_id", "order_date") if c not in transactions.columns]
    if missing:
        raise InvalidInputError(f"transactions lack column(s) {missing}; have {transactions.columns}")
    return (
        transactions.select(pl.col("customer_id").cast(pl.String), pl.col("order_date").cast(pl.Date))
        .filter(pl.col("order_date") <= as_of)
        .unique()
        .sort("customer_id", "order_date")
    )


#: Per-customer gap statistics a cadence is computed from (see `cadence_from_gaps`).
GAP_COLUMNS: tuple[str, ...] = ("customer_id", "first_order_date", "last_order_date", "gaps", "median_gap")


def expected_next_orders(transactions: pl.DataFrame, as_of: dt.date, bgnbd: BetaGeoModel | None) -> pl.DataFrame:
    """One row per customer with an order up to `as_of`: columns CADENCE_COLUMNS (see module docstring)."""
    days = _order_days(transactions, as_of)
    per_customer = (
        days.with_columns((pl.col("order_date") - pl.col("order_date").shift(1).over("customer_id"))
                          .dt.total_days().alias("gap"))
        .group_by("customer_id")
        .agg(
            pl.col("order_date").min().alias("first_order_date"),
            pl.col("order_date").max().alias("last_order_date"),
            pl.col("gap").drop_nulls().len().alias("gaps"),
            pl.col("gap").drop_nulls().cast(pl.Float64).median().alias("median_gap"),
        )
    )
    return cadence_from_gaps(per_customer, as_of, bgnbd)


def cadence_from_gaps(per_customer: pl.DataFrame, as_of: dt.date, bgnbd: BetaGeoModel | None) -> pl.DataFrame:
    """CADENCE_COLUMNS from one row per customer with GAP_COLUMNS, computed elsewhere (e.g. in SQL).

    Over the customer's distinct order days up to `as_of`: first and last
    order day, `gaps` (order days - 1) and `median_gap` (median of the days
    between consecutive order days; null without a gap).
    """
    missing = [c for c in GAP_COLUMNS if c not in per_customer.columns]
    if missing:
        raise InvalidInputError(f"per-customer gaps lack column(s) {missing}; have {per_customer.columns}")
    per_customer = per_customer.select(
        pl.col("customer_id").cast(pl.String), pl.col("first_order_date").cast(pl.Date),
        pl.col("last_order_date").cast(pl.Date), pl.col("gaps").cast(pl.Int64), pl.col("median_gap").cast(pl.Float64),
    )
    if bgnbd is None:
        model_gap = pl.lit(None, dtype=pl.Float64)
    else:
        p = bgnbd.params
        # x = repeat days, T = days from first order to the as-of date (the summary's conventions).
        T = (pl.lit(as_of, dtype=pl.Date) - pl.col("first_order_date")).dt.total_days().cast(pl.Float64)
        model_gap = (p["alpha"] + T) / (p["r"] + pl.col("gaps").cast(pl.Float64))
    personal = pl.col("gaps") >= MIN_PERSONAL_GAPS
    typical = pl.when(personal).then(pl.col("median_gap")).otherwise(model_gap)
    return (
        per_customer.with_columns(typical.alias("typical_days_between_orders"))
        .with_columns(
            (pl.col("last_order_date") + pl.duration(days=pl.col("typical_days_between_orders").round(0).cast(pl.Int64)))
            .alias("expected_next_order_date"),
            pl.when(personal)
            .then(pl.lit(PERSONAL))
            .when(pl.col("typical_days_between_orders").is_not_null())
            .then(pl.lit(MODEL))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias("cadence_method"),
        )
        .select(CADENCE_COLUMNS)
        .sort("customer_id")
    )
