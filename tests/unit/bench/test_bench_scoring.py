"""bench/bench_scoring.py: the synthetic shop follows the stored model, and the script runs end to end."""

from __future__ import annotations

import re

from tests.support.bench_scripts import load


def test_the_synthetic_shop_is_what_the_stored_model_predicts_and_the_table_prints(capsys):
    bench = load("bench_scoring")
    orders = bench.synthetic_orders(3_000, seed=1)
    assert orders.columns == ["customer_id", "order_date", "amount"]
    assert orders["customer_id"].n_unique() == 3_000
    assert orders["order_date"].max() <= bench.AS_OF and (orders["amount"] > 0).all()
    assert orders.equals(orders.sort("customer_id", "order_date", "amount"))
    assert bench.main(["--customers", "3000", "--repeat", "1", "--no-fit"]) == 0
    out = capsys.readouterr().out
    assert "| scoring night, total |" in out and "scored 3,000 customers" in out
    predicted, actual = map(float, re.search(r"drift: predicted (\d+), actual (\d+);", out).groups())
    # Drawn from the stored parameters: the model's prediction of the days since the fit is close.
    assert abs(predicted - actual) <= 4 * max(predicted, 1.0) ** 0.5
