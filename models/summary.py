"""Customer RFM summary (frequency, recency, T, monetary value) from raw
transactions, plus the calibration/holdout split used to validate BG/NBD.

Conventions (those of Fader & Hardie and of ``lifetimes``; they reproduce the
published CDNOW summary, see tests/fixtures/cdnow/PROVENANCE.md):

* Time is measured in whole days; several purchases of one customer on the
  same day are merged into one purchase day (amounts summed), because the
  models count *purchase occasions*, not line items.
* ``frequency`` (x) = distinct purchase days - 1 (repeat purchases only).
* ``recency`` (t_x) = last purchase day - first purchase day.
* ``T`` = observation end - first purchase day.
* ``monetary_value`` = mean of the daily totals over the repeat days (first
  purchase excluded, since acquisition orders are atypical); 0 if x == 0.
* ``time_unit`` "weeks" divides the day counts by 7.

Transactions dated after the observation end are ignored.  Amounts must be
non-negative: net refunds upstream.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from models.errors import InvalidInputError

TimeUnit = Literal["days", "weeks"]
_DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}

SUMMARY_COLUMNS: tuple[str, ...] = ("frequency", "recency", "T", "monetary_value")


def days_per_unit(time_unit: TimeUnit) -> float:
    """Length of the time unit in days (1 or 7)."""
    try:
        return _DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise InvalidInputError(f"time_unit must be 'days' or 'weeks', got {time_unit!r}") from None


def _as_date(value: dt.date | dt.datetime, name: str) -> dt.date:
    # datetime is a subclass of date: check it first and drop the time of day
    # because the summary works at day granularity.
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise InvalidInputError(f"{name} must be a date or datetime, got {type(value).__name__}")


def _daily_transactions(
    transactions: pl.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
) -> pl.DataFrame:
    """Validate and collapse transactions to one row per (customer, day)."""
    missing = [c for c in (customer_col, date_col, amount_col) if c not in transactions.columns]
    if missing:
        raise InvalidInputError(f"transactions lack column(s) {missing}; have {transactions.columns}")
    if transactions.height == 0:
        raise InvalidInputError("transactions are empty: no customer to summarise")
    dtype = transactions.schema[date_col]
    if dtype == pl.Date:
        day = pl.col(date_col)
    elif isinstance(dtype, pl.Datetime):
        day = pl.col(date_col).dt.date()
    else:
        raise InvalidInputError(f"{date_col} must be Date or Datetime, got {dtype}")
    if not transactions.schema[amount_col].is_numeric():
        raise InvalidInputError(f"{amount_col} must be numeric, got {transactions.schema[amount_col]}")
    frame = transactions.select(
        pl.col(customer_col).alias("customer_id"),
        day.alias("day"),
        pl.col(amount_col).cast(pl.Float64).alias("amount"),
    )
    nulls = frame.null_count().row(0, named=True)
    if any(nulls.values()):
        raise InvalidInputError(f"transactions contain nulls: { {k: v for k, v in nulls.items() if v} }")
    bad = frame.select(
        pl.col("amount").is_nan().sum().alias("nan"),
        pl.col("amount").is_infinite().sum().alias("inf"),
        (pl.col("amount") < 0).sum().alias("neg"),
    ).row(0, named=True)
    if bad["nan"] or bad["inf"]:
        raise InvalidInputError(f"{amount_col} contains NaN/inf values")
    if bad["neg"]:
        raise InvalidInputError(f"{amount_col} contains {bad['neg']} negative amount(s); net refunds upstream")
    # Sorted: the per-customer totals then add the same floats in the same
    # order on every run (group_by's output order is not fixed), so the same
    # orders always give the same fit.
    return frame.group_by("customer_id", "day").agg(pl.col("amount").sum()).sort("customer_id", "day")


#: Per-customer aggregates the RFM summary is computed from (see `summary_from_aggregates`).
AGGREGATE_COLUMNS: tuple[str, ...] = ("customer_id", "first_day", "last_day", "n_days", "total", "first_amount")


def _summarise_daily(daily: pl.DataFrame, observation_end: dt.date, unit_days: float) -> pl.DataFrame:
    """RFM summary from one-row-per-(customer, day) data, all days <= observation_end."""
    first_amount = pl.col("amount").sort_by("day").first()
    aggregates = daily.group_by("customer_id").agg(
        pl.col("day").min().alias("first_day"),
        pl.col("day").max().alias("last_day"),
        pl.len().alias("n_days"),
        pl.col("amount").sum().alias("total"),
        first_amount.alias("first_amount"),
    )
    return _rfm(aggregates, observation_end, unit_days)


def _rfm(aggregates: pl.DataFrame, observation_end: dt.date, unit_days: float) -> pl.DataFrame:
    """The summary's conventions (module docstring) applied to AGGREGATE_COLUMNS, sorted by customer."""
    return (
        aggregates.with_columns(
            (pl.col("n_days") - 1).cast(pl.Int64).alias("frequency"),
            ((pl.col("last_day") - pl.col("first_day")).dt.total_days() / unit_days).alias("recency"),
            ((pl.lit(observation_end) - pl.col("first_day")).dt.total_days() / unit_days).alias("T"),
        )
        .with_columns(
            pl.when(pl.col("frequency") > 0)
            .then((pl.col("total") - pl.col("first_amount")) / pl.col("frequency"))
            .otherwise(0.0)
            .alias("monetary_value"),
        )
        .select("customer_id", "frequency", "recency", "T", "monetary_value", "first_day")
        .sort("customer_id")
    )


def summary_from_aggregates(
    aggregates: pl.DataFrame,
    *,
    observation_end: dt.date | dt.datetime,
    time_unit: TimeUnit = "days",
) -> pl.DataFrame:
    """:func:`customer_summary`'s output from per-customer aggregates computed elsewhere (e.g. in SQL).

    `aggregates` has one row per customer with AGGREGATE_COLUMNS, over the
    customer's distinct purchase days up to ``observation_end``: first_day,
    last_day, n_days (distinct purchase days), total (sum of the amounts),
    first_amount (the first day's total). The same conventions as
    :func:`customer_summary` then apply, so a caller that aggregates in the
    database holds one row per customer, never the transactions.

    Raises:
        InvalidInputError: missing columns, no customer, nulls, NaN/inf or
            negative amounts, a day after ``observation_end``.
    """
    unit_days = days_per_unit(time_unit)
    end = _as_date(observation_end, "observation_end")
    missing = [c for c in AGGREGATE_COLUMNS if c not in aggregates.columns]
    if missing:
        raise InvalidInputError(f"aggregates lack column(s) {missing}; have {aggregates.columns}")
    if aggregates.height == 0:
        raise InvalidInputError(f"no transaction on or before observation_end {end}")
    frame = aggregates.select(
        pl.col("customer_id"), pl.col("first_day").cast(pl.Date), pl.col("last_day").cast(pl.Date),
        pl.col("n_days").cast(pl.Int64), pl.col("total").cast(pl.Float64), pl.col("first_amount").cast(pl.Float64),
    )
    nulls = {k: v for k, v in frame.null_count().row(0, named=True).items() if v}
    if nulls:
        raise InvalidInputError(f"aggregates contain nulls: {nulls}")
    bad = frame.select(
        (~pl.col("total").is_finite() | ~pl.col("first_amount").is_finite()).sum().alias("nonfinite"),
        ((pl.col("total") < 0) | (pl.col("first_amount") < 0)).sum().alias("neg"),
        (pl.col("last_day") > end).sum().alias("late"),
        (pl.col("n_days") < 1).sum().alias("empty"),
    ).row(0, named=True)
    if bad["nonfinite"]:
        raise InvalidInputError("aggregates contain NaN/inf amounts")
    if bad["neg"]:
        raise InvalidInputError(f"aggregates contain {bad['neg']} negative amount(s); net refunds upstream")
    if bad["late"]:
        raise InvalidInputError(f"aggregates of {bad['late']} customer(s) end after observation_end {end}")
    if bad["empty"]:
        raise InvalidInputError(f"aggregates of {bad['empty']} customer(s) count no purchase day; expected n_days >= 1")
    return _rfm(frame, end, unit_days)


def customer_summary(
    transactions: pl.DataFrame,
    *,
    observation_end: dt.date | dt.datetime | None = None,
    time_unit: TimeUnit = "days",
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
    decimals: int | None = None,
) -> pl.DataFrame:
    """Per-customer frequency, recency, T, monetary_value (and first_day).

    Args:
        observation_end: end of the observation window (inclusive); defaults
            to the last transaction day.  Later transactions are ignored.
        time_unit: "days" (pipeline default) or "weeks" (days / 7).
        decimals: round recency and T (e.g. 2 to match the published CDNOW
            weekly summary); ``None`` keeps full precision, which is what the
            models should normally see.

    Raises:
        InvalidInputError: missing columns, empty input, nulls, NaN or
            negative amounts, non-date date column, or no transaction on or
            before ``observation_end``.
    """
    unit_days = days_per_unit(time_unit)
    daily = _daily_transactions(transactions, customer_col, date_col, amount_col)
    end = _as_date(observation_end, "observation_end") if observation_end is not None else daily["day"].max()
    daily = daily.filter(pl.col("day") <= end)
    if daily.height == 0:
        raise InvalidInputError(f"no transaction on or before observation_end {end}")
    out = _summarise_daily(daily, end, unit_days)
    if decimals is not None:
        out = out.with_columns(pl.col("recency", "T").round(decimals))
    return out


def calibration_and_holdout(
    transactions: pl.DataFrame,
    calibration_end: dt.date | dt.datetime,
    observation_end: dt.date | dt.datetime,
    *,
    time_unit: TimeUnit = "days",
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
) -> pl.DataFrame:
    """Calibration summary up to ``calibration_end`` plus holdout actuals.

    Columns: customer_id, frequency, recency, T, monetary_value (calibration,
    same conventions as :func:`customer_summary`), frequency_holdout (number
    of distinct purchase days in (calibration_end, observation_end]),
    monetary_value_holdout (mean daily total in the holdout, 0 if none) and
    duration_holdout (observation_end - calibration_end in ``time_unit``).

    Customers whose first purchase is after ``calibration_end`` are excluded:
    they have no calibration history (T would be negative), and BG/NBD
    validation is about predicting *existing* customers' future purchases.
    """
    cal_end = _as_date(calibration_end, "calibration_end")
    obs_end = _as_date(observation_end, "observation_end")
    if obs_end <= cal_end:
        raise InvalidInputError(f"observation_end {obs_end} must be after calibration_end {cal_end}")
    unit_days = days_per_unit(time_unit)
    daily = _daily_transactions(transactions, customer_col, date_col, amount_col)
    cal_daily = daily.filter(pl.col("day") <= cal_end)
    if cal_daily.height == 0:
        raise InvalidInputError(f"no transaction on or before calibration_end {cal_end}")
    cal = _summarise_daily(cal_daily, cal_end, unit_days)
    holdout = (
        daily.filter((pl.col("day") > cal_end) & (pl.col("day") <= obs_end))
        .group_by("customer_id")
        .agg(
            pl.len().cast(pl.Int64).alias("frequency_holdout"),
            pl.col("amount").mean().alias("monetary_value_holdout"),
        )
    )
    return (
        cal.join(holdout, on="customer_id", how="left")
        .with_columns(
            pl.col("frequency_holdout").fill_null(0),
            pl.col("monetary_value_holdout").fill_null(0.0),
            pl.lit((obs_end - cal_end).days / unit_days).alias("duration_holdout"),
        )
        .sort("customer_id")
    )
