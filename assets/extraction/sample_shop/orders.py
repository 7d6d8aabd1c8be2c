"""Orders and their lines: when customers and guests buy, what, for how much, and how the
order's status changes (fulfilled, cancelled, refunded) after it is placed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .common import (
    CANCELLED,
    DAY_US,
    FULFILLED,
    GUEST_ORDER_SHARE,
    N_PRODUCTS,
    PARTIALLY_REFUNDED,
    PLACED,
    REFUNDED,
    _CHANNELS,
    _CHANNEL_P,
    _DEVICES,
    _DEVICE_EXTRA_LINES,
    _DEVICE_P,
    _PRODUCT_CATEGORIES,
    SampleShopConfig,
    _id_series,
    _latest,
    _money,
    _seen,
    _time_of_day_us,
    _ts,
    _when_seen,
)
from .customers import _People

if TYPE_CHECKING:
    from .block import _Block


@dataclass(frozen=True)
class _Orders:
    """A block's orders, known customers' and guests', in drawing order."""

    customer: np.ndarray  # block index of the customer, -1 for a guest
    t: np.ndarray  # created_at (µs)
    device: np.ndarray  # index into _DEVICES

    @property
    def guest(self) -> np.ndarray:
        return self.customer < 0

    @property
    def n(self) -> int:
        return self.t.size

    def subset(self, keep: np.ndarray) -> "_Orders":
        return _Orders(self.customer[keep], self.t[keep], self.device[keep])


@dataclass(frozen=True)
class _Lines:
    """Order lines (line i belongs to order `order[i]`) and the catalogue they draw from."""

    order: np.ndarray
    number: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price_c: np.ndarray  # per product
    cost_c: np.ndarray  # per product
    category: np.ndarray  # per product

    def subtotal_c(self, n_orders: int) -> np.ndarray:
        line_total_c = self.quantity * self.price_c[self.product]
        return np.bincount(self.order, weights=line_total_c, minlength=n_orders).astype(np.int64)


def _draw_orders(cfg: SampleShopConfig, rng: np.random.Generator, people: _People, cust_idx: np.ndarray,
                 t: np.ndarray, weights: np.ndarray, start_us: int) -> _Orders:
    """The customers' purchases plus this block's share of guest orders, each with its device."""
    n_guest = int(round(cust_idx.size * GUEST_ORDER_SHARE / (1 - GUEST_ORDER_SHARE)))
    guest_day = np.searchsorted(np.cumsum(weights), rng.random(n_guest))
    guest_day = np.minimum(guest_day, cfg.days - 1)
    guest_t = start_us + guest_day * DAY_US + _time_of_day_us(rng, n_guest)

    order_cust = np.concatenate([cust_idx, np.full(n_guest, -1)])
    order_t = np.concatenate([t, guest_t])
    guest = order_cust < 0
    n_ord = order_t.size
    device_idx = np.where(
        guest | (rng.random(n_ord) < 0.2),
        rng.choice(len(_DEVICES), n_ord, p=_DEVICE_P),
        people.preferred_device[np.maximum(order_cust, 0)],
    )
    return _Orders(order_cust, order_t, device_idx)


def _order_numbers(block: int, orders: _Orders) -> np.ndarray:
    """Order numbers sorted by time inside the block, so ids grow with time."""
    order_sort = np.argsort(orders.t, kind="stable")
    rank = np.empty(orders.n, dtype=np.int64)
    rank[order_sort] = np.arange(orders.n)
    return block * 10_000_000 + rank + 1


def _draw_lines(cfg: SampleShopConfig, rng: np.random.Generator, orders: _Orders) -> _Lines:
    n_lines = 1 + rng.poisson(_DEVICE_EXTRA_LINES[orders.device])
    line_order = np.repeat(np.arange(orders.n), n_lines)
    line_starts = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    line_number = np.arange(line_order.size) - np.repeat(line_starts, n_lines) + 1
    prng = np.random.default_rng([cfg.seed, 999_999])  # the catalogue is shared by every block
    product_price_c = np.rint(np.exp(prng.normal(np.log(22.0), 0.7, N_PRODUCTS)) * 100).astype(np.int64) + 99
    product_cost_c = np.rint(product_price_c * prng.uniform(0.42, 0.7, N_PRODUCTS)).astype(np.int64)
    product_cat = prng.choice(len(_PRODUCT_CATEGORIES), N_PRODUCTS)
    # Popular products sell more (Zipf-like).
    pop = 1.0 / np.arange(1, N_PRODUCTS + 1) ** 0.8
    product = np.searchsorted(np.cumsum(pop / pop.sum()), rng.random(line_order.size))
    product = np.minimum(product, N_PRODUCTS - 1)
    quantity = 1 + rng.poisson(0.25, line_order.size)
    return _Lines(line_order, line_number, product, quantity, product_price_c, product_cost_c, product_cat)


def _draw_coupons(rng: np.random.Generator, orders: _Orders) -> tuple[np.ndarray, np.ndarray]:
    """(coupon code or "", discount share) per order."""
    # Sequence of the order within its customer (for the post-first-purchase coupon).
    n_ord = orders.n
    seq = np.zeros(n_ord, dtype=np.int64)
    known = np.flatnonzero(~orders.guest)
    if known.size:
        o = known[np.lexsort((orders.t[known], orders.customer[known]))]
        c = orders.customer[o]
        grp_start = np.concatenate([[True], c[1:] != c[:-1]])
        idx = np.arange(o.size)
        seq[o] = idx - np.maximum.accumulate(np.where(grp_start, idx, 0)) + 1
    month = (orders.t // DAY_US).astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12 + 1
    coupon = np.full(n_ord, "", dtype=object)
    pct = np.zeros(n_ord)
    welcome = (seq == 2) & (rng.random(n_ord) < 0.35)
    coupon[welcome], pct[welcome] = "WELCOME10", 0.10
    bf = ~welcome & (month == 11) & (rng.random(n_ord) < 0.30)
    coupon[bf], pct[bf] = "BLACKFRIDAY20", 0.20
    other = ~welcome & ~bf & (rng.random(n_ord) < 0.06)
    coupon[other], pct[other] = "SAVE15", 0.15
    return coupon, pct


def _orders_frame(rng: np.random.Generator, people: _People, orders: _Orders, order_num: np.ndarray,
                  subtotal_c: np.ndarray) -> pl.DataFrame:
    """Orders with their money and lifecycle: cancellations, fulfilment, refunds."""
    coupon, pct = _draw_coupons(rng, orders)
    discount_c = np.rint(subtotal_c * pct).astype(np.int64)
    shipping_c = np.where(subtotal_c - discount_c >= 5_000, 0, 499)
    tax_c = np.rint((subtotal_c - discount_c) * 0.08).astype(np.int64)

    n_ord, order_t = orders.n, orders.t
    r = rng.random(n_ord)
    cancelled = r < 0.03
    refunded = (r >= 0.03) & (r < 0.065)
    partial = (r >= 0.065) & (r < 0.09)
    cancel_at = np.where(cancelled, order_t + (rng.uniform(0.02, 1.0, n_ord) * DAY_US).astype(np.int64), -1)
    fulfil_at = np.where(cancelled, -1, order_t + (rng.uniform(0.3, 3.0, n_ord) * DAY_US).astype(np.int64))
    refund_at = np.where(
        refunded | partial, fulfil_at + (rng.uniform(3.0, 30.0, n_ord) * DAY_US).astype(np.int64), -1
    )
    net_c = subtotal_c - discount_c
    refund_amount_c = np.where(
        refunded, net_c, np.where(partial, np.rint(net_c * rng.uniform(0.15, 0.6, n_ord)).astype(np.int64), 0)
    )
    channel = rng.choice(len(_CHANNELS), n_ord, p=_CHANNEL_P)
    channel = np.where(orders.device == 0, np.where(channel == 1, 0, channel), channel)
    return pl.DataFrame(
        {
            "order_num": order_num,
            "customer_num": people.numbers(orders.customer),
            "created_us": order_t,
            "cancel_us": cancel_at,
            "fulfil_us": fulfil_at,
            "refund_us": refund_at,
            "final_status": np.where(
                cancelled, CANCELLED, np.where(refunded, REFUNDED, np.where(partial, PARTIALLY_REFUNDED, FULFILLED))
            ),
            "device": _DEVICES[orders.device],
            "channel": _CHANNELS[channel],
            "subtotal_c": subtotal_c,
            "discount_c": discount_c,
            "shipping_c": shipping_c,
            "tax_c": tax_c,
            "refund_c": refund_amount_c,
            "coupon_code": pl.Series(coupon.astype(str)).replace("", None),
        }
    )


def _order_lines_frame(orders: _Orders, order_num: np.ndarray, lines: _Lines) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_num": order_num[lines.order],
            "created_us": orders.t[lines.order],
            "line_number": lines.number.astype(np.int32),
            "product_id": _id_series("P", lines.product + 1, 5),
            "category": _PRODUCT_CATEGORIES[lines.category[lines.product]],
            "quantity": lines.quantity.astype(np.int32),
            "unit_price_c": lines.price_c[lines.product],
            "unit_cost_c": lines.cost_c[lines.product],
        }
    )


def _orders_view(o: pl.DataFrame, as_of_us: int, currency: str) -> pl.DataFrame:
    """Orders placed by the as-of time: status and amounts as of then."""
    status = (
        pl.when(_seen(as_of_us, "cancel_us")).then(pl.lit(CANCELLED))
        .when(_seen(as_of_us, "refund_us")).then(pl.col("final_status"))
        .when(_seen(as_of_us, "fulfil_us")).then(pl.lit(FULFILLED))
        .otherwise(pl.lit(PLACED))
    )
    return o.select(
        order_id=pl.lit("O") + pl.col("order_num").cast(pl.String).str.zfill(9),
        customer_id=pl.when(pl.col("customer_num") > 0).then(
            pl.lit("C") + pl.col("customer_num").cast(pl.String).str.zfill(8)
        ),
        created_at=_ts("created_us"),
        updated_at=pl.from_epoch(
            _latest(pl.col("created_us"), _when_seen(as_of_us, "cancel_us"), _when_seen(as_of_us, "fulfil_us"),
                    _when_seen(as_of_us, "refund_us")),
            time_unit="us",
        ),
        status=status,
        device=pl.col("device"),
        channel=pl.col("channel"),
        currency=pl.lit(currency),
        subtotal=_money("subtotal_c"),
        discount=_money("discount_c"),
        shipping=_money("shipping_c"),
        tax=_money("tax_c"),
        refunded_amount=pl.when(_seen(as_of_us, "refund_us")).then(_money("refund_c")).otherwise(0.0),
        coupon_code=pl.col("coupon_code"),
    )


def _order_lines_view(block: _Block, as_of_us: int) -> pl.DataFrame:
    return block.order_lines.filter(pl.col("created_us") <= as_of_us).select(
        order_id=pl.lit("O") + pl.col("order_num").cast(pl.String).str.zfill(9),
        line_number=pl.col("line_number"),
        product_id=pl.col("product_id"),
        category=pl.col("category"),
        quantity=pl.col("quantity"),
        unit_price=_money("unit_price_c"),
        unit_cost=_money("unit_cost_c"),
        updated_at=_ts("created_us"),
    )
