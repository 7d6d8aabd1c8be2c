"""Typical time between orders and the expected next order (models/cadence.py), by hand and on CDNOW."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from models.cadence import MODEL, PERSONAL, expected_next_orders
from models.predictions import predict_or_skip, published_frame

D = dt.date
OBSERVATION_END = dt.date(1998, 6, 30)


def tx(rows):
    return pl.DataFrame(rows, schema=["customer_id", "order_date", "amount"], orient="row")


def test_three_order_days_give_the_median_of_the_own_gaps_and_same_day_orders_are_one_occasion():
    frame = tx([("a", D(2024, 1, 1), 5.0), ("a", D(2024, 1, 11), 5.0), ("a", D(2024, 1, 11), 7.0),
                ("a", D(2024, 2, 10), 5.0), ("b", D(2024, 1, 1), 5.0), ("b", D(2024, 3, 1), 5.0)])
    out = expected_next_orders(frame, D(2024, 3, 1), None).to_dicts()
    a, b = out
    assert (a["typical_days_between_orders"], a["cadence_method"]) == (20.0, PERSONAL)  # gaps 10 and 30
    assert a["expected_next_order_date"] == D(2024, 3, 1)
    # Two order days are one gap: not enough for a personal median, and no model was fitted.
    assert (b["typical_days_between_orders"], b["expected_next_order_date"], b["cadence_method"]) == (None, None, None)


def test_orders_after_the_as_of_date_are_not_seen():
    frame = tx([("a", D(2024, 1, 1), 5.0), ("a", D(2024, 1, 11), 5.0), ("a", D(2024, 1, 21), 5.0),
                ("a", D(2024, 6, 1), 5.0)])
    (row,) = expected_next_orders(frame, D(2024, 1, 31), None).to_dicts()
    assert (row["last_order_date"], row["expected_next_order_date"]) == (D(2024, 1, 21), D(2024, 1, 31))


@pytest.fixture(scope="module")
def cdnow_run(cdnow_transactions):
    return predict_or_skip(cdnow_transactions, OBSERVATION_END, holdout=False)


def test_cdnow_every_customer_gets_a_cadence_personal_with_three_order_days_model_otherwise(cdnow_run, cdnow_transactions):
    cad = cdnow_run.cadence
    assert cad.height == 2357 and cad["typical_days_between_orders"].null_count() == 0
    days = cdnow_transactions.select("customer_id", "order_date").unique().group_by("customer_id").len()
    personal = set(days.filter(pl.col("len") >= 3)["customer_id"].cast(pl.String))
    assert set(cad.filter(pl.col("cadence_method") == PERSONAL)["customer_id"]) == personal
    assert set(cad["cadence_method"].unique()) == {PERSONAL, MODEL}
    # Model cadence of a one-time buyer: (alpha + T) / r days, T counted from the first order.
    p = cdnow_run.bgnbd.params
    one = cad.filter(pl.col("cadence_method") == MODEL).row(0, named=True)
    first = cdnow_transactions.filter(pl.col("customer_id") == int(one["customer_id"]))["order_date"].min()
    x = cdnow_transactions.filter(pl.col("customer_id") == int(one["customer_id"]))["order_date"].n_unique() - 1
    T = (OBSERVATION_END - first).days
    assert one["typical_days_between_orders"] == pytest.approx((p["alpha"] + T) / (p["r"] + x))
    assert (cad["expected_next_order_date"] > cad["last_order_date"]).all()
    # CDNOW's repeat buyers (3+ order days) typically reorder within a few months.
    med = cad.filter(pl.col("cadence_method") == PERSONAL)["typical_days_between_orders"].median()
    assert 20 < med < 200


def test_cdnow_published_frame_carries_the_cadence_columns(cdnow_run):
    mart = published_frame(cdnow_run, OBSERVATION_END)
    assert mart.height == 2357
    assert mart.schema["expected_next_order_date"] == pl.Date
    assert mart.schema["typical_days_between_orders"] == pl.Float64
    assert mart["expected_next_order_date"].null_count() == 0
