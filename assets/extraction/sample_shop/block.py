"""One block of customers, drawn whole: the order of the draws (which fixes the shop a seed gives)
and the view of every entity at an as-of time."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .carts import _carts_frame, _carts_view
from .common import SampleShopConfig, _block_rng, _daily_acquisition_weights, _us
from .customers import _customers_frame, _customers_view, _draw_customers, _draw_purchases
from .orders import (
    _draw_lines,
    _draw_orders,
    _order_lines_frame,
    _order_lines_view,
    _order_numbers,
    _orders_frame,
    _orders_view,
)
from .support import _draw_tickets, _thin_after_bad_support, _tickets_frame, _tickets_view


@dataclass(frozen=True)
class _Block:
    """The full history of one block of customers (and its share of guests)."""

    customers: pl.DataFrame
    orders: pl.DataFrame
    order_lines: pl.DataFrame
    carts: pl.DataFrame
    support_tickets: pl.DataFrame


# Every draw of a block comes from one generator, in the order of the calls in
# _generate_block: reordering two calls changes the shop a seed gives (the
# test of the seeded output's hash fails).
def _generate_block(cfg: SampleShopConfig, block: int) -> _Block:
    rng = _block_rng(cfg, block)
    start_us = _us(cfg.start_date)
    end_us = _us(cfg.end_of_history)
    weights = _daily_acquisition_weights(cfg)
    people = _draw_customers(cfg, rng, block, weights, start_us)
    cust_idx, t = _draw_purchases(rng, people, end_us)
    orders = _draw_orders(cfg, rng, people, cust_idx, t, weights, start_us)
    # Tickets are drawn before thinning: they decide it.
    tickets, bad = _draw_tickets(rng, orders)
    orders, tickets = _thin_after_bad_support(rng, people, orders, tickets, bad)
    order_num = _order_numbers(block, orders)
    lines = _draw_lines(cfg, rng, orders)
    subtotal_c = lines.subtotal_c(orders.n)
    orders_df = _orders_frame(rng, people, orders, order_num, subtotal_c)
    lines_df = _order_lines_frame(orders, order_num, lines)
    carts = _carts_frame(rng, block, start_us, people, orders, order_num, lines, subtotal_c)
    tickets_df = _tickets_frame(rng, block, end_us, people, orders, tickets, order_num)
    customers = _customers_frame(rng, people)
    return _Block(customers, orders_df, lines_df, carts, tickets_df)


def _view(block: _Block, as_of_us: int, currency: str) -> dict[str, pl.DataFrame]:
    """Each entity as the shop's systems hold it at `as_of_us`: what exists by then, in its latest version."""
    placed = block.orders.filter(pl.col("created_us") <= as_of_us)
    return {
        "customers": _customers_view(block, placed, as_of_us),
        "orders": _orders_view(placed, as_of_us, currency),
        "order_lines": _order_lines_view(block, as_of_us),
        "carts": _carts_view(block, as_of_us, currency),
        "support_tickets": _tickets_view(block, as_of_us),
    }
