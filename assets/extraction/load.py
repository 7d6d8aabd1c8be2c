"""Validate a batch against the contract and upsert it into `raw`, in DuckDB.

One batch = one file (landing zone) or one generated block (sample shop).
Every row read ends up in exactly one bucket, so that

    rows_read = inserted + updated + unchanged + stale + duplicates
                + outside_window + quarantined

holds for every batch (`LoadStats.check()` asserts it). Validation is plain
SQL (TRY_CAST and CASE) so it runs at DuckDB speed on millions of rows and
does not hold Python objects per row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from .contract import RAW_SCHEMA, Column, Entity

ROW_COL = "_source_row"


@dataclass
class LoadStats:
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    duplicates: int = 0
    outside_window: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    max_cursor: datetime | None = None

    @property
    def loaded(self) -> int:
        """Rows accepted: new, changed, already present, or superseded by a newer stored version."""
        return self.inserted + self.updated + self.unchanged + self.stale + self.duplicates

    def check(self) -> None:
        accounted = self.loaded + self.outside_window + self.quarantined
        if accounted != self.rows_read:
            raise AssertionError(
                f"row accounting broken: read {self.rows_read}, accounted {accounted} ({self})"
            )

    def add(self, other: "LoadStats") -> None:
        for name in ("rows_read", "inserted", "updated", "unchanged", "stale", "duplicates",
                     "outside_window", "quarantined"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v
        if other.max_cursor and (self.max_cursor is None or other.max_cursor > self.max_cursor):
            self.max_cursor = other.max_cursor


class MissingColumnsError(ValueError):
    pass


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(raw: str) -> str:
    return f"NULLIF(trim(CAST({raw} AS VARCHAR)), '')"


def _parse_expr(col: Column, raw: str, dtype: pl.DataType | None) -> str:
    """SQL turning the raw value into the contract type (NULL when it cannot)."""
    is_text = dtype is None or dtype == pl.String or dtype == pl.Null
    src = _text(raw) if is_text else raw
    if col.kind == "string":
        return _text(raw)
    if col.kind == "enum":
        return f"lower({_text(raw)})"
    if col.kind == "timestamp":
        if dtype is not None and isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            return f"CAST({raw} AS TIMESTAMP)"
        return f"CAST(TRY_CAST({src} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if col.kind == "money":
        return f"TRY_CAST({src} AS DECIMAL(18,2))"
    if col.kind == "integer":
        if not is_text and dtype is not None and dtype.is_integer():
            return f"CAST({raw} AS INTEGER)"
        # "3" and "3.0" are the same count; "3.5" is not an integer.
        return (
            f"CASE WHEN TRY_CAST({src} AS DECIMAL(38,6)) = floor(TRY_CAST({src} AS DECIMAL(38,6))) "
            f"THEN TRY_CAST(TRY_CAST({src} AS DECIMAL(38,6)) AS INTEGER) END"
        )
    if col.kind == "boolean":
        return f"TRY_CAST({src} AS BOOLEAN)"
    raise ValueError(f"unknown column kind {col.kind}")


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _reason_exprs(col: Column, raw: str, parsed: str, shop_currency: str, is_text: bool = True) -> list[str]:
    n = col.name
    # Casting a typed column to text just to test for blanks is costly at scale.
    present = f"{_text(raw)} IS NOT NULL" if is_text else f"{raw} IS NOT NULL"
    out = []
    if col.required:
        out.append(f"CASE WHEN NOT ({present}) THEN 'missing_required:{n}' END")
    if col.kind == "timestamp":
        out.append(f"CASE WHEN {present} AND {parsed} IS NULL THEN 'unparsable_timestamp:{n}' END")
    elif col.kind in ("money", "integer", "boolean"):
        out.append(f"CASE WHEN {present} AND {parsed} IS NULL THEN 'unparsable_number:{n}' END")
    if col.allowed:
        out.append(
            f"CASE WHEN {parsed} IS NOT NULL AND {parsed} NOT IN ({_sql_list(col.allowed)}) "
            f"THEN 'unknown_enum:{n}=' || {parsed} END"
        )
    if col.non_negative:
        out.append(f"CASE WHEN {parsed} < 0 THEN 'negative_amount:{n}' END")
    if col.min_value is not None:
        out.append(f"CASE WHEN {parsed} < {col.min_value} THEN 'out_of_range:{n}' END")
    if col.max_value is not None:
        out.append(f"CASE WHEN {parsed} > {col.max_value} THEN 'out_of_range:{n}' END")
    if col.is_currency:
        cur = shop_currency.replace("'", "''")
        out.append(
            f"CASE WHEN {parsed} IS NOT NULL AND upper({parsed}) <> '{cur}' "
            f"THEN 'currency_mismatch:' || {parsed} END"
        )
    return out


def check_columns(entity: Entity, columns: list[str], source_file: str) -> None:
    missing = [c for c in entity.required_columns if c not in columns]
    if missing:
        raise MissingColumnsError(
            f"{source_file}: missing required column(s) {', '.join(missing)} for {entity.name} "
            f"(found: {', '.join(columns) or 'none'})"
        )


def load_batch(
    con,
    entity: Entity,
    frame: pl.DataFrame,
    source_file: str,
    shop_currency: str,
    run_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> LoadStats:
    """Validate, quarantine, deduplicate and upsert one batch. Atomic per batch.

    `frame` holds the batch as read (strings or typed) plus `_source_row`.
    `since`/`until` bound the cursor (updated_at) of rows to load; rows
    outside are counted, not loaded (used when re-extracting a date range).
    """
    check_columns(entity, frame.columns, source_file)
    if ROW_COL not in frame.columns:
        frame = frame.with_row_index(ROW_COL, offset=1)
    stats = LoadStats(rows_read=frame.height)
    if frame.height == 0:
        return stats
    tag = uuid.uuid4().hex[:8]
    inp, typed, clean = f"_in_{tag}", f"_typed_{tag}", f"_clean_{tag}"
    con.register(inp, frame)
    target = f"{RAW_SCHEMA}.{entity.name}"
    pk = list(entity.primary_key)
    cols = entity.column_names
    schema = frame.schema

    parsed_sel, reasons = [], []
    for col in entity.columns:
        if col.name in schema:
            raw = f"b.{_q(col.name)}"
            dtype = schema[col.name]
            parsed = _parse_expr(col, raw, dtype)
            is_text = dtype == pl.String or dtype == pl.Null
        else:
            raw, parsed, is_text = "NULL", f"CAST(NULL AS {col.sql_type})", False
        parsed_sel.append(f"{parsed} AS {_q(col.name)}")
        reasons.extend(_reason_exprs(col, raw, parsed, shop_currency, is_text))
    hash_expr = "hash(" + ", ".join(_q(c) for c in cols) + ")"
    pk_list = ", ".join(_q(c) for c in pk)
    join_on = " AND ".join(f"t.{_q(c)} = c.{_q(c)}" for c in pk)
    src_lit = source_file.replace("'", "''")
    run_lit = run_id.replace("'", "''")

    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {typed} AS "
            f"SELECT b.{ROW_COL} AS {ROW_COL}, {', '.join(parsed_sel)}, "
            f"concat_ws(';', {', '.join(reasons)}) AS _reasons FROM {inp} b"
        )
        con.execute(
            f"""
            INSERT INTO {RAW_SCHEMA}.quarantine
            SELECT '{entity.name}', t._reasons, '{src_lit}', t.{ROW_COL}, to_json(b), '{run_lit}',
                   CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)
            FROM {typed} t JOIN {inp} b ON b.{ROW_COL} = t.{ROW_COL}
            WHERE t._reasons <> ''
            """
        )
        for reason, n in con.execute(
            f"SELECT _reasons, count(*) FROM {typed} WHERE _reasons <> '' GROUP BY 1"
        ).fetchall():
            for r in reason.split(";"):
                key = r.split("=")[0]
                stats.reasons[key] = stats.reasons.get(key, 0) + n
            stats.quarantined += n

        window = []
        if since is not None:
            window.append(f"c.{_q(entity.cursor)} > TIMESTAMP '{since.isoformat(sep=' ')}'")
        if until is not None:
            window.append(f"c.{_q(entity.cursor)} <= TIMESTAMP '{until.isoformat(sep=' ')}'")
        in_window = " AND ".join(window) or "TRUE"
        kind_expr = (
            f"CASE WHEN t.{_q(pk[0])} IS NULL THEN 'inserted' "
            f"WHEN hash({', '.join('t.' + _q(c) for c in cols)}) = c._h THEN 'unchanged' "
            f"WHEN c.{_q(entity.cursor)} IS NOT NULL AND t.{_q(entity.cursor)} IS NOT NULL "
            f"AND c.{_q(entity.cursor)} < t.{_q(entity.cursor)} THEN 'stale' "
            f"ELSE 'updated' END"
        )
        # One pass over the good rows: copies of a key collapse to the first;
        # copies that differ (min hash <> max hash) are a conflict: which one
        # is right cannot be decided here, so every copy goes to quarantine.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {clean} AS
            WITH good AS (
                SELECT *, {hash_expr} AS _h FROM {typed} WHERE _reasons = ''
            ), ranked AS (
                SELECT *, min(_h) OVER w <> max(_h) OVER w AS _conflict,
                       row_number() OVER (w ORDER BY {ROW_COL}) AS _rn
                FROM good WINDOW w AS (PARTITION BY {pk_list})
            )
            SELECT c.*, CASE WHEN c._conflict THEN 'conflict'
                             WHEN c._rn > 1 THEN 'duplicate'
                             WHEN NOT ({in_window} OR c.{_q(entity.cursor)} IS NULL) THEN 'outside_window'
                             ELSE {kind_expr} END AS _kind
            FROM ranked c LEFT JOIN {target} t ON {join_on}
            """
        )
        con.execute(
            f"""
            INSERT INTO {RAW_SCHEMA}.quarantine
            SELECT '{entity.name}', 'duplicate_key_conflict', '{src_lit}', c.{ROW_COL}, to_json(b), '{run_lit}',
                   CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)
            FROM {clean} c JOIN {inp} b ON b.{ROW_COL} = c.{ROW_COL}
            WHERE c._kind = 'conflict'
            """
        )
        counts = dict(con.execute(f"SELECT _kind, count(*) FROM {clean} GROUP BY 1").fetchall())
        if counts.get("conflict"):
            stats.reasons["duplicate_key_conflict"] = int(counts["conflict"])
            stats.quarantined += int(counts["conflict"])
        stats.duplicates = int(counts.get("duplicate", 0))
        stats.outside_window = int(counts.get("outside_window", 0))
        stats.inserted = int(counts.get("inserted", 0))
        stats.updated = int(counts.get("updated", 0))
        stats.unchanged = int(counts.get("unchanged", 0))
        stats.stale = int(counts.get("stale", 0))
        if stats.updated:
            con.execute(
                f"DELETE FROM {target} t USING {clean} c WHERE {join_on} AND c._kind = 'updated'"
            )
        if stats.inserted or stats.updated:
            con.execute(
                f"INSERT INTO {target} ({', '.join(_q(c) for c in cols)}, _source_file, _source_row, _loaded_at) "
                f"SELECT {', '.join(_q(c) for c in cols)}, '{src_lit}', {ROW_COL}, "
                f"CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) "
                f"FROM {clean} WHERE _kind IN ('inserted', 'updated')"
            )
        stats.max_cursor = con.execute(
            f"SELECT max({_q(entity.cursor)}) FROM {clean} WHERE _kind NOT IN ('conflict', 'outside_window')"
        ).fetchone()[0]
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {typed}")
        con.execute(f"DROP TABLE IF EXISTS {clean}")
        con.unregister(inp)
    stats.check()
    return stats
