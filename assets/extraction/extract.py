"""The extraction driver: source batches -> contract -> `raw`, with incremental state.

Incrementality, by source:
- sample shop: a high-water mark on `updated_at` per entity. A run reads the
  change feed (since the mark, up to `until`) and moves the mark to `until`.
- landing zone: files are the unit. A file already ingested with the same
  size and mtime is skipped; a new or rewritten file is read whole. The
  upsert (newest `updated_at` wins) makes re-reading harmless.

Re-extracting a date range (`since`/`until` given explicitly) ignores the
mark and the file list: every record whose `updated_at` falls in the range is
read again and upserted; nothing outside it is touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from assets.shop_profile import ShopProfile, record_shop_profile

from .contract import ENTITIES, RAW_SCHEMA, create_raw_schema
from .load import CrossFileKeys, LoadStats, check_columns, load_batch
from .sources import Batch, FileKey, LandingSource, SampleShopSource, Source


@dataclass(frozen=True)
class ExtractRequest:
    entities: tuple[str, ...]
    until: datetime | None = None
    since: datetime | None = None
    full_refresh: bool = False

    def __post_init__(self) -> None:
        unknown = [e for e in self.entities if e not in ENTITIES]
        if unknown:
            raise ValueError(f"unknown entities {unknown}; known: {list(ENTITIES)}")
        if self.since and self.until and self.since >= self.until:
            raise ValueError(f"re-extract range is empty: since {self.since} >= until {self.until}")

    @property
    def is_range(self) -> bool:
        return self.since is not None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def high_water_marks(con, source: str, entities) -> dict[str, datetime | None]:
    rows = dict(
        con.execute(
            f"SELECT entity, high_water_mark FROM {RAW_SCHEMA}._extraction_state WHERE source = ?",
            [source],
        ).fetchall()
    )
    return {e: rows.get(e) for e in entities}


def _ingested(con, entities) -> set[FileKey]:
    if not entities:
        return set()
    marks = ",".join("?" for _ in entities)
    return {
        FileKey(p, s, m)
        for p, s, m in con.execute(
            f"SELECT path, size_bytes, modified_ns FROM {RAW_SCHEMA}._ingested_files WHERE entity IN ({marks})",
            list(entities),
        ).fetchall()
    }


def _set_mark(con, entity: str, source: str, mark: datetime | None) -> None:
    con.execute(
        f"""
        INSERT INTO {RAW_SCHEMA}._extraction_state VALUES (?, ?, ?, ?)
        ON CONFLICT (entity, source) DO UPDATE
        SET high_water_mark = greatest(excluded.high_water_mark, _extraction_state.high_water_mark),
            updated_at = excluded.updated_at
        """,
        [entity, source, mark, _utcnow()],
    )


@contextmanager
def _unordered_inserts(con) -> Iterator[None]:
    """Let DuckDB write rows in any order while loading, then restore the setting.

    A raw table has one row per key and no meaningful row order (queries
    order what they need); without the order DuckDB inserts with every thread.
    """
    previous = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if previous else 'false'}")


def profile_of(source: Source) -> ShopProfile:
    """What the other areas read of the source, from the build file (assets/shop_profile.py)."""
    history_end = source.history_end() if hasattr(source, "history_end") else None
    return ShopProfile(source.name, source.currency, source.timezone, history_end)


def run_extraction(
    con,
    source: Source,
    request: ExtractRequest,
    run_id: str,
    log: Callable[[str], None] = print,
) -> dict[str, LoadStats]:
    create_raw_schema(con)
    # Quality, dbt and serving read the shop's currency and time zone there, never building a source.
    record_shop_profile(con, profile_of(source))
    entities = request.entities
    until = request.until
    if isinstance(source, SampleShopSource):
        until = min(until or source.history_end(), source.history_end())
    if request.is_range or request.full_refresh:
        since = {e: request.since for e in entities}
        skip: set[FileKey] = set()
    else:
        since = high_water_marks(con, source.name, entities)
        skip = _ingested(con, entities)
    # Landing rows are filtered by date only on an explicit range: a nightly
    # run must not skip (and then mark as read) rows dated after `until`.
    window_since = request.since if isinstance(source, LandingSource) and request.is_range else None
    window_until = request.until if isinstance(source, LandingSource) and request.is_range else None

    totals = {e: LoadStats() for e in entities}
    started = time.monotonic()

    def load(batch: Batch) -> LoadStats:
        return load_batch(
            con, ENTITIES[batch.entity], batch.frame, batch.source_file, source.currency, run_id,
            since=window_since, until=window_until,
        )

    with _unordered_inserts(con):
        for batch in source.batches(entities, since, until, skip):
            stats, loaded = _load_parts(batch, load)
            totals[batch.entity].add(stats)
            _record_ingested_files(con, batch, loaded)
            if stats.rows_read:
                log(_batch_line(batch, stats, started))
    for e in entities:
        mark = until if isinstance(source, SampleShopSource) else totals[e].max_cursor
        if not request.is_range:
            _set_mark(con, e, source.name, mark)
        totals[e].check()
    return totals


def _load_parts(
    batch: Batch, load: Callable[[Batch], LoadStats]
) -> tuple[LoadStats, list[tuple[Batch, LoadStats]]]:
    """The batch's stats, and each of its files (or itself) with the rows read from it."""
    if not batch.parts:
        stats = load(batch)
        return stats, [(batch, stats)]
    # The files share their columns: a missing one is reported for the first file.
    check_columns(ENTITIES[batch.entity], batch.parts[0].frame.columns, batch.parts[0].source_file)
    try:
        stats = load(batch)
        return stats, [(part, LoadStats(rows_read=part.frame.height)) for part in batch.parts]
    except CrossFileKeys:
        stats = LoadStats()
        loaded: list[tuple[Batch, LoadStats]] = []
        for part in batch.parts:
            loaded.append((part, load(part)))
            stats.add(loaded[-1][1])
        return stats, loaded


def _record_ingested_files(con, batch: Batch, loaded: list[tuple[Batch, LoadStats]]) -> None:
    files = [
        [part.entity, part.file_key.path, part.file_key.size_bytes, part.file_key.modified_ns,
         part_stats.rows_read, _utcnow()]
        for part, part_stats in loaded if part.file_key is not None
    ]
    # A mapping's rows come from its files together, not from one file:
    # its files are recorded with 0 rows of their own (the entity's
    # rows_read counts the query's rows).
    files += [[batch.entity, k.path, k.size_bytes, k.modified_ns, 0, _utcnow()] for k in batch.files]
    if files:
        # One statement for the batch's files: each statement costs a few milliseconds.
        con.execute(
            f"INSERT OR REPLACE INTO {RAW_SCHEMA}._ingested_files VALUES "
            + ", ".join("(?, ?, ?, ?, ?, ?)" for _ in files),
            [v for row in files for v in row],
        )


def _batch_line(batch: Batch, stats: LoadStats, started: float) -> str:
    return (
        f"{batch.entity}: {batch.source_file}: read {stats.rows_read:,}, "
        f"inserted {stats.inserted:,}, updated {stats.updated:,}, "
        f"quarantined {stats.quarantined:,} ({time.monotonic() - started:.1f}s elapsed)"
        + (f"; extra columns ignored: {', '.join(stats.extra_columns)}" if stats.extra_columns else "")
    )


def stats_metadata(stats: LoadStats) -> dict[str, object]:
    """The numbers a materialization reports (plain values; Dagster wraps them)."""
    return {
        "rows_read": stats.rows_read,
        "rows_loaded": stats.loaded,
        "rows_inserted": stats.inserted,
        "rows_updated": stats.updated,
        "rows_unchanged": stats.unchanged,
        "rows_stale_skipped": stats.stale,
        "rows_duplicate_collapsed": stats.duplicates,
        "rows_outside_window": stats.outside_window,
        "rows_quarantined": stats.quarantined,
        "quarantine_reasons": dict(sorted(stats.reasons.items())),
        # Open-set values outside the contract's list, loaded as "other" (per column).
        "other_values": dict(sorted(stats.other_values.items())),
        # File columns the contract does not know: ignored, listed so a renamed column is noticed.
        "extra_columns": list(stats.extra_columns),
        "max_updated_at": stats.max_cursor.isoformat() if stats.max_cursor else None,
    }
