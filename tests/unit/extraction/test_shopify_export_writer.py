"""The test writer of Shopify exports (tests/support/shopify_export.py) read back by the real adapter.

The real-shop scenarios trust it to turn a purchase into one order whose
lines reconcile with its subtotal, under one customer however the e-mail's
case was typed, at the shop-local time it was placed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest

from assets.extraction.shopify import export_frames, read_export
from tests.support.shopify_export import export_rows, line_items, order_names, write_export


@pytest.mark.parametrize("items,amount", [(1, "10.00"), (3, "10.00"), (7, "100.01"), (2, "0.00"), (5, "0.03")])
def test_line_items_sum_to_the_amount_and_the_item_count(items, amount):
    lines = line_items(items, Decimal(amount), f"order-{items}-{amount}")
    assert sum(q * p for q, p in lines) == Decimal(amount)
    assert sum(q for q, _ in lines) == items
    assert 1 <= len(lines) <= 3 and all(p >= 0 and p == p.quantize(Decimal("0.01")) for _, p in lines)


def test_exported_purchases_read_back_as_orders_lines_and_customers(tmp_path):
    keys = [f"k{i}" for i in range(40)]
    purchases = order_names(pl.DataFrame({
        "key": keys,
        "customer": [str(i % 7) for i in range(40)],
        "placed_at": [datetime(2024, 7, 1 + i % 20, 21, 30) for i in range(40)],
        "items": [1 + i % 4 for i in range(40)],
        "amount": [f"{12 + i}.{i:02d}" for i in range(40)],
    }))
    rows = export_rows(purchases, "America/New_York", datetime(2024, 8, 1))
    assert any(r["Email"] != r["Email"].lower() for r in rows), "some e-mails are typed capitalised"
    path = write_export(tmp_path / "orders_export_1.csv", rows)
    frames = export_frames(read_export(path), "salt", datetime(2024, 8, 1))
    orders, lines = frames["orders"], frames["order_lines"]
    assert orders.height == 40 and orders["customer_id"].n_unique() == 7
    assert lines.height > 40, "some orders have several line items"
    line_sums = lines.group_by("order_id").agg(
        (pl.col("quantity").cast(pl.Int64) * pl.col("unit_price").cast(pl.Decimal(18, 2))).sum().alias("lines"))
    joined = orders.join(line_sums, on="order_id")
    assert (joined["subtotal"].cast(pl.Decimal(18, 2)) == joined["lines"]).all()
    # the shop-local time with July's offset (the loader stores it in UTC: 01:30 the next day)
    assert orders.sort("order_id")["created_at"][0].startswith("2024-07-01 21:30:00-04:00")
