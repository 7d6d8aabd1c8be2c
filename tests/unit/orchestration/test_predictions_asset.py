"""The nightly prediction step on sample-shop transactions (the model math is tested in tests/unit/models)."""

from datetime import date

import polars as pl
import pytest

from assets.extraction.sample_shop import SampleShopConfig, generate
from models.predictions import predict
from models import ModelError


def qualifying(cfg: SampleShopConfig) -> pl.DataFrame:
    o = generate(cfg, duplicates=False, entities=("orders",))["orders"]
    return (
        o.filter(pl.col("customer_id").is_not_null() & (pl.col("status") != "cancelled"))
        .with_columns(order_date=pl.col("created_at").dt.date(),
                      amount=pl.col("subtotal") - pl.col("discount") - pl.col("refunded_amount"))
        .filter(pl.col("amount") > 0)
        .select("customer_id", "order_date", "amount")
    )


def test_scores_every_customer_with_finite_values_and_a_good_holdout():
    tx = qualifying(SampleShopConfig(orders=20_000, seed=3))
    scores, meta, by_freq = predict(tx, date(2025, 12, 31))
    assert scores.height == tx["customer_id"].n_unique()
    num = scores.select(pl.col(pl.Float64))
    assert num.null_count().sum_horizontal().item() == 0
    assert scores["p_alive"].is_between(0, 1).all()
    assert set(scores["churn_risk"]) <= {"low", "medium", "high"}
    assert (scores["expected_purchases_365d"] >= scores["expected_purchases_90d"]).all()
    # The sample shop buys and drops out the BG/NBD way: the holdout check must be close.
    assert meta["holdout_mae_bucket"] < 0.25
    assert abs(meta["holdout_predicted_total"] / meta["holdout_actual_total"] - 1) < 0.2
    assert by_freq.height >= 5


def test_a_shop_with_no_repeat_customer_fails_clearly():
    tx = pl.DataFrame({"customer_id": ["a", "b"], "order_date": [date(2025, 1, 1)] * 2, "amount": [10.0, 20.0]})
    with pytest.raises(ModelError):
        predict(tx, date(2025, 6, 30))
