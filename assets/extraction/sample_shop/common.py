"""What every part of the sample shop shares: its settings, the contract's vocabularies with
the weights the shop draws them by, the calendar (microsecond timestamps) and the seeded randomness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from ..contract import (
    ACQUISITION_CHANNELS,
    CART_STATUSES,
    DEVICES,
    LOYALTY_TIERS,
    ORDER_CHANNELS,
    ORDER_STATUSES,
    TICKET_CATEGORIES,
    TICKET_CHANNELS,
    TICKET_STATUSES,
)

SAMPLE_CURRENCY = "USD"
SAMPLE_TIMEZONE = "America/New_York"

# Customers per generated block: fixed, so a block's content depends only on
# (seed, block index, scale), never on how many blocks are consumed.
BLOCK_CUSTOMERS = 25_000
# Empirical orders per signed-up customer with the behaviour parameters of customers.py
# (measured on seed 42); used to size the customer base for a target order count.
ORDERS_PER_CUSTOMER = 3.69
GUEST_ORDER_SHARE = 0.08
DUPLICATE_EXPORT_SHARE = 0.002

DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000

_WHERE = "assets/extraction/sample_shop/common.py"


def _value(vocabulary: tuple[str, ...], value: str) -> str:
    """`value`, checked at import against the contract's list it belongs to."""
    if value not in vocabulary:
        raise ValueError(f"{_WHERE}: {value!r} is not in the contract's list {list(vocabulary)}; expected one of them")
    return value


def _vocabulary(vocabulary: tuple[str, ...], per_value: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(values, numbers): the contract's values the shop draws, in the contract's order, and one number each.

    A contract value given no number is never drawn; a number for a value
    the contract does not list fails at import.
    """
    for value in per_value:
        _value(vocabulary, value)
    values = [v for v in vocabulary if v in per_value]
    return np.array(values), np.array([per_value[v] for v in values])


_COUNTRIES = np.array(["US", "CA", "GB", "DE", "FR", "AU", "NL", "MX"])
_COUNTRY_P = np.array([0.55, 0.10, 0.10, 0.07, 0.06, 0.05, 0.04, 0.03])
_ACQ, _ACQ_P = _vocabulary(
    ACQUISITION_CHANNELS,
    {"organic": 0.28, "paid_search": 0.22, "paid_social": 0.18, "email": 0.08,
     "referral": 0.08, "affiliate": 0.06, "direct": 0.10},
)
_DEVICES, _DEVICE_P = _vocabulary(DEVICES, {"desktop": 0.44, "mobile": 0.46, "tablet": 0.08, "unknown": 0.02})
# Desktop shoppers fill bigger baskets: mean extra lines per order by device.
_DEVICE_EXTRA_LINES = _vocabulary(DEVICES, {"desktop": 1.5, "mobile": 0.7, "tablet": 1.1, "unknown": 0.9})[1]
# Abandonment probability of a cart by device (mobile checkout is the hardest).
_DEVICE_ABANDON = _vocabulary(DEVICES, {"desktop": 0.55, "mobile": 0.72, "tablet": 0.62, "unknown": 0.65})[1]
_CHANNELS, _CHANNEL_P = _vocabulary(
    ORDER_CHANNELS,
    {"web": 0.62, "app": 0.25, "marketplace": 0.08, "social": 0.05},
)
_TICKET_CHANNELS, _TICKET_CHANNEL_P = _vocabulary(
    TICKET_CHANNELS,
    {"email": 0.38, "phone": 0.17, "chat": 0.27, "social": 0.08, "messaging": 0.10},
)
# Median first-response hours by ticket channel.
_TICKET_RESPONSE_H = _vocabulary(
    TICKET_CHANNELS,
    {"email": 9.0, "phone": 0.05, "chat": 0.1, "social": 5.0, "messaging": 2.0},
)[1]
_TICKET_CATEGORIES, _TICKET_CATEGORY_P = _vocabulary(
    TICKET_CATEGORIES,
    {"delivery": 0.34, "wrong_item": 0.14, "return": 0.22, "product_question": 0.20, "payment": 0.10},
)
_PRODUCT_CATEGORIES = np.array(["electronics", "home", "fashion", "beauty", "sports", "books", "toys"])
# The entity modules' lifecycles name these values (checked against the contract at import).
PLACED, FULFILLED, CANCELLED, REFUNDED, PARTIALLY_REFUNDED = (
    _value(ORDER_STATUSES, v) for v in ("placed", "fulfilled", "cancelled", "refunded", "partially_refunded")
)
CART_OPEN, CART_CONVERTED, CART_ABANDONED = (_value(CART_STATUSES, v) for v in ("open", "converted", "abandoned"))
TICKET_OPEN, TICKET_PENDING, TICKET_RESOLVED, TICKET_CLOSED = (
    _value(TICKET_STATUSES, v) for v in ("open", "pending", "resolved", "closed")
)
TIER_NONE, TIER_BRONZE, TIER_SILVER, TIER_GOLD = (
    _value(LOYALTY_TIERS, v) for v in ("none", "bronze", "silver", "gold")
)
PRODUCT_QUESTION = _value(TICKET_CATEGORIES, "product_question")
N_PRODUCTS = 600


@dataclass(frozen=True)
class SampleShopConfig:
    orders: int = 100_000
    seed: int = 42
    end_date: date = date(2025, 12, 31)
    days: int = 730

    def __post_init__(self) -> None:
        if self.orders < 100:
            raise ValueError(f"sample shop needs at least 100 orders, got {self.orders}")
        if self.days < 30:
            raise ValueError(f"sample shop needs at least 30 days of history, got {self.days}")

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def customers(self) -> int:
        return max(10, round(self.orders * (1 - GUEST_ORDER_SHARE) / ORDERS_PER_CUSTOMER))

    @property
    def blocks(self) -> int:
        return -(-self.customers // BLOCK_CUSTOMERS)

    @property
    def end_of_history(self) -> datetime:
        return datetime.combine(self.end_date, datetime.max.time()).replace(microsecond=0)


def _us(d: date | datetime) -> int:
    if not isinstance(d, datetime):
        d = datetime.combine(d, datetime.min.time())
    return int((d - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def _daily_acquisition_weights(cfg: SampleShopConfig) -> np.ndarray:
    """Sign-up intensity per day: steady growth, a Nov/Dec peak and a summer dip."""
    days = np.arange(cfg.days)
    doy = np.array(
        [(cfg.start_date + timedelta(days=int(d))).timetuple().tm_yday for d in range(cfg.days)]
    )
    growth = 1.0 + 1.2 * days / cfg.days
    season = 1.0 + 0.45 * np.exp(-(((doy - 335) / 22.0) ** 2)) - 0.15 * np.exp(-(((doy - 200) / 30.0) ** 2))
    w = growth * season
    return w / w.sum()


def _time_of_day_us(rng: np.random.Generator, n: int) -> np.ndarray:
    # Orders cluster in the shop's evening (00:00-04:00 UTC for a US shop).
    hours = (rng.normal(1.0, 5.0, n) % 24.0)
    return (hours * HOUR_US).astype(np.int64)


def _block_rng(cfg: SampleShopConfig, block: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, block, cfg.orders])


def _id_series(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    s = pl.Series("n", numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + s).to_series()


def _ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="us")


def _money(col: str) -> pl.Expr:
    return (pl.col(col) / 100.0).round(2)


def _latest(*cols_and_times: pl.Expr) -> pl.Expr:
    return pl.max_horizontal(*cols_and_times)


def _seen(as_of_us: int, col: str) -> pl.Expr:
    """The event in `col` (-1: never) has happened by the as-of time."""
    return (pl.col(col) >= 0) & (pl.col(col) <= as_of_us)


def _when_seen(as_of_us: int, col: str) -> pl.Expr:
    return pl.when(_seen(as_of_us, col)).then(pl.col(col))
