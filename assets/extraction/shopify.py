"""Shopify's admin "Export orders" CSV as a source: orders and order lines, no personal data.

The export has one row per line item; order-level fields are filled on the
first row of an order only (later rows repeat `Name`). Rows are grouped by
`Name` into one order and numbered into lines. Only the columns named in
`READ_COLUMNS` are ever read: names, addresses and phones are not even
parsed, and the e-mail is replaced by a salted hash (`customer_id`) before
a frame leaves this module. docs/shopify.md is the human page for the mapping.

Files are the unit of incrementality, as in the landing source (this class is
one, for the extraction driver): an unchanged export is skipped, a new or
rewritten one is read whole and upserted by order name.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from .contract import UNKNOWN
from .dialect import offset_to_iso
from .load import ROW_COL
from .sources import Batch, FileKey, LandingSource, SourceFileError, _check_csv_not_truncated

SOURCE_NAME = "shopify_csv"
SALT_ENV = "RETENTION_CUSTOMER_ID_SALT"
ENTITIES_YIELDED = ("orders", "order_lines")
# Exports are read from the folder itself and from an `orders/` sub-folder (a
# landing-zone layout); nothing deeper, so archives kept below are not re-read.
ORDERS_SUBFOLDER = "orders"

# Shopify header -> the name used here. The only columns ever read.
READ_COLUMNS: dict[str, str] = {
    "Name": "name",
    "Email": "email",
    "Financial Status": "financial_status",
    "Fulfillment Status": "fulfillment_status",
    "Paid at": "paid_at",
    "Fulfilled at": "fulfilled_at",
    "Created at": "created_at",
    "Cancelled at": "cancelled_at",
    "Currency": "currency",
    "Subtotal": "subtotal",
    "Shipping": "shipping",
    "Taxes": "taxes",
    "Discount Code": "discount_code",
    "Discount Amount": "discount_amount",
    "Refunded Amount": "refunded_amount",
    "Source": "source",
    "Lineitem quantity": "lineitem_quantity",
    "Lineitem name": "lineitem_name",
    "Lineitem price": "lineitem_price",
    "Lineitem sku": "lineitem_sku",
}
# Without these a file is not an orders export (or a customised one missing
# what the contract needs); the others are read when present.
REQUIRED_HEADERS = (
    "Name", "Email", "Financial Status", "Created at", "Subtotal",
    "Lineitem quantity", "Lineitem name", "Lineitem price",
)
TIMESTAMP_COLUMNS = ("created_at", "paid_at", "fulfilled_at", "cancelled_at")
ORDER_LEVEL = tuple(v for v in READ_COLUMNS.values() if v != "name" and not v.startswith("lineitem_"))

# Shopify financial status -> contract status (before cancellation and
# fulfilment, which `order_status_expr` applies). A value not listed is passed
# on as exported, and the loader quarantines it: statuses decide revenue.
FINANCIAL_STATUS: dict[str, str] = {
    "pending": "placed",
    "authorized": "placed",
    "partially_paid": "placed",
    "paid": "placed",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "cancelled",
    "expired": "cancelled",
}
# Shopify `Source` (sales channel) -> contract channel. Blank is UNKNOWN; any
# other value (pos, draft orders, other sales-channel apps, numeric app ids) is
# passed on as exported, so the loader files it as OTHER and keeps the text in
# `channel_original`.
SOURCE_CHANNEL: dict[str, str] = {
    "web": "web",
    "iphone": "app",
    "android": "app",
    "shop_app": "app",
    "facebook": "social",
    "instagram": "social",
    "tiktok": "social",
    "pinterest": "social",
    "amazon": "marketplace",
    "ebay": "marketplace",
    "etsy": "marketplace",
    "walmart": "marketplace",
}

# "2024-03-01 14:05:00 -0500" -> "2024-03-01 14:05:00-05:00" (ISO 8601, which
# the loader parses; DuckDB does not read the space and the colon-less offset).
_ISO_TS_FORMAT = "%Y-%m-%d %H:%M:%S%:z"


# --- customers without personal data -------------------------------------------------


def normalise_email(email: str | None) -> str | None:
    """Trimmed, lower case; None when blank. `A@x.com ` and `a@x.com` are one customer."""
    if email is None:
        return None
    text = email.strip().lower()
    return text or None


def customer_id(email: str | None, salt: str) -> str | None:
    """Keyed hash (HMAC-SHA256, 128 bits as hex) of the normalised e-mail; None for a guest.

    Keyed so that nobody without the salt can confirm a known address by
    hashing it; stable as long as the salt is.
    """
    normalised = normalise_email(email)
    if normalised is None:
        return None
    return hmac.new(salt.encode(), normalised.encode(), hashlib.sha256).hexdigest()[:32]


def salt_file(data_dir: Path) -> Path:
    return Path(data_dir) / "secrets" / "customer_id_salt"


def load_or_create_salt(path: Path) -> str:
    """The salt kept in `path`, created once (random, folder 0700, file 0600)."""
    if path.exists():
        salt = path.read_text().strip()
        if not salt:
            raise ValueError(f"{path}: the customer-id salt file is empty (restore it from a backup, or delete it to re-key every customer)")
        return salt
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    salt = secrets.token_hex(32)
    # O_EXCL: two processes starting at once cannot both write a different salt.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_salt(path)
    with os.fdopen(fd, "w") as f:
        f.write(salt + "\n")
    return salt


def resolve_salt(data_dir: Path | None, environ: Mapping[str, str] = os.environ) -> str:
    """RETENTION_CUSTOMER_ID_SALT when set, else the salt file under the data folder."""
    explicit = environ.get(SALT_ENV, "").strip()
    if explicit:
        return explicit
    if data_dir is None:
        raise ValueError(f"{SALT_ENV} is not set and no data folder is known to keep the salt in (set RETENTION_DATA_DIR or {SALT_ENV})")
    return load_or_create_salt(salt_file(data_dir))


# --- reading a file ------------------------------------------------------------------


def export_files(root: Path) -> list[Path]:
    """`*.csv` directly in `root` and in `root/orders/`, sorted by path."""
    found = []
    for folder in (root, root / ORDERS_SUBFOLDER):
        if folder.is_dir():
            found += [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv"]
    return sorted(found)


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return next(csv.reader(f), [])


def read_export(path: Path) -> pl.DataFrame:
    """The columns of `READ_COLUMNS` (renamed, text, blanks as null) plus the 1-based row number."""
    if path.stat().st_size == 0:
        raise SourceFileError(path, "file is empty (0 bytes)")
    header = [h.strip() for h in _header(path)]
    missing = [h for h in REQUIRED_HEADERS if h not in header]
    if missing:
        raise SourceFileError(
            path,
            f"missing column(s) {', '.join(missing)}: expected a Shopify 'Export orders' CSV "
            f"(header starting Name,Email,Financial Status,...)",
        )
    _check_csv_not_truncated(path)
    try:
        polars_names = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except Exception as exc:  # polars raises several types for unreadable input
        raise SourceFileError(path, f"cannot be read as CSV: {str(exc).strip().splitlines()[0]}") from exc
    # Polars keeps a byte-order mark and outer blanks in the first name; match on the clean one.
    by_clean = {n.lstrip("\ufeff").strip(): n for n in polars_names}
    wanted = {by_clean[h]: short for h, short in READ_COLUMNS.items() if h in by_clean}
    try:
        df = pl.read_csv(path, columns=list(wanted), infer_schema=False)
    except Exception as exc:
        raise SourceFileError(path, f"cannot be read as CSV (truncated or wrong format?): {str(exc).strip().splitlines()[0]}") from exc
    df = df.rename(wanted)
    df = df.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in df.columns)
    absent = [c for c in READ_COLUMNS.values() if c not in df.columns]
    df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in absent)
    return df.select(list(READ_COLUMNS.values())).with_row_index(ROW_COL, offset=1)


# --- mapping to the contract ---------------------------------------------------------


def iso_timestamp_expr(col: str) -> pl.Expr:
    """Shopify's `YYYY-MM-DD hh:mm:ss -0500` as ISO text; other text is kept as is (and quarantined)."""
    return offset_to_iso(col)


def order_status_expr() -> pl.Expr:
    """Cancelled when `Cancelled at` is set; else the financial status, fulfilled once shipped."""
    financial = pl.col("financial_status").str.to_lowercase()
    mapped = financial.replace_strict(FINANCIAL_STATUS, default=financial)
    return (
        pl.when(pl.col("cancelled_at").is_not_null()).then(pl.lit("cancelled"))
        .when((mapped == "placed") & (pl.col("fulfillment_status").str.to_lowercase() == "fulfilled"))
        .then(pl.lit("fulfilled"))
        .otherwise(mapped)
    )


def channel_expr() -> pl.Expr:
    source = pl.col("source").str.to_lowercase()
    return (
        pl.when(source.is_null()).then(pl.lit(UNKNOWN))
        .otherwise(source.replace_strict(SOURCE_CHANNEL, default=pl.col("source")))
    )


def subtotal_expr() -> pl.Expr:
    """The contract's subtotal (lines before discounts) = Shopify's `Subtotal` (after
    discounts) + `Discount Amount`, so that subtotal - discount is exactly Shopify's.

    Text that is not a number is passed on as exported, for the loader to quarantine.
    """
    def money(c: str) -> pl.Expr:
        return pl.col(c).cast(pl.Decimal(18, 2), strict=False)

    total = money("subtotal") + money("discount_amount").fill_null(0)
    return pl.when(total.is_not_null()).then(total.cast(pl.String)).otherwise(pl.col("subtotal"))


def _utc(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime(_ISO_TS_FORMAT, strict=False, time_zone="UTC")


def export_frames(rows: pl.DataFrame, salt: str, observed_at: datetime) -> dict[str, pl.DataFrame]:
    """Rows of one export (from `read_export`) -> contract frames for orders and order lines.

    `observed_at` is when the export was taken (its file time): the export has
    no refund time, so a refunded order's `updated_at` is at least this, and a
    later export of it replaces an earlier one.
    """
    rows = rows.with_columns(iso_timestamp_expr(c) for c in TIMESTAMP_COLUMNS)
    orders = rows.group_by("name", maintain_order=True).agg(
        pl.col(ROW_COL).first(),
        *(pl.col(c).drop_nulls().first() for c in ORDER_LEVEL),
    )
    emails = orders["email"].drop_nulls().unique().to_list()
    ids = {e: customer_id(e, salt) for e in emails}
    observed = observed_at.astimezone(timezone.utc) if observed_at.tzinfo else observed_at.replace(tzinfo=timezone.utc)
    status = order_status_expr()
    refunded = pl.col("refunded_amount").cast(pl.Decimal(18, 2), strict=False).fill_null(0) > 0
    last_event = pl.max_horizontal(*(_utc(c) for c in TIMESTAMP_COLUMNS))
    updated = (
        pl.when(refunded | status.is_in(["refunded", "partially_refunded"]))
        .then(pl.max_horizontal(last_event, pl.lit(observed)))
        .otherwise(last_event)
    )
    customer = (
        pl.col("email").replace_strict(ids, default=None, return_dtype=pl.String)
        if ids else pl.lit(None, dtype=pl.String)
    )
    orders = orders.with_columns(
        customer.alias("customer_id"),
        updated.dt.strftime(_ISO_TS_FORMAT).alias("updated_at"),
        status.alias("status"),
        channel_expr().alias("channel"),
    )
    order_frame = orders.select(
        pl.col(ROW_COL),
        pl.col("name").alias("order_id"),
        "customer_id",
        "created_at",
        "updated_at",
        "status",
        pl.lit(UNKNOWN).alias("device"),
        "channel",
        pl.col("currency").str.to_uppercase().alias("currency"),
        subtotal_expr().alias("subtotal"),
        pl.col("discount_amount").fill_null("0").alias("discount"),
        pl.col("shipping").fill_null("0"),
        pl.col("taxes").fill_null("0").alias("tax"),
        pl.col("refunded_amount").fill_null("0"),
        pl.col("discount_code").alias("coupon_code"),
    )
    line_frame = rows.select(
        pl.col(ROW_COL),
        pl.col("name").alias("order_id"),
        pl.int_range(1, pl.len() + 1).over("name").cast(pl.String).alias("line_number"),
        pl.coalesce("lineitem_sku", "lineitem_name").alias("product_id"),
        pl.col("lineitem_quantity").alias("quantity"),
        pl.col("lineitem_price").alias("unit_price"),
    ).join(order_frame.select("order_id", "updated_at"), on="order_id", how="left", nulls_equal=False)
    return {"orders": order_frame, "order_lines": line_frame}


# --- the source ----------------------------------------------------------------------


def detect_currency(files: list[Path], sample_rows: int = 10_000) -> str | None:
    """The most common `Currency` in the first rows of the first readable export, None when unknown.

    Called when the source is built (also when Dagster loads the definitions), so it reads one column of a few rows.
    """
    for path in files:
        try:
            names = pl.read_csv(path, n_rows=0, infer_schema=False).columns
            col = next((n for n in names if n.lstrip("\ufeff").strip() == "Currency"), None)
            if col is None:
                continue
            values = pl.read_csv(path, columns=[col], n_rows=sample_rows, infer_schema=False)[col]
        except Exception:  # an unreadable file is reported by batches(), with its name
            continue
        counts = values.str.strip_chars().str.to_uppercase().replace("", None).drop_nulls().value_counts(sort=True)
        if counts.height:
            return counts[col][0]
    return None


def file_key(path: Path, entity: str) -> FileKey:
    """One key per entity read from a file: both entities come from the same path,
    and a run over `orders` alone must not mark the file's lines as read."""
    st = path.stat()
    return FileKey(f"{path}#{entity}", st.st_size, st.st_mtime_ns)


@dataclass
class ShopifyExportSource(LandingSource):
    """A folder of Shopify "Export orders" CSVs (`*.csv` in it or in `orders/`).

    A LandingSource for the extraction driver: files are the unit, a date
    range filters rows on `updated_at`.
    """

    name: str = SOURCE_NAME
    # Where the salt lives when RETENTION_CUSTOMER_ID_SALT is not set.
    data_dir: Path | None = None

    @classmethod
    def from_folder(cls, root: Path, data_dir: Path | None) -> "ShopifyExportSource":
        currency = detect_currency(export_files(root)) if root.is_dir() else None
        return cls(root, currency=currency or "USD", data_dir=data_dir)

    def files(self, entity: str | None = None) -> list[Path]:
        return export_files(self.root) if entity in (None, *ENTITIES_YIELDED) else []

    def check_layout(self) -> None:
        if not self.root.is_dir():
            raise SourceFileError(self.root, "RETENTION_LANDING_DIR does not exist (expected a folder with Shopify orders_export*.csv files)")
        if not self.files():
            raise SourceFileError(self.root, f"no .csv file in the folder or its {ORDERS_SUBFOLDER}/ sub-folder (expected Shopify orders_export*.csv files)")

    def batches(self, entities, since, until, skip_files=None):
        self.check_layout()
        skip_files = skip_files or set()
        wanted = [e for e in ENTITIES_YIELDED if e in entities]
        salt = resolve_salt(self.data_dir) if wanted else ""
        for path in self.files():
            todo = [(e, file_key(path, e)) for e in wanted]
            todo = [(e, k) for e, k in todo if k not in skip_files]
            if not todo:
                continue
            observed_at = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
            frames = export_frames(read_export(path), salt, observed_at)
            for entity, key in todo:
                yield Batch(entity, frames[entity], str(path), key)
