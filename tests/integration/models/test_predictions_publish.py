"""Small shops still publish predictions: nulls and the reason when the models cannot be fitted.

The frame is the one the dbt Python model mart_customer_predictions writes
(models/predictions.py); the WARN itself is the dbt test predictions_fitted,
run end to end in tests/integration/dbt/test_dbt_orders_only.py and tests/e2e/realshops.
"""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import polars as pl
import pytest

import models.predictions as predictions
from assets.extraction.sample_shop import SampleShopConfig, generate
from models.predictions import (
    MIN_CUSTOMERS,
    MIN_REPEAT_CUSTOMERS,
    predict_or_skip,
    published_frame,
)
from models import ModelFitError
from models.scoring import SCORE_COLUMNS, SPEND_COLUMNS

AS_OF = dt.date(2025, 12, 31)
BG_COLUMNS = ("p_alive", "expected_purchases_90d", "expected_purchases_365d")


def small_shop(customers: int, repeaters: int, seed: int = 1) -> pl.DataFrame:
    """`customers` one-order customers of whom the first `repeaters` ordered 2-4 times."""
    rnd = random.Random(seed)
    rows = []
    for i in range(customers):
        day = dt.date(2025, 1, 1) + dt.timedelta(days=rnd.randrange(0, 300))
        rows.append((f"c{i:03d}", day, float(rnd.randrange(10, 200))))
        for _ in range(rnd.randrange(1, 4) if i < repeaters else 0):
            day += dt.timedelta(days=rnd.randrange(5, 60))
            rows.append((f"c{i:03d}", day, float(rnd.randrange(10, 200))))
    return pl.DataFrame(rows, schema=["customer_id", "order_date", "amount"], orient="row")


def sample_shop(orders: int = 3000) -> pl.DataFrame:
    """Qualifying orders of the sample shop, whose customers buy and drop out the BG/NBD way."""
    o = generate(SampleShopConfig(orders=orders, seed=3), duplicates=False, entities=("orders",))["orders"]
    return (
        o.filter(pl.col("customer_id").is_not_null() & (pl.col("status") != "cancelled"))
        .with_columns(order_date=pl.col("created_at").dt.date(),
                      amount=pl.col("subtotal") - pl.col("discount") - pl.col("refunded_amount"))
        .filter(pl.col("amount") > 0)
        .select("customer_id", "order_date", pl.col("amount").cast(pl.Float64))
    )


def materialize(transactions: pl.DataFrame, as_of=AS_OF):
    """Publish `transactions` as the dbt model mart_customer_predictions does; (run, mart frame, DuckDB column types)."""
    run = predict_or_skip(transactions, as_of)
    mart = published_frame(run, as_of)
    with duckdb.connect() as con:
        con.register("_mart", mart)
        con.execute("create table mart_customer_predictions as select * from _mart")
        types = con.execute("select column_name, data_type from information_schema.columns "
                            "where table_name = 'mart_customer_predictions' order by ordinal_position").fetchall()
    return run, mart, types


def warned(mart: pl.DataFrame) -> bool:
    """What the WARN dbt test predictions_fitted flags: a prediction_note, or no rows at all."""
    return mart.height == 0 or mart["prediction_note"].drop_nulls().len() > 0


@pytest.mark.parametrize(
    ("customers", "repeaters", "reason"),
    [(3, 1, f"at least {MIN_CUSTOMERS}"), (60, 4, f"at least {MIN_REPEAT_CUSTOMERS}")],
    ids=["3_customers", "60_customers_4_repeaters"],
)
def test_a_shop_too_small_to_fit_publishes_every_customer_with_null_predictions_and_warns(customers, repeaters, reason):
    run, mart, _ = materialize(small_shop(customers, repeaters))
    assert mart.height == customers
    assert mart.select(SCORE_COLUMNS[1:-1]).null_count().row(0) == (customers,) * len(SCORE_COLUMNS[1:-1])
    assert set(mart["churn_risk"]) == {"unknown"}
    assert reason in mart["prediction_note"][0]
    assert warned(mart)
    assert reason in run.note


def test_a_good_fit_passes_the_check_with_the_same_columns_and_types():
    run, good, good_types = materialize(sample_shop())
    assert run.note is None and not warned(good)
    assert good["prediction_note"].null_count() == good.height
    assert good.select(SCORE_COLUMNS[1:-1]).null_count().sum_horizontal().item() == 0
    assert set(good["churn_risk"]) <= {"low", "medium", "high"}
    _, _, small_types = materialize(small_shop(3, 1))
    assert small_types == good_types


def test_an_empty_shop_publishes_an_empty_mart_and_warns():
    empty = pl.DataFrame(schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64})
    run, mart, _ = materialize(empty)
    assert mart.height == 0 and run.skipped
    assert warned(mart)


def test_gamma_gamma_failing_alone_keeps_the_bgnbd_columns(monkeypatch):
    def refuse(*args, **kwargs):
        raise ModelFitError("Gamma-Gamma: every repeat customer spends the same")

    monkeypatch.setattr(predictions, "fit_gamma_gamma", refuse)
    run = predict_or_skip(sample_shop(), AS_OF)
    assert run.skipped is None and "spends the same" in run.spend_skipped
    assert run.scores.select(BG_COLUMNS).null_count().sum_horizontal().item() == 0
    assert run.scores.select(SPEND_COLUMNS).null_count().row(0) == (run.scores.height,) * len(SPEND_COLUMNS)
    assert "spend" in run.note
    assert "gg_p" not in run.meta and "bgnbd_r" in run.meta


def test_a_diverging_bgnbd_fit_nulls_every_prediction(monkeypatch):
    def diverge(*args, **kwargs):
        raise ModelFitError("BG/NBD: ['alpha'] diverged")

    monkeypatch.setattr(predictions, "fit_bgnbd", diverge)
    run = predict_or_skip(sample_shop(), AS_OF)
    assert "diverged" in run.skipped
    frame = published_frame(run, AS_OF)
    assert frame["p_alive"].null_count() == frame.height == run.scores.height > 0
    assert frame["as_of_date"].unique().to_list() == [AS_OF]


def test_the_same_orders_in_another_order_give_the_same_predictions():
    # An incremental build and a full rebuild hand the model the same orders in different row orders.
    orders = sample_shop()
    first = predict_or_skip(orders, AS_OF)
    shuffled = predict_or_skip(orders.sample(fraction=1.0, shuffle=True, seed=7), AS_OF)
    assert first.note is None
    assert shuffled.scores.equals(first.scores)
    assert {k: v for k, v in shuffled.meta.items() if k != "fit_seconds"} == {
        k: v for k, v in first.meta.items() if k != "fit_seconds"
    }
