"""The source contract as data: one definition that validation, DDL and docs share.

`docs/source-contract.md` is the human page for the same rules; a test checks
that every column named here appears there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["string", "timestamp", "money", "integer", "boolean", "enum"]

# DuckDB types for each kind. Money is fixed-point: float sums drift and
# reconciliation tests compare revenue to the cent.
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "enum": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "money": "DECIMAL(18,2)",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    required: bool = False
    allowed: tuple[str, ...] = ()
    non_negative: bool = False
    min_value: int | None = None
    max_value: int | None = None
    is_currency: bool = False  # must equal the shop currency when present
    # Descriptive enum: a value outside `allowed` is loaded as OTHER (and the
    # text as exported is kept in `<name>_original`), never quarantined.
    open_set: bool = False
    # Used when the column is absent from a source or the value is blank, so a
    # minimal export loads. `default` is a literal (text, parsed like input;
    # SHOP_CURRENCY means the shop's currency); `default_from` names another
    # column of the same row. A column with either need not be in the file.
    default: str | None = None
    default_from: str | None = None
    # Other spellings of the contract's values (normalised: lower case, blanks
    # and hyphens as underscores) -> the contract's value. See STATUS_SYNONYMS.
    synonyms: dict[str, str] = field(default_factory=dict)
    # Personal data (e-mail, names, phones): stays in the build file's `raw`,
    # never reaches analysts, exports or the published quarantine.
    personal: bool = False

    def __post_init__(self) -> None:
        # An enum's default and synonyms must land on its own list, or the
        # loader would quarantine (or file as OTHER) the very values it fills in.
        if self.kind != "enum":
            return
        where = f"assets/extraction/contract.py: column {self.name!r}"
        if not self.allowed:
            raise ValueError(f"{where}: enum with no allowed values; expected its vocabulary")
        outside = sorted({v for v in (self.default, *self.synonyms.values()) if v is not None} - set(self.allowed))
        if outside:
            raise ValueError(
                f"{where}: default/synonyms {outside} not in its allowed values; expected some of {list(self.allowed)}"
            )

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]

    @property
    def original_column(self) -> str | None:
        """The raw column that keeps an open-set value as exported (NULL when it was a known value)."""
        return f"{self.name}_original" if self.open_set else None

    @property
    def must_be_in_file(self) -> bool:
        return self.required and self.default is None and self.default_from is None


@dataclass(frozen=True)
class Entity:
    """One source entity: everything the loader, the raw suites, the Dagster
    assets, serving and the docs need to know about it (docs/architecture.md,
    "Adding a source entity")."""

    name: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    # What the raw table holds (the Dagster asset `raw/<name>`'s description).
    description: str = ""
    # Plural noun for readers ("order lines"); derived from the name when blank.
    label: str = ""
    # Column used for the incremental high-water mark.
    cursor: str = "updated_at"
    # Column that dates a record for the raw suite's freshness and daily-volume rules.
    time_column: str = "created_at"
    # Default of the raw suite's freshness rule: most days the newest record
    # may lag the as-of date (overridable per shop in retention.yml).
    freshness_lag_days: int = 7
    # Only orders are indispensable; a shop without carts or a helpdesk simply
    # does not track those entities (their suites and marts say so).
    required_entity: bool = False
    # Groups of columns of which a file must hold at least one (orders: a
    # subtotal, or a total from which the subtotal is derived).
    one_of: tuple[tuple[str, ...], ...] = ()
    # (later, earlier): a row whose `later` precedes its `earlier` (both set)
    # breaks the record itself, so it is quarantined when loaded.
    ordering: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # A forgotten field fails here, at import, naming the entity, instead
        # of as a KeyError in whichever consumer reads it first.
        names = [c.name for c in self.columns]
        where = f"assets/extraction/contract.py: entity {self.name!r}"
        if not self.description.strip():
            raise ValueError(f"{where}: description is blank; expected one sentence on what the raw table holds")
        for field_name, wanted in (("primary_key", self.primary_key), ("cursor", (self.cursor,)),
                                   ("time_column", (self.time_column,))):
            missing = [c for c in wanted if c not in names]
            if not wanted or missing:
                raise ValueError(
                    f"{where}: {field_name} {missing or list(wanted)} not among its columns; expected some of {names}"
                )
        for field_name in ("cursor", "time_column"):
            kind = self.column(getattr(self, field_name)).kind
            if kind != "timestamp":
                raise ValueError(
                    f"{where}: {field_name} {getattr(self, field_name)!r} is a {kind} column; expected a timestamp"
                )
        if self.freshness_lag_days < 0:
            raise ValueError(f"{where}: freshness_lag_days {self.freshness_lag_days}; expected 0 or more days")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def raw_columns(self) -> list[tuple[str, str]]:
        """(name, SQL type) of the raw table: the contract's columns, then each open-set column's original text."""
        cols = [(c.name, c.sql_type) for c in self.columns]
        cols += [(c.original_column, "VARCHAR") for c in self.columns if c.open_set]
        return cols

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def file_required_columns(self) -> list[str]:
        """Columns a file of this entity must have (the others have defaults)."""
        return [c.name for c in self.columns if c.must_be_in_file]

    @property
    def open_set_columns(self) -> list[Column]:
        return [c for c in self.columns if c.open_set]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


# Descriptive values outside a list load as OTHER; a missing one is UNKNOWN.
OTHER = "other"
UNKNOWN = "unknown"
SHOP_CURRENCY = "$shop_currency"

ORDER_STATUSES = ("placed", "fulfilled", "cancelled", "refunded", "partially_refunded")
DEVICES = ("desktop", "mobile", "tablet", UNKNOWN, OTHER)
ORDER_CHANNELS = ("web", "app", "marketplace", "social", UNKNOWN, OTHER)
ACQUISITION_CHANNELS = (
    "organic",
    "paid_search",
    "paid_social",
    "email",
    "referral",
    "affiliate",
    "direct",
    OTHER,
)
LOYALTY_TIERS = ("none", "bronze", "silver", "gold", OTHER)
CART_STATUSES = ("open", "converted", "abandoned")
TICKET_CHANNELS = ("email", "phone", "chat", "social", "messaging", OTHER)
TICKET_CATEGORIES = ("delivery", "wrong_item", "return", "product_question", "payment", OTHER)
TICKET_STATUSES = ("open", "pending", "resolved", "closed")

# Statuses decide metrics (a cancelled order is no revenue), so an unknown one
# is still quarantined; the vocabularies of common shop systems and helpdesks
# map onto the contract's here, in one table (docs/source-contract.md shows it).
STATUS_SYNONYMS: dict[str, dict[str, str]] = {
    "orders.status": {
        "pending": "placed",
        "authorized": "placed",
        "paid": "placed",
        "open": "placed",
        "processing": "placed",
        "on_hold": "placed",
        "shipped": "fulfilled",
        "delivered": "fulfilled",
        "completed": "fulfilled",
        "complete": "fulfilled",
        "closed": "fulfilled",
        "canceled": "cancelled",
        "voided": "cancelled",
        "void": "cancelled",
        "failed": "cancelled",
        "partially_refunded": "partially_refunded",
        "partial_refund": "partially_refunded",
    },
    "carts.status": {
        "active": "open",
        "ordered": "converted",
        "completed": "converted",
        "recovered": "converted",
        "abandoned_checkout": "abandoned",
    },
    "support_tickets.status": {
        "new": "open",
        "hold": "pending",
        "on_hold": "pending",
        "waiting": "pending",
        "solved": "resolved",
        "done": "resolved",
    },
}

S, TS, M, I, B, E = "string", "timestamp", "money", "integer", "boolean", "enum"

CUSTOMERS = Entity(
    name="customers",
    primary_key=("customer_id",),
    description="Shop customers (latest version per customer_id). Holds e-mail: never leaves `raw`.",
    freshness_lag_days=7,
    columns=(
        Column("customer_id", S, required=True),
        Column("email", S, personal=True),
        Column("created_at", TS, required=True),
        Column("country", S),
        Column("acquisition_channel", E, allowed=ACQUISITION_CHANNELS, open_set=True),
        Column("loyalty_tier", E, allowed=LOYALTY_TIERS, open_set=True),
        Column("updated_at", TS, required=True, default_from="created_at"),
    ),
)

ORDERS = Entity(
    name="orders",
    primary_key=("order_id",),
    description="Orders with status, device, channel and money (latest version per order_id).",
    freshness_lag_days=1,
    required_entity=True,
    one_of=(("subtotal", "total"),),
    ordering=(("updated_at", "created_at"),),
    columns=(
        Column("order_id", S, required=True),
        Column("customer_id", S),
        Column("created_at", TS, required=True),
        Column("updated_at", TS, required=True, default_from="created_at"),
        Column("status", E, required=True, allowed=ORDER_STATUSES, default="fulfilled",
               synonyms=STATUS_SYNONYMS["orders.status"]),
        Column("device", E, required=True, allowed=DEVICES, open_set=True, default=UNKNOWN),
        Column("channel", E, required=True, allowed=ORDER_CHANNELS, open_set=True, default=UNKNOWN),
        Column("currency", S, required=True, is_currency=True, default=SHOP_CURRENCY),
        # Without a subtotal column, subtotal = total - shipping - tax + discount.
        Column("subtotal", M, required=True, non_negative=True, default_from="total"),
        Column("discount", M, required=True, non_negative=True, default="0"),
        Column("shipping", M, required=True, non_negative=True, default="0"),
        Column("tax", M, required=True, non_negative=True, default="0"),
        Column("refunded_amount", M, required=True, non_negative=True, default="0"),
        Column("coupon_code", S),
    ),
)

ORDER_LINES = Entity(
    name="order_lines",
    primary_key=("order_id", "line_number"),
    description="Order line items with unit price and cost.",
    # Lines carry no creation time of their own; updated_at is the order's.
    time_column="updated_at",
    freshness_lag_days=1,
    columns=(
        Column("order_id", S, required=True),
        Column("line_number", I, required=True, min_value=1),
        Column("product_id", S, required=True),
        Column("category", S),
        Column("quantity", I, required=True, min_value=1),
        Column("unit_price", M, required=True, non_negative=True),
        Column("unit_cost", M, non_negative=True),
        # Lines rarely carry their own change time: the order's created_at
        # (looked up in raw.orders at load time) stands in.
        Column("updated_at", TS, default_from="orders.created_at"),
    ),
)

CARTS = Entity(
    name="carts",
    primary_key=("cart_id",),
    description="Shopping carts, including abandoned ones and their recovery e-mails.",
    freshness_lag_days=2,
    ordering=(
        ("updated_at", "created_at"),
        ("first_recovery_email_at", "created_at"),
        ("second_recovery_email_at", "first_recovery_email_at"),
    ),
    columns=(
        Column("cart_id", S, required=True),
        Column("customer_id", S),
        Column("device", E, required=True, allowed=DEVICES, open_set=True, default=UNKNOWN),
        Column("created_at", TS, required=True),
        Column("updated_at", TS, required=True, default_from="created_at"),
        Column("status", E, required=True, allowed=CART_STATUSES, synonyms=STATUS_SYNONYMS["carts.status"]),
        Column("converted_order_id", S),
        Column("item_count", I, required=True, min_value=0),
        Column("cart_value", M, required=True, non_negative=True),
        Column("currency", S, is_currency=True),
        Column("first_recovery_email_at", TS),
        Column("second_recovery_email_at", TS),
        Column("recovered", B, required=True),
    ),
)

SUPPORT_TICKETS = Entity(
    name="support_tickets",
    primary_key=("ticket_id",),
    description="Support tickets with channel, category, response/resolution times and CSAT.",
    freshness_lag_days=7,
    ordering=(
        ("first_response_at", "created_at"),
        ("resolved_at", "created_at"),
    ),
    columns=(
        Column("ticket_id", S, required=True),
        Column("customer_id", S),
        Column("order_id", S),
        Column("channel", E, required=True, allowed=TICKET_CHANNELS, open_set=True, default=OTHER),
        Column("category", E, required=True, allowed=TICKET_CATEGORIES, open_set=True, default=OTHER),
        Column("created_at", TS, required=True),
        Column("first_response_at", TS),
        Column("resolved_at", TS),
        Column("status", E, required=True, allowed=TICKET_STATUSES,
               synonyms=STATUS_SYNONYMS["support_tickets.status"]),
        Column("csat_score", I, min_value=1, max_value=5),
        Column("reopened_count", I, required=True, min_value=0, default="0"),
        Column("updated_at", TS, required=True, default_from="created_at"),
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (CUSTOMERS, ORDERS, ORDER_LINES, CARTS, SUPPORT_TICKETS)
}


def vocabularies() -> dict[str, tuple[str, ...]]:
    """`entity.column` -> accepted values, for every enum column of the contract."""
    return {
        f"{entity.name}.{c.name}": c.allowed
        for entity in ENTITIES.values()
        for c in entity.columns
        if c.kind == "enum"
    }


# Bookkeeping columns every raw table carries after the contract's own.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
)

RAW_SCHEMA = "raw"


def raw_table_ddl(entity: Entity, schema: str = RAW_SCHEMA) -> str:
    cols = [f"{name} {typ}" for name, typ in entity.raw_columns]
    cols += [f"{name} {typ}" for name, typ in LINEAGE_COLUMNS]
    # No PRIMARY KEY constraint: the loader already guarantees one row per key
    # (upsert), and DuckDB's key index costs memory and time on tens of
    # millions of rows. The raw quality suites re-verify the keys of every night's loaded rows.
    return (
        f"CREATE TABLE IF NOT EXISTS {schema}.{entity.name} (\n  "
        + ",\n  ".join(cols)
        + "\n)"
    )


QUARANTINE_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.quarantine (
  entity VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  source_file VARCHAR,
  row_number BIGINT,
  record VARCHAR,
  run_id VARCHAR,
  quarantined_at TIMESTAMP NOT NULL
)
"""

STATE_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}._extraction_state (
  entity VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  high_water_mark TIMESTAMP,
  updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (entity, source)
)
"""

INGESTED_FILES_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}._ingested_files (
  entity VARCHAR NOT NULL,
  path VARCHAR NOT NULL,
  size_bytes BIGINT NOT NULL,
  modified_ns BIGINT NOT NULL,
  rows_read BIGINT NOT NULL,
  ingested_at TIMESTAMP NOT NULL,
  PRIMARY KEY (entity, path)
)
"""


def create_raw_schema(con) -> None:
    """Create `raw` and every table extraction writes (idempotent)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for entity in ENTITIES.values():
        con.execute(raw_table_ddl(entity))
    con.execute(QUARANTINE_DDL)
    con.execute(STATE_DDL)
    con.execute(INGESTED_FILES_DDL)


def tracked_entities(con) -> set[str]:
    """Entities this shop delivers: rows loaded in `raw`, or rows quarantined.

    A shop without a cart system or helpdesk has no such files; its entity
    is "not tracked" (suites pass with that note, marts are empty and the
    report says so), which differs from a tracked entity that went empty.
    """
    found = set()
    for name in ENTITIES:
        has_rows = con.execute(
            f"SELECT EXISTS (SELECT 1 FROM {RAW_SCHEMA}.{name}) "
            f"OR EXISTS (SELECT 1 FROM {RAW_SCHEMA}.quarantine WHERE entity = ?)",
            [name],
        ).fetchone()[0]
        if has_rows:
            found.add(name)
    return found
