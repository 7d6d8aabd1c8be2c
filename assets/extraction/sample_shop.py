"""The sample shop: a seeded generator of a web shop's operational data.

It draws two years of customer behaviour once (for a given seed and scale) and
then shows it *as the shop's systems would hold it on an as-of date*: records
created after the as-of date do not exist yet, and each record carries its
latest version up to that date (an order placed on Monday, fulfilled on
Wednesday and refunded two weeks later is `placed`, `fulfilled` or `refunded`
depending on when you look). That is what makes incremental extraction,
late updates and the nightly schedule testable on it.

Behaviour, chosen so that the marts tell a story:
- acquisition grows over the two years and peaks around November/December;
- each customer buys at their own rate and, after any purchase, may drop out
  for good (the BG/NBD story, so the predictive models have something true to
  find); many never buy a second time;
- desktop baskets are bigger than mobile ones (more lines per order);
- carts are abandoned more often on mobile; known customers (and guests who
  left an e-mail) get a recovery e-mail right away and another 24 h later,
  and some abandoned carts are recovered;
- a share of orders leads to a support ticket; slow or badly rated support
  thins the customer's later orders (they buy less afterwards);
- cancellations and refunds arrive days after the order, as updates;
- a small share of rows is exported twice (identical copies).

Everything is vectorised NumPy/Polars and generated in fixed-size blocks of
customers, each with its own seed, so memory stays bounded at any scale and
the same seed gives the same shop however it is consumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from .contract import (
    ACQUISITION_CHANNELS,
    CART_STATUSES,
    DEVICES,
    ENTITIES,
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
# Empirical orders per signed-up customer with the behaviour parameters below
# (measured on seed 42); used to size the customer base for a target order count.
ORDERS_PER_CUSTOMER = 3.69
GUEST_ORDER_SHARE = 0.08
DUPLICATE_EXPORT_SHARE = 0.002

DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000

_WHERE = "assets/extraction/sample_shop.py"


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


# Every entity of the contract, in its order. One the generator does not
# draw (yet) comes out as an empty frame with the contract's columns, so the
# sample shop simply does not track it.
ENTITY_NAMES = tuple(ENTITIES)
_POLARS_TYPES = {
    "string": pl.String, "enum": pl.String, "timestamp": pl.Datetime("us"),
    "money": pl.Float64, "integer": pl.Int32, "boolean": pl.Boolean,
}


def _not_generated(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema={c.name: _POLARS_TYPES[c.kind] for c in ENTITIES[name].columns})


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
# The lifecycle below names these values (checked against the contract at import).
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


@dataclass(frozen=True)
class _Block:
    """The full history of one block of customers (and its share of guests)."""

    customers: pl.DataFrame
    orders: pl.DataFrame
    order_lines: pl.DataFrame
    carts: pl.DataFrame
    support_tickets: pl.DataFrame

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


def _customers_frame(rng: np.random.Generator, people: _People) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_num": np.arange(people.first + 1, people.first + people.n + 1),
            "created_us": people.signup_us,
            "country": rng.choice(_COUNTRIES, people.n, p=_COUNTRY_P),
            "acquisition_channel": rng.choice(_ACQ, people.n, p=_ACQ_P),
        }
    )


# ---------------------------------------------------------------------------
# Views as of a date
# ---------------------------------------------------------------------------

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


def _duplicate_some(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Export a few rows twice, as real exports do (identical copies)."""
    if df.height == 0:
        return df
    dup = rng.random(df.height) < DUPLICATE_EXPORT_SHARE
    if not dup.any():
        return df
    return pl.concat([df, df.filter(pl.Series(dup))])


def iter_blocks(
    cfg: SampleShopConfig,
    as_of: datetime | None = None,
    since: datetime | None = None,
    entities: tuple[str, ...] = ENTITY_NAMES,
    duplicates: bool = True,
) -> Iterator[dict[str, pl.DataFrame]]:
    """Yield the shop's records block by block, as they stood at `as_of`.

    With `since`, only records whose `updated_at` is after it (the change
    feed an incremental extraction reads). Each yielded dict holds one frame
    per requested entity.
    """
    as_of = as_of or cfg.end_of_history
    as_of_us = min(_us(as_of), _us(cfg.end_of_history))
    since_us = _us(since) if since else None
    for b in range(cfg.blocks):
        view = _view(_generate_block(cfg, b), as_of_us, SAMPLE_CURRENCY)
        rng = np.random.default_rng([cfg.seed, b, 7])
        out = {}
        for name in ENTITY_NAMES:
            if name not in entities:
                continue
            df = view[name] if name in view else _not_generated(name)
            if since_us is not None:
                df = df.filter(pl.col("updated_at") > pl.from_epoch(pl.lit(since_us), time_unit="us"))
            out[name] = _duplicate_some(df, rng) if duplicates else df
        yield out


def generate(
    cfg: SampleShopConfig,
    as_of: datetime | None = None,
    since: datetime | None = None,
    entities: tuple[str, ...] = ENTITY_NAMES,
    duplicates: bool = True,
) -> dict[str, pl.DataFrame]:
    """The whole shop in memory (tests and small scales; use iter_blocks at scale)."""
    parts: dict[str, list[pl.DataFrame]] = {e: [] for e in entities}
    for block in iter_blocks(cfg, as_of, since, entities, duplicates):
        for name, df in block.items():
            parts[name].append(df)
    return {name: pl.concat(dfs) for name, dfs in parts.items()}
