"""Carts: every order's converted cart plus the abandoned ones, with their recovery e-mails."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .common import (
    CART_ABANDONED,
    CART_CONVERTED,
    CART_OPEN,
    HOUR_US,
    _DEVICES,
    _DEVICE_ABANDON,
    _latest,
    _money,
    _ts,
)
from .customers import _People
from .orders import _Lines, _Orders

if TYPE_CHECKING:
    from .block import _Block


def _carts_frame(rng: np.random.Generator, block: int, start_us: int, people: _People, orders: _Orders,
                 order_num: np.ndarray, lines: _Lines, subtotal_c: np.ndarray) -> pl.DataFrame:
    """Every order came from a cart; some of those carts were abandoned first and
    recovered by an e-mail. Other carts were abandoned for good."""
    n_ord, order_t, guest, device_idx = orders.n, orders.t, orders.guest, orders.device
    p_ab = _DEVICE_ABANDON[device_idx]
    n_abandoned = rng.negative_binomial(1, 1 - p_ab) if n_ord else np.zeros(0, dtype=np.int64)
    reachable_order = ~guest | (rng.random(n_ord) < 0.4)  # guests who typed an e-mail
    recovered = reachable_order & (rng.random(n_ord) < 0.06)
    # Recovered carts: started 2-40 h before the order, abandoned after 1 h.
    rec_start = order_t - (rng.uniform(2.0, 40.0, n_ord) * HOUR_US).astype(np.int64)
    conv_created = np.where(recovered, rec_start, order_t - (rng.uniform(0.05, 1.0, n_ord) * HOUR_US).astype(np.int64))
    conv = pl.DataFrame(
        {
            "cart_order_num": order_num,
            "customer_num": people.numbers(orders.customer),
            "device": _DEVICES[device_idx],
            "created_us": conv_created,
            "converted_us": order_t,
            "reachable": reachable_order,
            "recovered": recovered,
            "item_count": np.bincount(lines.order, weights=lines.quantity, minlength=n_ord).astype(np.int64),
            "value_c": subtotal_c,
        }
    )
    ab_src = np.repeat(np.arange(n_ord), n_abandoned)
    n_ab = ab_src.size
    ab_created = order_t[ab_src] - (rng.uniform(1.0, 24.0 * 20, n_ab) * HOUR_US).astype(np.int64)
    ab_items = 1 + rng.poisson(1.2, n_ab)
    abandoned = pl.DataFrame(
        {
            "cart_order_num": np.full(n_ab, -1, dtype=np.int64),
            "customer_num": people.numbers(orders.customer[ab_src]),
            "device": _DEVICES[device_idx[ab_src]],
            "created_us": ab_created,
            "converted_us": np.full(n_ab, -1, dtype=np.int64),
            "reachable": ~guest[ab_src] | (rng.random(n_ab) < 0.4),
            "recovered": np.zeros(n_ab, dtype=bool),
            "item_count": ab_items.astype(np.int64),
            "value_c": (ab_items * np.rint(np.exp(rng.normal(np.log(24.0), 0.6, n_ab)) * 100)).astype(np.int64),
        }
    )
    carts = pl.concat([conv, abandoned]).filter(pl.col("created_us") >= start_us)
    return carts.sort("created_us").with_columns(
        cart_num=pl.int_range(pl.len(), dtype=pl.Int64) + block * 100_000_000 + 1
    )


def _carts_view(block: _Block, as_of_us: int, currency: str) -> pl.DataFrame:
    # Carts: open -> abandoned after an hour idle -> e-mails at once and +24 h.
    c = block.carts.filter(pl.col("created_us") <= as_of_us)
    abandoned_us = pl.col("created_us") + HOUR_US
    first_mail = pl.when(pl.col("reachable")).then(abandoned_us)
    second_mail = pl.when(pl.col("reachable")).then(abandoned_us + 24 * HOUR_US)
    # A cart converted before its abandonment hour never got an e-mail;
    # a recovered one got the mails sent before it converted.
    c = c.with_columns(
        abandoned_us=abandoned_us,
        is_direct=(pl.col("converted_us") >= 0) & ~pl.col("recovered"),
    ).with_columns(
        first_mail_us=pl.when(~pl.col("is_direct")).then(first_mail),
        second_mail_us=pl.when(~pl.col("is_direct")).then(second_mail),
    ).with_columns(
        first_mail_us=pl.when(
            (pl.col("first_mail_us") <= as_of_us)
            & ((pl.col("converted_us") < 0) | (pl.col("first_mail_us") < pl.col("converted_us")))
        ).then(pl.col("first_mail_us")),
        second_mail_us=pl.when(
            (pl.col("second_mail_us") <= as_of_us)
            & ((pl.col("converted_us") < 0) | (pl.col("second_mail_us") < pl.col("converted_us")))
        ).then(pl.col("second_mail_us")),
        converted_now=(pl.col("converted_us") >= 0) & (pl.col("converted_us") <= as_of_us),
    )
    cart_status = (
        pl.when(pl.col("converted_now")).then(pl.lit(CART_CONVERTED))
        .when(pl.col("abandoned_us") <= as_of_us).then(pl.lit(CART_ABANDONED))
        .otherwise(pl.lit(CART_OPEN))
    )
    return c.select(
        cart_id=pl.lit("K") + pl.col("cart_num").cast(pl.String).str.zfill(10),
        customer_id=pl.when(pl.col("customer_num") > 0).then(
            pl.lit("C") + pl.col("customer_num").cast(pl.String).str.zfill(8)
        ),
        device=pl.col("device"),
        created_at=_ts("created_us"),
        updated_at=pl.from_epoch(
            _latest(
                pl.col("created_us"),
                pl.when(pl.col("abandoned_us") <= as_of_us).then(pl.col("abandoned_us")),
                pl.col("first_mail_us"),
                pl.col("second_mail_us"),
                pl.when(pl.col("converted_now")).then(pl.col("converted_us")),
            ),
            time_unit="us",
        ),
        status=cart_status,
        converted_order_id=pl.when(pl.col("converted_now")).then(
            pl.lit("O") + pl.col("cart_order_num").cast(pl.String).str.zfill(9)
        ),
        item_count=pl.col("item_count").cast(pl.Int32),
        cart_value=_money("value_c"),
        currency=pl.lit(currency),
        first_recovery_email_at=pl.from_epoch(pl.col("first_mail_us"), time_unit="us"),
        second_recovery_email_at=pl.from_epoch(pl.col("second_mail_us"), time_unit="us"),
        recovered=pl.col("recovered") & pl.col("converted_now"),
    )
