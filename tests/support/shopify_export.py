"""Write purchases as Shopify "Export orders" CSVs, the way the admin exports them.

For the real-shop scenarios: a transaction log (one row per purchase: a
stable order key, a customer, a shop-local time, an item count, an amount)
becomes the export's layout (docs/shopify.md): one row per line item,
order-level fields on the first row only, later rows repeating `Name`,
`Email` and `Created at`; the e-mail is the customer's identity and is
written with the case variations people type; times carry the shop's UTC
offset of that date (daylight-saving time included). Every choice that is not
in the log (time of day, number of lines, channel, refunds) is derived from
the order key, so the same log gives the same files.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from assets.settings import PROJECT_ROOT

# The header of a real export (the fixture's, 79 columns): columns the adapter never reads stay blank.
FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "shopify" / "orders_export_1.csv"
HEADER = next(csv.reader(FIXTURE.read_text(encoding="utf-8").splitlines()[:1]))
FIRST_NAME = 1001
SOURCES = ("web",) * 6 + ("iphone", "android", "pos")
REFUND_ONE_IN = 50
SHIPPING = Decimal("4.99")
FREE_SHIPPING_FROM = Decimal("25.00")


def _pick(key: str, salt: str, n: int) -> int:
    """A stable choice in range(n) for one order."""
    return int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "big") % n


def _stamp(local: datetime) -> str:
    return local.strftime("%Y-%m-%d %H:%M:%S %z")


def email(customer: str, key: str) -> str:
    """The customer's address, as typed on this order: mostly lower case, sometimes capitalised."""
    address = f"customer{customer}@example.com"
    return address.capitalize() if _pick(key, "case", 5) == 0 else address


def line_items(items: int, amount: Decimal, key: str) -> list[tuple[int, Decimal]]:
    """(quantity, unit price) of one order's lines: 1-3 lines whose quantity x price sum to `amount` exactly.

    The first line takes the remaining quantity, the last is one item priced
    with the remainder, so the order's subtotal reconciles with its lines.
    """
    if items < 1:
        raise ValueError(f"order {key}: {items} items, expected at least 1")
    cents = int(amount * 100)
    lines = min(items, 1 + _pick(key, "lines", 3))
    if lines == 1 and cents % items:
        lines = 2
    if lines == 1:
        return [(items, _money(cents // items))]
    unit = cents // items
    quantities = [items - lines + 1] + [1] * (lines - 1)
    last = cents - unit * (items - 1)
    return [(q, _money(unit)) for q in quantities[:-1]] + [(1, _money(last))]


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def order_names(purchases: pl.DataFrame) -> pl.DataFrame:
    """`purchases` with `name` (#1001, #1002, ...) in order of placement: fixed once, for every later export."""
    return purchases.sort("placed_at", "key").with_columns(
        name=pl.format("#{}", pl.int_range(FIRST_NAME, FIRST_NAME + pl.len())))


def export_rows(purchases: pl.DataFrame, timezone: str, exported_at: datetime) -> list[dict[str, str]]:
    """The export's rows for `purchases` (key, name, customer, placed_at shop-local, items, amount).

    An order is fulfilled a day after it was placed when that is before
    `exported_at` (shop-local), else unfulfilled; one in REFUND_ONE_IN is refunded.
    """
    zone = ZoneInfo(timezone)
    exported = exported_at.replace(tzinfo=zone)
    rows: list[dict[str, str]] = []
    for order in purchases.sort("placed_at", "key").iter_rows(named=True):
        key, placed = order["key"], order["placed_at"].replace(tzinfo=zone)
        amount = Decimal(order["amount"]).quantize(Decimal("0.01"))
        fulfilled = placed + timedelta(days=1, hours=_pick(key, "ship", 6))
        refunded = _pick(key, "refund", REFUND_ONE_IN) == 0
        shipping = SHIPPING if amount < FREE_SHIPPING_FROM else Decimal("0.00")
        first = {
            "Financial Status": "refunded" if refunded else "paid",
            "Paid at": _stamp(placed + timedelta(seconds=40)),
            "Fulfillment Status": "fulfilled" if fulfilled <= exported else "unfulfilled",
            "Fulfilled at": _stamp(fulfilled) if fulfilled <= exported else "",
            "Accepts Marketing": "no",
            "Currency": "USD",
            "Subtotal": f"{amount}",
            "Shipping": f"{shipping}",
            "Taxes": "0.00",
            "Total": f"{amount + shipping}",
            "Discount Amount": "0.00",
            "Refunded Amount": f"{amount + shipping}" if refunded else "0.00",
            "Source": SOURCES[_pick(key, "source", len(SOURCES))],
            "Payment Method": "Shopify Payments",
        }
        for n, (quantity, price) in enumerate(line_items(order["items"], amount, key)):
            sku = f"CD-{_pick(f'{key}/{n}', 'sku', 400):04d}"
            row = dict.fromkeys(HEADER, "")
            row.update({
                "Name": order["name"], "Email": email(order["customer"], key), "Created at": _stamp(placed),
                "Lineitem quantity": str(quantity), "Lineitem name": f"Compact disc {sku}",
                "Lineitem price": f"{price}", "Lineitem sku": sku, "Lineitem requires shipping": "true",
                "Lineitem taxable": "true", "Vendor": "Twin Records",
            })
            if n == 0:
                row.update(first)
            rows.append(row)
    return rows


def write_export(path: Path, rows: list[dict[str, str]]) -> Path:
    """One `orders_export_*.csv` laid out like the fixture export (UTF-8, CRLF, the full header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def cdnow_purchases(master: pl.DataFrame) -> pl.DataFrame:
    """CDNOW's lines (scripts/cdnow_to_landing.read_cdnow) as purchases, placed between 06:00 and 23:59 shop time.

    Online shops sell into the evening: a share of every day's orders is
    placed after the hour at which the shop's date and the UTC date differ.
    """
    key = pl.format("{}-{}-{}", "customer_id", "date", "line")
    minute = key.hash(11) % (18 * 60)
    return master.select(
        key=key,
        customer=pl.col("customer_id"),
        placed_at=pl.col("date").str.strptime(pl.Datetime("us"), "%Y%m%d")
        + pl.duration(hours=6, minutes=minute, seconds=key.hash(13) % 60),
        items=pl.col("number_of_cds").cast(pl.Int64),
        amount=pl.col("dollar_value"),
    )
