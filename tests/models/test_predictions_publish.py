"""Small shops still publish predictions: nulls and a WARN check when the models cannot be fitted.

The asset runs on a hand-made warehouse holding only the two dbt tables it
reads (`intermediate.int_customer_orders`, `intermediate.int_as_of_date`).
"""

from __future__ import annotations

import datetime as dt
import random

import dagster as dg
import duckdb
import polars as pl
import pytest

import assets.predictions as predictions
from assets.extraction.sample_shop import SampleShopConfig, generate
from assets.predictions import (
    FIT_CHECK,
    MIN_CUSTOMERS,
    MIN_REPEAT_CUSTOMERS,
    mart_customer_predictions,
    predict_or_skip,
    published_frame,
)
from models import ModelFitError
from models.scoring import SCORE_COLUMNS, SPEND_COLUMNS
from assets.resources import WarehouseResource

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


def materialize(tmp_path, transactions: pl.DataFrame, as_of=AS_OF):
    """Run the asset on a warehouse holding `transactions`; return (result, mart frame, column types)."""
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    warehouse.build_db.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse.build_db)) as con:
        con.execute("create schema intermediate")
        con.register("_tx", transactions.rename({"amount": "net_revenue"}))
        con.execute("create table intermediate.int_customer_orders as "
                    "select customer_id, order_date, cast(net_revenue as decimal(18,2)) as net_revenue from _tx")
        con.execute("create table intermediate.int_as_of_date as select cast(? as date) as as_of_date", [as_of])
    result = dg.materialize([mart_customer_predictions], resources={"warehouse": warehouse})
    with duckdb.connect(str(warehouse.build_db), read_only=True) as con:
        mart = con.sql("select * from marts.mart_customer_predictions").pl()
        types = con.execute("select column_name, data_type from information_schema.columns "
                            "where table_name = 'mart_customer_predictions' order by ordinal_position").fetchall()
    return result, mart, types


def check_result(result) -> dg.AssetCheckEvaluation:
    evaluations = result.get_asset_check_evaluations()
    assert [e.check_name for e in evaluations] == [FIT_CHECK]
    return evaluations[0]


@pytest.mark.parametrize(
    ("customers", "repeaters", "reason"),
    [(3, 1, f"at least {MIN_CUSTOMERS}"), (60, 4, f"at least {MIN_REPEAT_CUSTOMERS}")],
    ids=["3_customers", "60_customers_4_repeaters"],
)
def test_a_shop_too_small_to_fit_publishes_every_customer_with_null_predictions_and_warns(
    tmp_path, customers, repeaters, reason
):
    result, mart, _ = materialize(tmp_path, small_shop(customers, repeaters))
    assert result.success
    assert mart.height == customers
    assert mart.select(SCORE_COLUMNS[1:-1]).null_count().row(0) == (customers,) * len(SCORE_COLUMNS[1:-1])
    assert set(mart["churn_risk"]) == {"unknown"}
    assert reason in mart["prediction_note"][0]
    check = check_result(result)
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert reason in check.description


def test_a_good_fit_passes_the_check_with_the_same_columns_and_types(tmp_path):
    good_result, good, good_types = materialize(tmp_path / "good", sample_shop())
    assert good_result.success and check_result(good_result).passed
    assert good["prediction_note"].null_count() == good.height
    assert good.select(SCORE_COLUMNS[1:-1]).null_count().sum_horizontal().item() == 0
    assert set(good["churn_risk"]) <= {"low", "medium", "high"}
    _, _, small_types = materialize(tmp_path / "small", small_shop(3, 1))
    assert small_types == good_types


def test_an_empty_shop_publishes_an_empty_mart_and_warns(tmp_path):
    empty = pl.DataFrame(schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64})
    result, mart, _ = materialize(tmp_path, empty)
    assert result.success and mart.height == 0
    assert not check_result(result).passed


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
