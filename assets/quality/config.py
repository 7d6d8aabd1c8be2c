"""Every quality threshold and severity, in one reviewed place.

ERROR: the check fails with AssetCheckSeverity.ERROR; the checks are
blocking, so nothing downstream (marts, exports, publish) materializes.
WARN: the check reports a failure and the run goes on.

Severity is decided per rule kind (`DEFAULT_SEVERITY`) and can be overridden
for one rule of one suite (`SEVERITY_OVERRIDES`, key "<suite>.<rule_id>",
e.g. "raw_orders.daily_volume_spike"). Tests and the benchmark pass a
modified copy (`dataclasses.replace(DEFAULT_CONFIG, ...)`).

No module here imports Great Expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

Severity = Literal["ERROR", "WARN"]
ERROR: Severity = "ERROR"
WARN: Severity = "WARN"

# The kinds of rule a suite holds (docs/quality.md explains each).
RULE_KINDS = (
    "schema",          # columns present with the contract's / mart's types
    "keys",            # primary key / grain unique and not null
    "completeness",    # required columns not null
    "value_set",       # enums, currency
    "range",           # amounts >= 0, csat 1-5, rates in [0, 1], aov > 0
    "ordering",        # e.g. first_response_at >= created_at
    "volume",          # row count vs previous successful run, empty or duplicated days
    "freshness",       # newest record within a lag of the as-of date
    "reconciliation",  # marts agree with staging
)

DEFAULT_SEVERITY: Mapping[str, Severity] = MappingProxyType(
    {
        "schema": ERROR,
        "keys": ERROR,
        "completeness": ERROR,
        "value_set": ERROR,
        "range": ERROR,
        "ordering": ERROR,
        "volume": ERROR,
        "freshness": ERROR,
        "reconciliation": ERROR,
    }
)

SEVERITY_OVERRIDES: Mapping[str, Severity] = MappingProxyType(
    {
        # A day with three times the volume of the days around it is usually a
        # duplicated export, but can be a sale: report, do not stop.
        "raw_orders.daily_volume_spike": WARN,
        "raw_order_lines.daily_volume_spike": WARN,
        "raw_carts.daily_volume_spike": WARN,
        # Sign-ups, carts and tickets lag orders on a quiet shop.
        "raw_customers.freshness": WARN,
        "raw_support_tickets.freshness": WARN,
    }
)


@dataclass(frozen=True)
class QualityConfig:
    # --- severities -------------------------------------------------------
    default_severity: Mapping[str, Severity] = field(default_factory=lambda: DEFAULT_SEVERITY)
    severity_overrides: Mapping[str, Severity] = field(default_factory=lambda: SEVERITY_OVERRIDES)

    # --- volume -----------------------------------------------------------
    # Row count / row count of the previous successful validation of the suite.
    # Raw tables are cumulative (upserts), so they should never shrink.
    raw_volume_band: tuple[float, float] = (0.98, 3.0)
    mart_volume_band: tuple[float, float] = (0.5, 3.0)
    # Entities whose extracted window must have no empty day (UTC days,
    # from the first record's day to the as-of date). Tickets are too sparse.
    no_empty_day_entities: tuple[str, ...] = ("orders", "order_lines", "carts")
    # A day's volume / the median of the surrounding days (+-14 days).
    daily_spike_factor: float = 3.0
    daily_spike_window_days: int = 14
    daily_spike_entities: tuple[str, ...] = ("orders", "order_lines", "carts")
    # Both daily rules judge a day only when the days around it normally have
    # at least this many records (a tiny shop has genuinely empty days).
    daily_min_typical_records: int = 20

    # --- freshness --------------------------------------------------------
    # Max days between the newest record's (UTC) date and the as-of date.
    # The as-of date is RETENTION_AS_OF_DATE, else the newest order's date.
    freshness_lag_days: Mapping[str, int] = field(
        default_factory=lambda: {
            "orders": 1,
            "order_lines": 1,
            "customers": 7,
            "carts": 2,
            "support_tickets": 7,
        }
    )
    # Timestamp column that dates a record, per entity (freshness, daily volume).
    time_columns: Mapping[str, str] = field(
        default_factory=lambda: {
            "orders": "created_at",
            "order_lines": "updated_at",
            "customers": "created_at",
            "carts": "created_at",
            "support_tickets": "created_at",
        }
    )

    # --- reconciliation ---------------------------------------------------
    # Revenue is compared in cents, exactly (DECIMAL sums do not drift).
    revenue_tolerance_cents: int = 0

    # --- execution --------------------------------------------------------
    # Rows per GX batch (hash-partitioned on the key, column-projected).
    chunk_rows: int = 1_000_000
    # DuckDB's memory limit while a suite runs (its buffer pool and the
    # reconciliation aggregates over staging; larger work spills to disk).
    # Peak RSS ~ this + one pandas chunk with GX's copies + ~350 MiB of imports.
    duckdb_memory_limit: str = "1GB"
    # Unexpected values kept per expectation (audit table, metadata).
    max_examples: int = 5
    # Validation results kept per suite in the GX store / Data Docs.
    data_docs_keep_runs: int = 30
    build_data_docs: bool = True

    def severity(self, suite: str, rule_id: str, kind: str) -> Severity:
        return self.severity_overrides.get(f"{suite}.{rule_id}", self.default_severity[kind])


DEFAULT_CONFIG = QualityConfig()
