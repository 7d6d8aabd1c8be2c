"""Customers: who signs up when, how often they buy and when they stop, and their record over time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .common import (
    BLOCK_CUSTOMERS,
    DAY_US,
    TIER_BRONZE,
    TIER_GOLD,
    TIER_NONE,
    TIER_SILVER,
    _ACQ,
    _ACQ_P,
    _COUNTRIES,
    _COUNTRY_P,
    _DEVICES,
    _DEVICE_P,
    SampleShopConfig,
    _time_of_day_us,
    _ts,
)

if TYPE_CHECKING:
    from .block import _Block


@dataclass(frozen=True)
class _People:
    """A block's customers as the generator draws them (index i is customer first + i + 1)."""

    first: int  # customers before this block
    signup_us: np.ndarray
    preferred_device: np.ndarray
    rate: np.ndarray  # purchases per day while alive
    dropout: np.ndarray  # probability of dropping out after a purchase
    buys: np.ndarray  # some sign up and never buy

    @property
    def n(self) -> int:
        return self.signup_us.size

    def numbers(self, index: np.ndarray) -> np.ndarray:
        """Customer numbers of block indices (-1, a guest, stays -1)."""
        return np.where(index < 0, -1, self.first + index + 1)


def _draw_customers(cfg: SampleShopConfig, rng: np.random.Generator, block: int, weights: np.ndarray,
                    start_us: int) -> _People:
    first_customer = block * BLOCK_CUSTOMERS
    n_cust = min(BLOCK_CUSTOMERS, cfg.customers - first_customer)
    signup_day = np.searchsorted(np.cumsum(weights), rng.random(n_cust))
    signup_day = np.minimum(signup_day, cfg.days - 1)
    signup_us = start_us + signup_day * DAY_US + rng.integers(0, DAY_US, n_cust)
    preferred_device = rng.choice(len(_DEVICES), n_cust, p=_DEVICE_P)
    # Purchase rate (per day) and dropout probability: gamma / beta mixing as in BG/NBD.
    rate = rng.gamma(shape=1.3, scale=1.0 / 28.0 / 1.3, size=n_cust)
    dropout = rng.beta(1.3, 4.5, size=n_cust)
    buys = rng.random(n_cust) < 0.88
    return _People(first_customer, signup_us, preferred_device, rate, dropout, buys)


def _draw_purchases(rng: np.random.Generator, people: _People, end_us: int) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, time) of every purchase up to the end of history, in customer order."""
    n_cust = people.n
    # Number of purchases before dropping out: geometric in the dropout prob.
    n_purchases = np.where(people.buys, rng.geometric(np.clip(people.dropout, 0.01, 1.0)), 0)
    n_purchases = np.minimum(n_purchases, 400)
    cust_idx = np.repeat(np.arange(n_cust), n_purchases)
    first_delay = (rng.exponential(2.0, n_cust) * DAY_US).astype(np.int64)
    gaps = (rng.exponential(1.0, cust_idx.size) / people.rate[cust_idx] * DAY_US).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(n_purchases)[:-1]])
    is_first = np.zeros(cust_idx.size, dtype=bool)
    is_first[starts[n_purchases > 0]] = True
    gaps[is_first] = first_delay[cust_idx[is_first]]
    csum = np.cumsum(gaps)
    # Sum of gaps before each customer's first purchase (customers with no
    # purchase may sit at the end, so index a zero-padded cumsum).
    offset = np.repeat(np.concatenate([[0], csum])[starts], n_purchases)
    t = people.signup_us[cust_idx] + (csum - offset)
    keep = t <= end_us
    cust_idx, t = cust_idx[keep], t[keep]
    # Round to a plausible time of day within the purchase day.
    t = (t // DAY_US) * DAY_US + _time_of_day_us(rng, t.size)
    # ...but never before the customer signed up.
    t = np.clip(t, people.signup_us[cust_idx], end_us)
    return cust_idx, t


def _customers_frame(rng: np.random.Generator, people: _People) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_num": np.arange(people.first + 1, people.first + people.n + 1),
            "created_us": people.signup_us,
            "country": rng.choice(_COUNTRIES, people.n, p=_COUNTRY_P),
            "acquisition_channel": rng.choice(_ACQ, people.n, p=_ACQ_P),
        }
    )


def _customers_view(block: _Block, placed: pl.DataFrame, as_of_us: int) -> pl.DataFrame:
    # Customers: loyalty tier follows the number of orders placed so far, and
    # the record changes (updated_at) when the tier does.
    counts = (
        placed.filter(pl.col("customer_num") > 0)
        .sort("created_us")
        .group_by("customer_num", maintain_order=True)
        .agg(
            n=pl.len(),
            t2=pl.col("created_us").get(1, null_on_oob=True),
            t4=pl.col("created_us").get(3, null_on_oob=True),
            t8=pl.col("created_us").get(7, null_on_oob=True),
        )
    )
    cu = block.customers.filter(pl.col("created_us") <= as_of_us).join(counts, on="customer_num", how="left")
    n = pl.col("n").fill_null(0)
    return cu.select(
        customer_id=pl.lit("C") + pl.col("customer_num").cast(pl.String).str.zfill(8),
        email=pl.lit("customer") + pl.col("customer_num").cast(pl.String) + pl.lit("@example.com"),
        created_at=_ts("created_us"),
        country=pl.col("country"),
        acquisition_channel=pl.col("acquisition_channel"),
        loyalty_tier=pl.when(n >= 8).then(pl.lit(TIER_GOLD))
        .when(n >= 4).then(pl.lit(TIER_SILVER))
        .when(n >= 2).then(pl.lit(TIER_BRONZE))
        .otherwise(pl.lit(TIER_NONE)),
        updated_at=pl.from_epoch(
            pl.when(n >= 8).then(pl.col("t8"))
            .when(n >= 4).then(pl.col("t4"))
            .when(n >= 2).then(pl.col("t2"))
            .otherwise(pl.col("created_us")),
            time_unit="us",
        ),
    )
