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

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Entity:
    name: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    # Column used for the incremental high-water mark.
    cursor: str = "updated_at"
    # Filled from another column when a source omits it (order_lines.updated_at).
    defaults_from: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


ORDER_STATUSES = ("placed", "fulfilled", "cancelled", "refunded", "partially_refunded")
DEVICES = ("desktop", "mobile", "tablet", "unknown")
ORDER_CHANNELS = ("web", "app", "marketplace", "social")
ACQUISITION_CHANNELS = (
    "organic",
    "paid_search",
    "paid_social",
    "email",
    "referral",
    "affiliate",
    "direct",
)
LOYALTY_TIERS = ("none", "bronze", "silver", "gold")
CART_STATUSES = ("open", "converted", "abandoned")
TICKET_CHANNELS = ("email", "phone", "chat", "social", "messaging")
TICKET_CATEGORIES = ("delivery", "wrong_item", "return", "product_question", "payment")
TICKET_STATUSES = ("open", "pending", "resolved", "closed")

S, TS, M, I, B, E = "string", "timestamp", "money", "integer", "boolean", "enum"

CUSTOMERS = Entity(
    name="customers",
    primary_key=("customer_id",),
    columns=(
        Column("customer_id", S, required=True),
        Column("email", S),
        Column("created_at", TS, required=True),
        Column("country", S),
        Column("acquisition_channel", E, allowed=ACQUISITION_CHANNELS),
        Column("loyalty_tier", E, allowed=LOYALTY_TIERS),
        Column("updated_at", TS, required=True),
    ),
)

ORDERS = Entity(
    name="orders",
    primary_key=("order_id",),
    columns=(
        Column("order_id", S, required=True),
        Column("customer_id", S),
        Column("created_at", TS, required=True),
        Column("updated_at", TS, required=True),
        Column("status", E, required=True, allowed=ORDER_STATUSES),
        Column("device", E, required=True, allowed=DEVICES),
        Column("channel", E, required=True, allowed=ORDER_CHANNELS),
        Column("currency", S, required=True, is_currency=True),
        Column("subtotal", M, required=True, non_negative=True),
        Column("discount", M, required=True, non_negative=True),
        Column("shipping", M, required=True, non_negative=True),
        Column("tax", M, required=True, non_negative=True),
        Column("refunded_amount", M, required=True, non_negative=True),
        Column("coupon_code", S),
    ),
)

ORDER_LINES = Entity(
    name="order_lines",
    primary_key=("order_id", "line_number"),
    columns=(
        Column("order_id", S, required=True),
        Column("line_number", I, required=True, min_value=1),
        Column("product_id", S, required=True),
        Column("category", S),
        Column("quantity", I, required=True, min_value=1),
        Column("unit_price", M, required=True, non_negative=True),
        Column("unit_cost", M, non_negative=True),
        Column("updated_at", TS),
    ),
)

CARTS = Entity(
    name="carts",
    primary_key=("cart_id",),
    columns=(
        Column("cart_id", S, required=True),
        Column("customer_id", S),
        Column("device", E, required=True, allowed=DEVICES),
        Column("created_at", TS, required=True),
        Column("updated_at", TS, required=True),
        Column("status", E, required=True, allowed=CART_STATUSES),
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
    columns=(
        Column("ticket_id", S, required=True),
        Column("customer_id", S),
        Column("order_id", S),
        Column("channel", E, required=True, allowed=TICKET_CHANNELS),
        Column("category", E, required=True, allowed=TICKET_CATEGORIES),
        Column("created_at", TS, required=True),
        Column("first_response_at", TS),
        Column("resolved_at", TS),
        Column("status", E, required=True, allowed=TICKET_STATUSES),
        Column("csat_score", I, min_value=1, max_value=5),
        Column("reopened_count", I, required=True, min_value=0),
        Column("updated_at", TS, required=True),
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (CUSTOMERS, ORDERS, ORDER_LINES, CARTS, SUPPORT_TICKETS)
}

# Bookkeeping columns every raw table carries after the contract's own.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
)

RAW_SCHEMA = "raw"


def raw_table_ddl(entity: Entity, schema: str = RAW_SCHEMA) -> str:
    cols = [f"{c.name} {c.sql_type}" for c in entity.columns]
    cols += [f"{name} {typ}" for name, typ in LINEAGE_COLUMNS]
    # No PRIMARY KEY constraint: the loader already guarantees one row per key
    # (upsert), and DuckDB's key index costs memory and time on tens of
    # millions of rows. Uniqueness is verified by the quality suites and dbt tests.
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
