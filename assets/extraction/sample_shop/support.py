"""Support tickets: which orders lead to one, how fast and well they are answered, and the
orders a badly served customer no longer places."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .common import (
    DAY_US,
    HOUR_US,
    PRODUCT_QUESTION,
    TICKET_CLOSED,
    TICKET_OPEN,
    TICKET_PENDING,
    TICKET_RESOLVED,
    _TICKET_CATEGORIES,
    _TICKET_CATEGORY_P,
    _TICKET_CHANNELS,
    _TICKET_CHANNEL_P,
    _TICKET_RESPONSE_H,
    _latest,
    _seen,
    _ts,
    _when_seen,
)
from .customers import _People
from .orders import _Orders

if TYPE_CHECKING:
    from .block import _Block


@dataclass(frozen=True)
class _Tickets:
    """Support tickets, each on one order (an index into _Orders)."""

    order: np.ndarray
    channel: np.ndarray
    created: np.ndarray
    first_response: np.ndarray
    resolved: np.ndarray
    csat: np.ndarray
    csat_answered: np.ndarray
    reopened: np.ndarray

    def subset(self, keep: np.ndarray, new_order_index: np.ndarray) -> "_Tickets":
        return _Tickets(new_order_index[self.order[keep]], self.channel[keep], self.created[keep],
                        self.first_response[keep], self.resolved[keep], self.csat[keep],
                        self.csat_answered[keep], self.reopened[keep])


def _draw_tickets(rng: np.random.Generator, orders: _Orders) -> tuple[_Tickets, np.ndarray]:
    """Tickets on known customers' orders, and which of them were a bad experience."""
    ticket_p = 0.07
    has_ticket = (rng.random(orders.n) < ticket_p) & ~orders.guest
    tk_order = np.flatnonzero(has_ticket)
    n_tk = tk_order.size
    tk_channel = rng.choice(len(_TICKET_CHANNELS), n_tk, p=_TICKET_CHANNEL_P)
    tk_created = orders.t[tk_order] + (rng.exponential(4.0, n_tk) * DAY_US).astype(np.int64) + HOUR_US
    tk_first_resp = tk_created + (
        rng.lognormal(np.log(_TICKET_RESPONSE_H[tk_channel] + 0.01), 0.9) * HOUR_US
    ).astype(np.int64)
    resolution_h = rng.lognormal(np.log(20.0), 1.1, n_tk)
    tk_resolved = tk_first_resp + (resolution_h * HOUR_US).astype(np.int64)
    # Satisfaction falls with resolution time; 35% never answer the survey.
    mean_csat = 4.7 - 0.9 * np.log1p(resolution_h / 24.0)
    csat = np.clip(np.rint(rng.normal(mean_csat, 0.8)), 1, 5).astype(np.int64)
    csat_answered = rng.random(n_tk) < 0.65
    reopened = rng.choice(3, n_tk, p=[0.88, 0.10, 0.02])
    # "4x more likely to switch after poor service": slow (over 3 days) or badly
    # rated support removes most of the customer's later orders.
    bad = (resolution_h > 72) | (csat <= 2)
    return _Tickets(tk_order, tk_channel, tk_created, tk_first_resp, tk_resolved, csat, csat_answered, reopened), bad


def _thin_after_bad_support(rng: np.random.Generator, people: _People, orders: _Orders, tickets: _Tickets,
                            bad: np.ndarray) -> tuple[_Orders, _Tickets]:
    """Customers after a bad support experience buy less: most of their later orders go (tickets follow)."""
    bad_after = np.full(people.n, np.iinfo(np.int64).max)
    if tickets.order.size:
        bad_cust = orders.customer[tickets.order][bad]
        np.minimum.at(bad_after, bad_cust, tickets.created[bad])
    cust_of_order = np.maximum(orders.customer, 0)
    thinned = (~orders.guest) & (orders.t > bad_after[cust_of_order]) & (rng.random(orders.n) < 0.8)
    keep_order = ~thinned
    new_index = np.cumsum(keep_order) - 1
    return orders.subset(keep_order), tickets.subset(keep_order[tickets.order], new_index)


def _tickets_frame(rng: np.random.Generator, block: int, end_us: int, people: _People, orders: _Orders,
                   tickets: _Tickets, order_num: np.ndarray) -> pl.DataFrame:
    n_tk = tickets.order.size
    tk_cat = rng.choice(len(_TICKET_CATEGORIES), n_tk, p=_TICKET_CATEGORY_P)
    return pl.DataFrame(
        {
            "ticket_num": block * 10_000_000 + np.argsort(np.argsort(tickets.created, kind="stable"), kind="stable") + 1,
            "customer_num": people.first + orders.customer[tickets.order] + 1,
            "order_num": np.where(
                (_TICKET_CATEGORIES[tk_cat] == PRODUCT_QUESTION) & (rng.random(n_tk) < 0.5), -1,
                order_num[tickets.order],
            ),
            "channel": _TICKET_CHANNELS[tickets.channel],
            "category": _TICKET_CATEGORIES[tk_cat],
            "created_us": tickets.created,
            "first_response_us": tickets.first_response,
            "resolved_us": tickets.resolved,
            "closed_us": tickets.resolved + 7 * DAY_US,
            "csat": np.where(tickets.csat_answered, tickets.csat, -1),
            "reopened_count": tickets.reopened.astype(np.int32),
        }
    ).filter(pl.col("created_us") <= end_us)


def _tickets_view(block: _Block, as_of_us: int) -> pl.DataFrame:
    t = block.support_tickets.filter(pl.col("created_us") <= as_of_us)
    ticket_status = (
        pl.when(_seen(as_of_us, "closed_us")).then(pl.lit(TICKET_CLOSED))
        .when(_seen(as_of_us, "resolved_us")).then(pl.lit(TICKET_RESOLVED))
        .when(_seen(as_of_us, "first_response_us")).then(pl.lit(TICKET_PENDING))
        .otherwise(pl.lit(TICKET_OPEN))
    )
    return t.select(
        ticket_id=pl.lit("T") + pl.col("ticket_num").cast(pl.String).str.zfill(9),
        customer_id=pl.lit("C") + pl.col("customer_num").cast(pl.String).str.zfill(8),
        order_id=pl.when(pl.col("order_num") > 0).then(
            pl.lit("O") + pl.col("order_num").cast(pl.String).str.zfill(9)
        ),
        channel=pl.col("channel"),
        category=pl.col("category"),
        created_at=_ts("created_us"),
        first_response_at=pl.from_epoch(_when_seen(as_of_us, "first_response_us"), time_unit="us"),
        resolved_at=pl.from_epoch(_when_seen(as_of_us, "resolved_us"), time_unit="us"),
        status=ticket_status,
        csat_score=pl.when(_seen(as_of_us, "resolved_us") & (pl.col("csat") > 0)).then(pl.col("csat").cast(pl.Int32)),
        reopened_count=pl.when(_seen(as_of_us, "resolved_us")).then(pl.col("reopened_count"))
        .otherwise(0).cast(pl.Int32),
        updated_at=pl.from_epoch(
            _latest(
                pl.col("created_us"),
                _when_seen(as_of_us, "first_response_us"),
                _when_seen(as_of_us, "resolved_us"),
                _when_seen(as_of_us, "closed_us"),
            ),
            time_unit="us",
        ),
    )
