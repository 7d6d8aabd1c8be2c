"""Predictions as they would have been on past dates, for the audience backtest.

The nightly dbt Python model `int_audience_backtest_predictions` calls
`backtest_predictions`: for each of the latest month-ends whose following
`horizon_days` lie inside the data, the models are refitted on the orders
dated on or before that month-end only, and every customer known then is
scored, exactly as the nightly predictions would have been that night (no
holdout check: only the scores are needed). The audience rules and the
outcomes are SQL (mart_audience_backtest).

Cost: one BG/NBD and one Gamma-Gamma fit per cutoff, on at most the nightly
fit's data, but only when that cutoff's input changed. Each cutoff's rows
carry a fingerprint of what they were fitted from (the known transactions
and this package's source); given the previous build's rows, a cutoff whose
fingerprint is unchanged is copied instead of refitted. A fit is
deterministic, so the copy is what the refit would give; most nights refit
nothing, and a new month refits one cutoff.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path

import polars as pl

from models.predictions import predict_or_skip, published_frame

#: Month-ends rebuilt by the backtest.
BACKTEST_CUTOFFS = 6
#: Days after a cutoff that must lie inside the data (the longest outcome window).
HORIZON_DAYS = 90
COLUMNS: tuple[str, ...] = (
    "cutoff_date",
    "customer_id",
    "p_alive",
    "predicted_clv_12m",
    "churn_risk",
    "expected_next_order_date",
    "typical_days_between_orders",
    "cadence_method",
    "prediction_note",
    "input_fingerprint",
)
SCHEMA = {
    "cutoff_date": pl.Date,
    "customer_id": pl.String,
    "p_alive": pl.Float64,
    "predicted_clv_12m": pl.Float64,
    "churn_risk": pl.String,
    "expected_next_order_date": pl.Date,
    "typical_days_between_orders": pl.Float64,
    "cadence_method": pl.String,
    "prediction_note": pl.String,
    "input_fingerprint": pl.String,
}


def month_end(day: dt.date) -> dt.date:
    """The last day of `day`'s month."""
    first_next = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first_next - dt.timedelta(days=1)


def backtest_cutoffs(first_order: dt.date | None, as_of: dt.date, count: int = BACKTEST_CUTOFFS,
                     horizon_days: int = HORIZON_DAYS) -> list[dt.date]:
    """The latest `count` month-ends E with first_order <= E and E + horizon_days <= as_of, oldest first."""
    if first_order is None:
        return []
    out: list[dt.date] = []
    end = month_end(as_of - dt.timedelta(days=horizon_days))
    while len(out) < count:
        if end + dt.timedelta(days=horizon_days) > as_of:
            end = month_end(end.replace(day=1) - dt.timedelta(days=1))
            continue
        if end < first_order:
            break
        out.append(end)
        end = month_end(end.replace(day=1) - dt.timedelta(days=1))
    return sorted(out)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of this package's sources: a change to the models refits every cutoff."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def input_fingerprint(known: pl.DataFrame, cutoff: dt.date) -> str:
    """What a cutoff's rows depend on: the cutoff, the known transactions (in their given order), the code."""
    digest = hashlib.sha256(f"{cutoff.isoformat()}|{known.height}|{code_fingerprint()}".encode())
    if known.height:
        digest.update(known.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()


def backtest_predictions(transactions: pl.DataFrame, as_of: dt.date, count: int = BACKTEST_CUTOFFS,
                         horizon_days: int = HORIZON_DAYS, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per cutoff x customer with an order on or before it (COLUMNS), fitted on those orders only.

    `previous`: the last build's rows; a cutoff with the same input fingerprint is copied from them.
    """
    first = transactions["order_date"].min() if transactions.height else None
    frames = [pl.DataFrame(schema=SCHEMA)]
    for cutoff in backtest_cutoffs(first, as_of, count, horizon_days):
        known = transactions.filter(pl.col("order_date") <= cutoff)
        fingerprint = input_fingerprint(known, cutoff)
        if previous is not None and "input_fingerprint" in previous.columns:
            kept = previous.filter((pl.col("cutoff_date") == cutoff) & (pl.col("input_fingerprint") == fingerprint))
            if kept.height:
                frames.append(kept.select(pl.col(c).cast(t) for c, t in SCHEMA.items()))
                continue
        run = predict_or_skip(known, cutoff, holdout=False)
        frame = published_frame(run, cutoff).rename({"as_of_date": "cutoff_date"})
        frames.append(frame.with_columns(pl.col("customer_id").cast(pl.String),
                                         pl.lit(fingerprint).alias("input_fingerprint"))
                      .select(pl.col(c).cast(t) for c, t in SCHEMA.items()))
    return pl.concat(frames).sort("cutoff_date", "customer_id")
