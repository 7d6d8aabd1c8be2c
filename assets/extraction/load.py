"""Validate a batch against the contract and upsert it into `raw`, in DuckDB.

One batch = one file (landing zone) or one generated block (sample shop).
Every row read ends up in exactly one bucket, so that

    rows_read = inserted + updated + unchanged + stale + duplicates
                + outside_window + quarantined

holds for every batch (`LoadStats.check()` asserts it). Validation is plain
SQL (TRY_CAST and CASE) so it runs at DuckDB speed on millions of rows and
does not hold Python objects per row.

The batch goes through three layers of one statement: the file's values
parsed (`_parse_expr`), the contract's values after defaults, synonyms and
open-set mapping (`_effective_exprs`), then the row rules (`_reason_exprs`).
Rows that pass are then compared with each other and with `raw` by key
(`_KIND_SQL`): newest `updated_at` wins, identical copies collapse, and two
different versions with the same `updated_at` are a conflict. Only keys that
occur twice in the batch or are already stored need that comparison
(`contested_sql`); the others are new and inserted as they are, so its cost
follows the overlap with `raw`, not the size of `raw`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from assets.warehouse import quote_ident as _q, quote_literal as _lit

from .contract import ENTITIES, OTHER, RAW_SCHEMA, SHOP_CURRENCY, Column, Entity

ROW_COL = "_source_row"
# A batch gathering several files carries each row's file and a row number
# unique in the batch (ordered by file, then row: the order files are read in).
FILE_COL = "_source_file"
SEQ_COL = "_batch_row"
# Not a contract column, but read: without a subtotal column it gives the subtotal.
TOTAL_COL = "total"
# Without a subtotal, subtotal = total - shipping - tax + discount (sign per column).
SUBTOTAL_FROM_TOTAL: dict[str, int] = {"shipping": -1, "tax": -1, "discount": +1}
CONFLICT_REASON = "conflicting_duplicate"
LOAD_TIME_SQL = "CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)"


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
    # Rows read whose open-set value was outside the list (loaded as OTHER), per column.
    other_values: dict[str, int] = field(default_factory=dict)
    # File columns the contract does not know (ignored), sorted.
    extra_columns: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        """Rows accepted: new, changed, already present, or superseded by a newer version."""
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
        for k, v in other.other_values.items():
            self.other_values[k] = self.other_values.get(k, 0) + v
        self.extra_columns = sorted(set(self.extra_columns) | set(other.extra_columns))
        if other.max_cursor and (self.max_cursor is None or other.max_cursor > self.max_cursor):
            self.max_cursor = other.max_cursor


class MissingColumnsError(ValueError):
    pass


class CrossFileKeys(Exception):
    """A batch of several files holds versions of one key in different files.

    Files are upserted one after another (a later file's version is compared
    with the one already stored), so such a batch is loaded file by file.
    """


def combine_files(frames: list[tuple[str, pl.DataFrame]]) -> pl.DataFrame:
    """One batch of several files of one schema: each row keeps its file and row number.

    `_batch_row` numbers the rows in read order (file by file), the order the
    files would be upserted in one after another.
    """
    combined = pl.concat([f.with_columns(pl.lit(name, pl.String).alias(FILE_COL)) for name, f in frames])
    return combined.with_row_index(SEQ_COL, offset=1)


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps with a time zone as naive UTC, the form `raw` holds (others untouched)."""
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime) and t.time_zone is not None
    )


def _text(raw: str) -> str:
    return f"NULLIF(trim(CAST({raw} AS VARCHAR)), '')"


def normalise_sql(text: str) -> str:
    """Enum spelling: lower case, blanks and hyphens as underscores ("On-Hold" -> on_hold)."""
    return f"replace(replace(lower({text}), ' ', '_'), '-', '_')"


def normalise(value: str) -> str:
    """Python twin of `normalise_sql`: the form synonyms are written in."""
    return value.strip().lower().replace(" ", "_").replace("-", "_")


def _parse_expr(col: Column, raw: str, dtype: pl.DataType | None) -> str:
    """SQL turning the raw value into the contract type (NULL when blank or unparsable)."""
    is_text = dtype is None or dtype == pl.String or dtype == pl.Null
    src = _text(raw) if is_text else raw
    if col.kind == "string":
        return f"upper({_text(raw)})" if col.is_currency else _text(raw)
    if col.kind == "enum":
        return normalise_sql(_text(raw))
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


def _sql_list(values) -> str:
    return ", ".join(_lit(v) for v in values)


def _default_literal(col: Column, shop_currency: str) -> str | None:
    """The column's `default`, parsed like an input value (SQL), or None."""
    if col.default is None:
        return None
    text = shop_currency if col.default == SHOP_CURRENCY else col.default
    return _parse_expr(col, _lit(text), pl.String)


def _lookup_entity(col: Column) -> tuple[str, str] | None:
    """`default_from="orders.created_at"` -> ("orders", "created_at"): a value of another raw table."""
    if col.default_from and "." in col.default_from:
        other, name = col.default_from.split(".", 1)
        return other, name
    return None


def _effective_exprs(
    entity: Entity, file_columns, shop_currency: str, lookups: bool = True
) -> tuple[dict[str, str], dict[str, str]]:
    """SQL per column over the parsed layer `p`: the value stored after defaults and mapping.

    Returns (values, originals): `originals` holds, per open-set column, the text
    as exported when it was not a known value.
    """
    values: dict[str, str] = {}
    originals: dict[str, str] = {}
    # Columns other columns default from are computed first (order of the contract otherwise).
    pending = sorted(entity.columns, key=lambda c: c.default_from is not None)
    for col in pending:
        v = f"p.{_q(col.name)}"
        if col.synonyms:
            v = (
                f"CASE {v} " + " ".join(f"WHEN {_lit(k)} THEN {_lit(t)}" for k, t in col.synonyms.items())
                + f" ELSE {v} END"
            )
        default = _default_literal(col, shop_currency)
        if col.open_set:
            known = f"{v} IN ({_sql_list(col.allowed)})"
            originals[col.name] = f"CASE WHEN {v} IS NOT NULL AND NOT {known} THEN p.{_q('_text_' + col.name)} END"
            v = f"CASE WHEN {v} IS NULL THEN {default or 'NULL'} WHEN {known} THEN {v} ELSE {_lit(OTHER)} END"
        elif default is not None:
            v = f"coalesce({v}, {default})"
        if col.default_from == TOTAL_COL:
            if TOTAL_COL in file_columns:
                # Each term takes its own default (0) when absent or blank.
                derived = f"p.{_q(TOTAL_COL)}" + "".join(
                    f" {'+' if sign > 0 else '-'} {values[name]}" for name, sign in SUBTOTAL_FROM_TOTAL.items()
                )
                v = f"coalesce({v}, {derived})"
        elif _lookup_entity(col):
            _, name = _lookup_entity(col)
            # A record whose parent is not in raw (yet) falls back to the load time: never NULL.
            parent = f"lk.{_q(name)}, " if lookups else ""
            v = f"coalesce({v}, {parent}{LOAD_TIME_SQL})"
        elif col.default_from:
            v = f"coalesce({v}, {values[col.default_from]})"
        values[col.name] = f"CAST({v} AS {col.sql_type})"
    return {c.name: values[c.name] for c in entity.columns}, originals


# Kinds whose text can fail to parse, and the reason then.
_UNPARSABLE = {
    "timestamp": "unparsable_timestamp",
    "money": "unparsable_number",
    "integer": "unparsable_number",
    "boolean": "unparsable_number",
}


def _reason_exprs(col: Column, shop_currency: str) -> list[str]:
    """Row rules on one column, over layer `v` (parsed `col`, effective `_v_col`)."""
    n = col.name
    parsed, value, present = f"v.{_q(n)}", f"v.{_q('_v_' + n)}", f"v.{_q('_present_' + n)}"
    out = []
    unparsable = f"{present} AND {parsed} IS NULL"
    if col.kind in _UNPARSABLE:
        out.append(f"CASE WHEN {unparsable} THEN '{_UNPARSABLE[col.kind]}:{n}' END")
    if col.required:
        # A value that failed to parse is reported as such, not also as missing.
        parsed_ok = f" AND NOT ({unparsable})" if col.kind in _UNPARSABLE else ""
        out.append(f"CASE WHEN {value} IS NULL{parsed_ok} THEN 'missing_required:{n}' END")
    if col.allowed and not col.open_set:
        out.append(
            f"CASE WHEN {value} IS NOT NULL AND {value} NOT IN ({_sql_list(col.allowed)}) "
            f"THEN 'unknown_enum:{n}=' || v.{_q('_text_' + n)} END"
        )
    if col.non_negative:
        out.append(f"CASE WHEN {value} < 0 THEN 'negative_amount:{n}' END")
    if col.min_value is not None:
        out.append(f"CASE WHEN {value} < {col.min_value} THEN 'out_of_range:{n}' END")
    if col.max_value is not None:
        out.append(f"CASE WHEN {value} > {col.max_value} THEN 'out_of_range:{n}' END")
    if col.is_currency:
        out.append(
            f"CASE WHEN {value} IS NOT NULL AND {value} <> {_lit(shop_currency.upper())} "
            f"THEN 'currency_mismatch:' || {value} END"
        )
    return out


def _ordering_exprs(entity: Entity) -> list[str]:
    """A record whose `later` time precedes its `earlier` one (both set) is broken in itself."""
    return [
        f"CASE WHEN v.{_q('_v_' + later)} < v.{_q('_v_' + earlier)} "
        f"THEN 'out_of_order:{later}_before_{earlier}' END"
        for later, earlier in entity.ordering
    ]


def missing_columns(entity: Entity, columns) -> list[str]:
    """What a file with these columns lacks: required columns, then each unmet one-of group."""
    missing = [c for c in entity.file_required_columns if c not in columns]
    for group in entity.one_of:
        if not any(c in columns for c in group):
            missing.append("one of (" + ", ".join(group) + ")")
    return missing


def check_columns(entity: Entity, columns: list[str], source_file: str) -> None:
    missing = missing_columns(entity, columns)
    if missing:
        raise MissingColumnsError(
            f"{source_file}: missing required column(s) {', '.join(missing)} for {entity.name} "
            f"(found: {', '.join(c for c in columns if c != ROW_COL) or 'none'})"
        )


def extra_columns(entity: Entity, columns) -> list[str]:
    """File columns outside the contract (and not `total`): ignored, but reported."""
    known = set(entity.column_names) | {TOTAL_COL, ROW_COL, FILE_COL, SEQ_COL}
    return sorted(c for c in columns if c not in known)


def _present_sql(raw: str, dtype: pl.DataType) -> str:
    # Casting a typed column to text just to test for blanks is costly at scale.
    if dtype == pl.String or dtype == pl.Null:
        return f"{_text(raw)} IS NOT NULL"
    return f"{raw} IS NOT NULL"


def _has_blanks(frame: pl.DataFrame, name: str) -> bool:
    if name not in frame.columns:
        return True
    values = frame[name]
    if values.dtype == pl.String:
        return bool((values.str.strip_chars().fill_null("") == "").any())
    return values.null_count() > 0


def typed_select_sql(
    entity: Entity, schema, inp: str, shop_currency: str, lookups: bool = True, carry: tuple[str, ...] = ()
) -> str:
    """One SELECT over the batch `inp`: each row's `_source_row`, raw columns and
    `_reasons` (';'-separated, '' when the row passes every rule).

    Layer `p` parses the file's values (NULL when blank, absent or unparsable),
    layer `v` adds the effective values `_v_<col>` (defaults, synonyms, OTHER).
    `lookups=False` skips the join to another raw table (no row needs it).
    `carry`: columns of the batch passed through as they are.
    """
    parsed = [f"b.{ROW_COL} AS {ROW_COL}"] + [f"b.{_q(c)} AS {_q(c)}" for c in carry]
    for col in entity.columns:
        if col.name in schema:
            raw, dtype = f"b.{_q(col.name)}", schema[col.name]
            parsed.append(f"{_parse_expr(col, raw, dtype)} AS {_q(col.name)}")
            if col.kind in _UNPARSABLE:
                parsed.append(f"{_present_sql(raw, dtype)} AS {_q('_present_' + col.name)}")
            text = _text(raw)
        else:
            null_type = "VARCHAR" if col.kind == "enum" else col.sql_type
            parsed.append(f"CAST(NULL AS {null_type}) AS {_q(col.name)}")
            if col.kind in _UNPARSABLE:
                parsed.append(f"FALSE AS {_q('_present_' + col.name)}")
            text = "CAST(NULL AS VARCHAR)"
        if col.kind == "enum":
            parsed.append(f"{text} AS {_q('_text_' + col.name)}")
    derives_from_total = [c.name for c in entity.columns if c.default_from == TOTAL_COL]
    if TOTAL_COL in schema and derives_from_total:
        raw, dtype = f"b.{_q(TOTAL_COL)}", schema[TOTAL_COL]
        parsed.append(f"{_parse_expr(Column(TOTAL_COL, 'money'), raw, dtype)} AS {_q(TOTAL_COL)}")
        parsed.append(f"{_present_sql(raw, dtype)} AS {_q('_present_' + TOTAL_COL)}")

    values, originals = _effective_exprs(entity, schema, shop_currency, lookups)
    effective = [f"{expr} AS {_q('_v_' + name)}" for name, expr in values.items()]
    effective += [f"{expr} AS {_q(name + '_original')}" for name, expr in originals.items()]

    reasons = []
    for col in entity.columns:
        reasons += _reason_exprs(col, shop_currency)
    for name in derives_from_total:
        if TOTAL_COL in schema:
            reasons.append(
                f"CASE WHEN v.{_q(name)} IS NULL AND v.{_q('_present_' + TOTAL_COL)} "
                f"AND v.{_q(TOTAL_COL)} IS NULL THEN 'unparsable_number:{TOTAL_COL}' END"
            )
    reasons += _ordering_exprs(entity)

    lookup = ""
    for col in entity.columns:
        parent = _lookup_entity(col)
        if parent and lookups:
            other, name = parent
            keys = ENTITIES[other].primary_key
            on = " AND ".join(f"lk.{_q(k)} = p.{_q(k)}" for k in keys)
            # The parent table holds one row per key, so the join keeps one row per input row.
            lookup += (
                f" LEFT JOIN (SELECT {', '.join(_q(k) for k in keys)}, {_q(name)} "
                f"FROM {RAW_SCHEMA}.{other}) lk ON {on}"
            )
    out_cols = [f"v.{_q('_v_' + c.name)} AS {_q(c.name)}" for c in entity.columns]
    out_cols += [f"v.{_q(c.original_column)}" for c in entity.open_set_columns]
    return (
        f"WITH p AS (SELECT {', '.join(parsed)} FROM {inp} b), "
        f"v AS (SELECT p.*, {', '.join(effective)} FROM p{lookup}) "
        f"SELECT v.{ROW_COL} AS {ROW_COL}, {''.join(f'v.{_q(c)}, ' for c in carry)}{', '.join(out_cols)}, "
        f"concat_ws(';', {', '.join(reasons)}) AS _reasons FROM v"
    )


# How each good row relates to the other copies of its key in the batch and to
# the stored version. Columns: _outside (cursor outside the window), _stored
# (key in raw), _stored_cur/_stored_h (its cursor and content hash), _rn (rank
# among the key's copies: newest first, then a copy identical to the stored
# version, then first read), _top_cur/_top_h (the copy ranked first).
_KIND_SQL = """
CASE
  WHEN _outside THEN 'outside_window'
  -- The stored version is at least as new as anything in the batch: it stays.
  WHEN _stored AND _stored_cur >= _top_cur THEN
    CASE WHEN {cur} < _stored_cur THEN 'stale'
         WHEN _h = _stored_h THEN CASE WHEN _rn = 1 THEN 'unchanged' ELSE 'duplicate' END
         ELSE 'conflict' END
  WHEN _rn = 1 THEN CASE WHEN _stored THEN 'updated' ELSE 'inserted' END
  WHEN {cur} < _top_cur THEN 'stale'
  WHEN _h = _top_h THEN 'duplicate'
  ELSE 'conflict'
END
"""


def contested_sql(
    entity: Entity, typed: str, target: str | None, in_window: str, seq: str = ROW_COL, carry: tuple[str, ...] = ()
) -> str:
    """SELECT classifying the good rows of `typed` whose key is contested.

    A key is contested when it occurs more than once among the batch's good
    rows, or is already stored in `target` (None: the table is empty). Those
    rows are ranked per key (`_KIND_SQL`) against each other and the stored
    version; the result holds the key, `_source_row` and `_kind`. Every other
    good row is the only version of a new key: inserted (or outside the window).
    `in_window` is a condition on the batch row `g`; `seq` orders the
    batch's rows (read order) and identifies them; `carry` columns are kept.
    """
    pk = list(entity.primary_key)
    cols = [name for name, _ in entity.raw_columns]
    cur = _q(entity.cursor)
    pk_list = ", ".join(_q(c) for c in pk)
    on = lambda a, b: " AND ".join(f"{a}.{_q(c)} = {b}.{_q(c)}" for c in pk)  # noqa: E731
    good = f"(SELECT * FROM {typed} WHERE _reasons = '')"
    keys = [f"SELECT {pk_list} FROM {good} d GROUP BY ALL HAVING count(*) > 1"]
    stored = ""
    if target is not None:
        # Only the stored rows of the batch's keys are read: found by a scan of
        # the key columns alone, then fetched by row id (DuckDB reads just those).
        stored = (
            f"s AS (SELECT {', '.join('t.' + _q(c) for c in pk)}, t.{cur} AS _stored_cur, "
            f"hash({', '.join('t.' + _q(c) for c in cols)}) AS _stored_h "
            f"FROM {target} t WHERE t.rowid IN (SELECT k.rowid FROM {target} k SEMI JOIN {good} b ON {on('k', 'b')})), "
        )
        keys.append(f"SELECT {pk_list} FROM s")
    stored_cols = (
        f"s.{_q(pk[0])} IS NOT NULL AS _stored, s._stored_cur, s._stored_h"
        if target is not None
        else "FALSE AS _stored, CAST(NULL AS TIMESTAMP) AS _stored_cur, CAST(NULL AS UBIGINT) AS _stored_h"
    )
    stored_join = f" LEFT JOIN s ON {on('s', 'g')}" if target is not None else ""
    return f"""
        WITH {stored}k AS ({' UNION '.join(keys)}),
        j AS (
            SELECT {', '.join('g.' + _q(c) for c in [*pk, *dict.fromkeys([ROW_COL, seq, *carry])])}, g.{cur},
                   hash({', '.join('g.' + _q(c) for c in cols)}) AS _h,
                   NOT ({in_window}) AS _outside, {stored_cols}
            FROM {good} g SEMI JOIN k ON {on('k', 'g')}{stored_join}
        ), ranked AS (
            SELECT *,
                   row_number() OVER w AS _rn,
                   first_value(_h) OVER w AS _top_h,
                   first_value({cur}) OVER w AS _top_cur
            FROM j
            WINDOW w AS (PARTITION BY {pk_list}, _outside
                         ORDER BY {cur} DESC NULLS LAST, _h IS NOT DISTINCT FROM _stored_h DESC, {_q(seq)})
        )
        SELECT {', '.join(_q(c) for c in [*pk, *dict.fromkeys([ROW_COL, seq, *carry])])},
               {_KIND_SQL.format(cur=cur)} AS _kind
        FROM ranked
    """


@dataclass(frozen=True)
class _Batch:
    """One batch's temporary tables and the SQL fragments its load steps share."""

    entity: Entity
    source_file: str
    combined: bool  # several files (`combine_files`): rows carry _source_file and _batch_row
    inp: str  # the registered input frame
    typed: str  # the typed rows with their quarantine reasons
    contested: str  # keys repeated in the batch or already stored, ranked
    run_id: str
    in_window: str  # SQL: the row's cursor is inside since/until

    @property
    def target(self) -> str:
        return f"{RAW_SCHEMA}.{self.entity.name}"

    @property
    def seq(self) -> str:
        return SEQ_COL if self.combined else ROW_COL

    @property
    def carry(self) -> tuple[str, ...]:
        return (SEQ_COL, FILE_COL) if self.combined else ()

    def src(self, alias: str) -> str:
        """SQL of the source file of a row of table `alias`."""
        return f"{alias}.{FILE_COL}" if self.combined else _lit(self.source_file)

    def record_of(self, columns: list[str]) -> tuple[str, str]:
        """(join of a row with its record as read, SQL of that record as JSON)."""
        if not self.combined:
            return f"{self.inp} b ON b.{ROW_COL} = x.{ROW_COL}", "to_json(b)"
        # The record as read from its own file: without the batch's columns.
        record_cols = [c for c in columns if c not in (SEQ_COL, FILE_COL)]
        return (
            f"(SELECT {SEQ_COL}, struct_pack({', '.join(f'{_q(c)} := {_q(c)}' for c in record_cols)}) AS r "
            f"FROM {self.inp}) b ON b.{SEQ_COL} = x.{SEQ_COL}",
            "to_json(b.r)",
        )


def _window_sql(cursor: str, since: datetime | None, until: datetime | None) -> str:
    window = []
    if since is not None:
        window.append(f"g.{cursor} > TIMESTAMP '{since.isoformat(sep=' ')}'")
    if until is not None:
        window.append(f"g.{cursor} <= TIMESTAMP '{until.isoformat(sep=' ')}'")
    return " AND ".join(window) or "TRUE"


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
    A batch of several files (`combine_files`) also holds `_source_file` and
    `_batch_row`; it raises `CrossFileKeys` (and loads nothing) when a key
    occurs in more than one of its files: those are loaded file by file.
    `since`/`until` bound the cursor (updated_at) of rows to load; rows
    outside are counted, not loaded (used when re-extracting a date range).
    """
    check_columns(entity, frame.columns, source_file)
    if ROW_COL not in frame.columns:
        frame = frame.with_row_index(ROW_COL, offset=1)
    stats = LoadStats(rows_read=frame.height, extra_columns=extra_columns(entity, frame.columns))
    if frame.height == 0:
        return stats
    tag = uuid.uuid4().hex[:8]
    batch = _Batch(entity, source_file, FILE_COL in frame.columns, f"_in_{tag}", f"_typed_{tag}",
                   f"_contested_{tag}", run_id, _window_sql(_q(entity.cursor), since, until))
    con.register(batch.inp, frame)
    try:
        con.execute("BEGIN TRANSACTION")
        _type_and_quarantine(con, batch, frame, shop_currency, stats)
        _upsert(con, batch, frame.columns, stats)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {batch.typed}")
        con.execute(f"DROP TABLE IF EXISTS {batch.contested}")
        con.unregister(batch.inp)
    stats.check()
    return stats


def _quarantine(con, batch: _Batch, columns: list[str], select_reason: str, table: str, where: str) -> None:
    """Copy the rows of `table` matching `where` to raw.quarantine, each with its record as read."""
    record_of, record = batch.record_of(columns)
    con.execute(
        f"""
        INSERT INTO {RAW_SCHEMA}.quarantine
        SELECT '{batch.entity.name}', {select_reason}, {batch.src('x')}, x.{ROW_COL}, {record}, {_lit(batch.run_id)},
               {LOAD_TIME_SQL}
        FROM {table} x JOIN {record_of}
        WHERE {where}
        """
    )


def _type_and_quarantine(con, batch: _Batch, frame: pl.DataFrame, shop_currency: str, stats: LoadStats) -> None:
    """Type the batch's rows, quarantine the invalid ones and count them by reason."""
    entity = batch.entity
    # Joining a parent table costs a scan of it: only when some row lacks the value.
    needs_lookup = any(_lookup_entity(c) and _has_blanks(frame, c.name) for c in entity.columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {batch.typed} AS "
        + typed_select_sql(entity, frame.schema, batch.inp, shop_currency, lookups=needs_lookup, carry=batch.carry)
    )
    _quarantine(con, batch, frame.columns, "x._reasons", batch.typed, "x._reasons <> ''")
    for reason, n in con.execute(
        f"SELECT _reasons, count(*) FROM {batch.typed} WHERE _reasons <> '' GROUP BY 1"
    ).fetchall():
        for r in reason.split(";"):
            key = r.split("=")[0]
            stats.reasons[key] = stats.reasons.get(key, 0) + n
        stats.quarantined += n
    if entity.open_set_columns:
        originals = [c.original_column for c in entity.open_set_columns]
        counts = con.execute(
            f"SELECT {', '.join(f'count({_q(o)})' for o in originals)} FROM {batch.typed}"
        ).fetchall()[0]
        stats.other_values = {
            c.name: int(n) for c, n in zip(entity.open_set_columns, counts) if n
        }


def _upsert(con, batch: _Batch, columns: list[str], stats: LoadStats) -> None:
    """Insert new keys, replace older stored versions, quarantine conflicts; count each kind."""
    entity, typed, contested, seq, target = batch.entity, batch.typed, batch.contested, batch.seq, batch.target
    cols = [name for name, _ in entity.raw_columns]
    cur = _q(entity.cursor)
    # Most keys occur once in the batch and not yet in raw: they are
    # inserted as they are. Only the others ("contested": repeated in the
    # batch, or already stored) need the ranking window and the stored
    # version, so its cost follows the overlap, not the batch or the table.
    stored_any = bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {target})").fetchall()[0][0])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {contested} AS "
        + contested_sql(entity, typed, target if stored_any else None, batch.in_window, seq, batch.carry)
    )
    pk_list = ", ".join(_q(c) for c in entity.primary_key)
    if batch.combined and con.execute(
        f"SELECT EXISTS (SELECT 1 FROM {contested} GROUP BY {pk_list} HAVING count(DISTINCT {FILE_COL}) > 1)"
    ).fetchall()[0][0]:
        raise CrossFileKeys(f"{entity.name}: a key occurs in more than one file of the batch {batch.source_file}")
    kind = f"coalesce(c._kind, CASE WHEN NOT ({batch.in_window}) THEN 'outside_window' ELSE 'inserted' END)"
    good = f"{typed} g LEFT JOIN {contested} c ON c.{seq} = g.{seq} WHERE g._reasons = ''"
    _quarantine(con, batch, columns, f"'{CONFLICT_REASON}'", contested, "x._kind = 'conflict'")
    counts = {}
    for k, n, top in con.execute(
        f"SELECT {kind} AS _kind, count(*), max(g.{cur}) FROM {good} GROUP BY 1"
    ).fetchall():
        counts[k] = int(n)
        if k not in ("conflict", "outside_window") and top is not None:
            stats.max_cursor = top if stats.max_cursor is None else max(stats.max_cursor, top)
    if counts.get("conflict"):
        stats.reasons[CONFLICT_REASON] = int(counts["conflict"])
        stats.quarantined += int(counts["conflict"])
    stats.duplicates = int(counts.get("duplicate", 0))
    stats.outside_window = int(counts.get("outside_window", 0))
    stats.inserted = int(counts.get("inserted", 0))
    stats.updated = int(counts.get("updated", 0))
    stats.unchanged = int(counts.get("unchanged", 0))
    stats.stale = int(counts.get("stale", 0))
    if stats.updated:
        join_on = " AND ".join(f"t.{_q(c)} = g.{_q(c)}" for c in entity.primary_key)
        con.execute(f"DELETE FROM {target} t USING {contested} g WHERE {join_on} AND g._kind = 'updated'")
    if stats.inserted or stats.updated:
        col_list = ", ".join(_q(c) for c in cols)
        con.execute(
            f"INSERT INTO {target} ({col_list}, _source_file, _source_row, _loaded_at) "
            f"SELECT {', '.join('g.' + _q(c) for c in cols)}, {batch.src('g')}, g.{ROW_COL}, {LOAD_TIME_SQL} "
            f"FROM {good} AND {kind} IN ('inserted', 'updated')"
        )
