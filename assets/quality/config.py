"""Every quality threshold and severity, in one reviewed place.

ERROR: the check fails with AssetCheckSeverity.ERROR; the checks are
blocking, so nothing downstream (marts, exports, publish) materializes.
WARN: the check reports a failure and the run goes on.

A rule's severity is, from the most to the least specific: the entry for
"<suite>.<rule_id>" (e.g. "raw_orders.no_empty_day"), then for "<rule_id>"
(in every suite), then for its kind (`DEFAULT_SEVERITY`). A shop overrides
any of them, and every threshold, in section `quality` of its `retention.yml`
(`shop_config.quality_config`, docs/quality.md lists the keys). Tests and the benchmark
pass a modified copy (`dataclasses.replace(DEFAULT_CONFIG, ...)`).

No module here imports Great Expectations.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

Severity = Literal["ERROR", "WARN"]
ERROR: Severity = "ERROR"
WARN: Severity = "WARN"
SEVERITIES = (ERROR, WARN)

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
    "reconciliation",  # marts agree with staging; order subtotals agree with their lines
    "quarantine",      # share of the rows read that the loader quarantined
    "other_value",     # descriptive values outside the contract's list, loaded as `other`
    "conflict",        # copies of one key with different content, quarantined by the loader
)

DEFAULT_SEVERITY: Mapping[str, Severity] = MappingProxyType(
    {
        "schema": ERROR,
        "keys": ERROR,
        "completeness": ERROR,
        "value_set": ERROR,
        # Range and ordering rules on raw tables carry `mostly` (see
        # `row_error_rate`): ERROR only when a share of rows breaks them.
        "range": ERROR,
        "ordering": ERROR,
        "volume": ERROR,
        "freshness": ERROR,
        "reconciliation": ERROR,
        "quarantine": ERROR,
        # A new channel name or a conflicting re-export is news for the
        # analyst, not a reason to hold the marts back.
        "other_value": WARN,
        "conflict": WARN,
    }
)

SEVERITY_OVERRIDES: Mapping[str, Severity] = MappingProxyType(
    {
        # A day with several times the volume of its weekday peers is usually a
        # duplicated export, but can be a sale: report, do not stop.
        "daily_volume_spike": WARN,
        # The shape of history a first run or a backfill loads (closures, a
        # launch, a sale) is described once, never a reason to stop: the
        # new days of each later run are what a lost export would leave out.
        "history_gaps": WARN,
        "history_spikes": WARN,
        # The lower of the two quarantine thresholds only reports.
        "quarantine_rate_warn": WARN,
        # Shops round line prices and apply order-level adjustments; a
        # mismatch is worth a look, not a stop (the marts use the subtotal).
        "raw_orders.subtotal_matches_lines": WARN,
        # Sign-ups, carts and tickets lag orders on a quiet shop.
        "raw_customers.freshness": WARN,
        "raw_support_tickets.freshness": WARN,
    }
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO order: isodow 1..7
FULL_WEEKDAYS = {f"{d}{end}": d for d, end in zip(
    WEEKDAYS, ("day", "sday", "nesday", "rsday", "day", "urday", "day"))}


def _per_entity(attribute: str) -> dict[str, Any]:
    """{entity: its registry default} (assets/extraction/contract.py is the one place per-entity facts live)."""
    from assets.extraction.contract import ENTITIES  # noqa: PLC0415 - contract imports nothing of ours

    return {name: getattr(entity, attribute) for name, entity in ENTITIES.items()}


@dataclass(frozen=True)
class QualityConfig:
    # --- severities -------------------------------------------------------
    default_severity: Mapping[str, Severity] = field(default_factory=lambda: DEFAULT_SEVERITY)
    severity_overrides: Mapping[str, Severity] = field(default_factory=lambda: SEVERITY_OVERRIDES)

    # --- single-record rules ----------------------------------------------
    # Range and ordering rules on raw tables fail only when more than this
    # share of the rows breaks them (GX `mostly` = 1 - rate). The loader
    # already quarantines such rows one by one; here they are a safety net
    # that stops the run on a systematic problem, not on one record.
    row_error_rate: float = 0.001

    # --- volume -----------------------------------------------------------
    # Row count / row count of the previous successful validation of the suite.
    # Raw tables are cumulative (upserts), so they should never shrink.
    raw_volume_band: tuple[float, float] = (0.98, 3.0)
    mart_volume_band: tuple[float, float] = (0.5, 3.0)
    # Daily volume judges the days a run brought (after the newest day a
    # successful validation covered) against the same weekday over the last
    # `daily_window_weeks` weeks of validated history; the history a first run
    # or a backfill loads is described against the same weekday +-N weeks
    # around it. A weekday the shop is always closed has a median of 0 and
    # is never judged.
    daily_window_weeks: int = 4
    # The daily rules judge a day only when its weekday peers normally have
    # at least this many records (a tiny shop has genuinely empty days).
    daily_min_typical_records: int = 20
    # Entities whose days must not be empty (UTC days, from the first
    # record's day to the newest record's). Tickets are too sparse.
    no_empty_day_entities: tuple[str, ...] = ("orders", "order_lines", "carts")
    # This many consecutive empty new days the shop is normally open (closed
    # weekdays and configured closed days in between neither count nor break
    # the run) fail `no_empty_run` as well as `no_empty_day`.
    empty_run_days: int = 3
    # A day's volume / its weekday peers' median.
    daily_spike_factor: float = 3.0
    daily_spike_entities: tuple[str, ...] = ("orders", "order_lines", "carts")
    # Days the shop is closed: never flagged, and left out of the peers.
    closed_weekdays: tuple[str, ...] = ()
    closed_days: tuple[dt.date, ...] = ()

    # --- freshness --------------------------------------------------------
    # Max days between the newest record's (UTC) date and the run's as-of
    # date: RETENTION_AS_OF_DATE, else the extraction's `until`, else today
    # (UTC; a generated history's last day at most). Judged only when the
    # suite validated rows successfully in an earlier run (a nightly run); a
    # first import of history is not judged. A night with nothing new judges
    # it too (`freshness.quiet_night_freshness`).
    freshness_lag_days: Mapping[str, int] = field(default_factory=lambda: _per_entity("freshness_lag_days"))
    # Timestamp column that dates a record, per entity (freshness, daily volume).
    time_columns: Mapping[str, str] = field(default_factory=lambda: _per_entity("time_column"))

    # --- loader outcomes --------------------------------------------------
    # Quarantined rows / rows read (loaded + quarantined), cumulative over the
    # warehouse: above `warn` fails `quarantine_rate_warn`, above `error`
    # fails `quarantine_rate`.
    quarantine_rate_warn: float = 0.01
    quarantine_rate_error: float = 0.10
    # The ERROR rate is judged only from this many quarantined rows on: one
    # bad ticket of a three-ticket helpdesk is 33%, yet says nothing about
    # the export as a whole (the WARN rule still reports it).
    quarantine_min_rows: int = 10
    # Share of an open-set column's rows loaded as `other` that is tolerated.
    other_value_max_rate: float = 0.0
    # Rows quarantined as conflicting copies of one key that are tolerated.
    conflict_max_rows: int = 0

    # --- reconciliation ---------------------------------------------------
    # Revenue is compared in cents, exactly (DECIMAL sums do not drift).
    revenue_tolerance_cents: int = 0
    # An order's subtotal may differ from the sum of its lines' quantity x
    # unit_price by this much (currency units) ...
    subtotal_tolerance: float = 0.01
    # ... and this share of the orders that have lines may differ by more.
    subtotal_mismatch_max_rate: float = 0.0

    # --- execution --------------------------------------------------------
    # DuckDB's memory limit while a suite runs (its buffer pool and the
    # reconciliation aggregates over staging; larger work spills to disk).
    # Peak RSS ~ this + ~350 MiB of imports (GX fetches aggregates and examples only).
    duckdb_memory_limit: str = "1GB"
    # Unexpected values kept per expectation (audit table, metadata).
    max_examples: int = 5
    # Validation results kept per suite in the GX store / Data Docs.
    data_docs_keep_runs: int = 30
    build_data_docs: bool = True

    def severity(self, suite: str, rule_id: str, kind: str) -> Severity:
        o = self.severity_overrides
        return o.get(f"{suite}.{rule_id}") or o.get(rule_id) or self.default_severity[kind]

    @property
    def closed_isodows(self) -> tuple[int, ...]:
        return tuple(WEEKDAYS.index(d) + 1 for d in self.closed_weekdays)


DEFAULT_CONFIG = QualityConfig()


def setting_hint(suite: str, rule_id: str, kind: str, severity: str = ERROR,
                 days: list[str] | tuple[str, ...] = ()) -> str:
    """The `retention.yml` keys that change a failed rule: its threshold when it has one, always its severity.

    `days`: the days a daily rule named (offered as `closed_days`). Every key
    named here is one `quality_config` reads (tests/unit/quality/test_config.py).
    """
    entity = suite.removeprefix("raw_") if suite.startswith("raw_") else None
    threshold = {
        "no_empty_day": "closed_days: [" + ", ".join(f'"{d}"' for d in days) + "] (if the shop was closed)",
        "no_empty_run": "closed_days: [" + ", ".join(f'"{d}"' for d in days) + "] (if the shop was closed)",
        "daily_volume_spike": "daily_spike_factor: <x>",
        "history_gaps": "closed_days / closed_weekdays (the lines above, if any)",
        "history_spikes": "daily_spike_factor: <x>",
        "freshness": f"freshness_lag_days: {{{entity}: <days>}}" if entity else None,
        "row_count_vs_previous_run": ("raw_volume_band" if entity else "mart_volume_band") + ": [<low>, <high>]",
        "quarantine_rate": "quarantine_rate: {error: <rate>}, quarantine_min_rows: <rows>",
        "quarantine_rate_warn": "quarantine_rate: {warn: <rate>}",
        "no_conflicting_duplicates": "conflict_max_rows: <rows>",
        "subtotal_matches_lines": "subtotal_tolerance: <amount>, subtotal_mismatch_max_rate: <rate>",
    }.get(rule_id)
    if threshold is None and kind == "other_value":
        threshold = "other_value_max_rate: <rate>"
    if threshold is None and kind in ("range", "ordering") and entity:
        threshold = "row_error_rate: <rate>"
    if threshold is None and kind == "reconciliation" and not entity:
        threshold = "revenue_tolerance_cents: <cents>"
    other = f"severity: {{{suite}.{rule_id}: {WARN if severity == ERROR else ERROR}}}"
    return "retention.yml quality: " + (f"{threshold}; or {other}" if threshold else other)


# The keys of section `quality` a shop's retention.yml may set (parsed by `shop_config.quality_config`).
USER_KEYS = (
    "closed_days", "closed_weekdays", "conflict_max_rows", "daily_min_typical_records", "daily_spike_entities",
    "daily_spike_factor", "daily_window_weeks", "empty_run_days", "freshness_lag_days", "mart_volume_band",
    "no_empty_day_entities", "other_value_max_rate", "quarantine_min_rows", "quarantine_rate", "raw_volume_band",
    "revenue_tolerance_cents", "row_error_rate", "severity", "subtotal_mismatch_max_rate", "subtotal_tolerance",
)
