"""How a shop's exported files are written: delimiter, encoding, decimal comma, date order.

European exports often use `;` between fields, `12,50` for money and
`31/12/2024 18:05` for dates. The landing adapter detects what is safe to
detect and rewrites money and timestamp text into the forms the loader
parses (dot decimals, ISO date-times), so `load.py` needs no notion of
dialects. A value that cannot be rewritten is left exactly as read: the
loader then quarantines its row with the original text.

Detection (per file; the `landing` section of `retention.yml` overrides it):
- delimiter: the most frequent of `,` `;` tab `|` in the header line;
- decimal comma: some money value looks like `12,50` (or `1.234,50`) and
  none looks like `12.50`;
- date order: day first when a date's first field exceeds 12 in some row,
  month first when its second does; otherwise ambiguous, and such dates
  are left as read (an ISO date loads, `03/04/2025` is quarantined).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field, fields, replace
from typing import Any

import polars as pl

from assets.user_config import UserConfigError, section, source_of

from .contract import ENTITIES, Entity
from .mapping import EntityFiles, default_files, parse_entity_files

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t"}
DECIMALS = (".", ",")
# ISO: year first (the contract's own form); DMY/MDY: day or month first.
DATE_ORDERS = ("ISO", "DMY", "MDY")
DATE_ORDER_ALIASES = {"YMD": "ISO"}

# Money with a decimal comma, optionally with `.` between thousands.
_MONEY_COMMA = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d{1,2}$"
_MONEY_DOT = r"^[+-]?\d+\.\d{1,2}$"
_MONEY_EUROPEAN = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$"
# An ISO date-time with its offset written `-0500` or ` -05:00` (Rails and
# Shopify exports): the blank before the offset is what DuckDB cannot read.
_OFFSET_TS = r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)\s*([+-]\d{2}):?(\d{2})$"
# d/m/yyyy, d.m.yyyy or d-m-yyyy, with an optional time (seconds optional).
_DATE = r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?$"


@dataclass(frozen=True)
class CsvDialect:
    """One file dialect; None means "detect" (or, for encoding, UTF-8)."""

    delimiter: str | None = None
    decimal: str | None = None
    date_order: str | None = None
    encoding: str | None = None

    def overridden_by(self, other: "CsvDialect") -> "CsvDialect":
        """This dialect with every setting `other` states replacing its own."""
        return replace(self, **{f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None})


@dataclass(frozen=True)
class LandingOptions:
    """The `landing` section of retention.yml: one dialect, optionally refined per entity,
    and per entity where its files are and the query that maps them (mapping.py)."""

    csv: CsvDialect = CsvDialect()
    per_entity: dict[str, CsvDialect] = field(default_factory=dict)
    entity_files: dict[str, EntityFiles] = field(default_factory=dict)

    def dialect(self, entity: str) -> CsvDialect:
        return self.csv.overridden_by(self.per_entity.get(entity, CsvDialect()))

    def files(self, entity: str) -> EntityFiles:
        return self.entity_files.get(entity) or EntityFiles(entity, default_files(entity))


def landing_options(config: dict[str, Any]) -> LandingOptions:
    """Validate and read the `landing` section of a loaded retention.yml.

    Shape: `landing: {csv: {delimiter, decimal, date_order, encoding}, <entity>: {csv: {...}, files, query}}`.
    """
    where = source_of(config)
    landing = section(config, "landing")
    known = ("csv", *ENTITIES)
    for key in landing:
        if key not in known:
            raise UserConfigError(f"{where}: landing.{key}: unknown key; expected one of: {', '.join(known)}")
    per_entity, entity_files = {}, {}
    for name in ENTITIES:
        if name not in landing:
            continue
        value = landing[name] or {}
        if not isinstance(value, dict):
            raise UserConfigError(f"{where}: landing.{name}: expected a mapping (csv, files, query), got {value!r}")
        per_entity[name] = _dialect(value.get("csv"), f"landing.{name}.csv", where)
        files = parse_entity_files(name, value, where)
        if files is not None:
            entity_files[name] = files
    return LandingOptions(
        csv=_dialect(landing.get("csv"), "landing.csv", where), per_entity=per_entity, entity_files=entity_files
    )


def _dialect(value: Any, key: str, where: str) -> CsvDialect:
    if value is None:
        return CsvDialect()
    if not isinstance(value, dict):
        raise UserConfigError(f"{where}: {key}: expected a mapping (delimiter, decimal, date_order, encoding), got {value!r}")
    names = [f.name for f in fields(CsvDialect)]
    unknown = sorted(map(str, set(value) - set(names)))
    if unknown:
        raise UserConfigError(f"{where}: {key}.{unknown[0]}: unknown key; expected one of: {', '.join(names)}")
    out: dict[str, str] = {}
    if value.get("delimiter") is not None:
        d = DELIMITER_NAMES.get(str(value["delimiter"]).lower(), str(value["delimiter"]))
        if d not in DELIMITERS:
            raise UserConfigError(f"{where}: {key}.delimiter: {value['delimiter']!r} is not one of , ; tab |")
        out["delimiter"] = d
    if value.get("decimal") is not None:
        if str(value["decimal"]) not in DECIMALS:
            raise UserConfigError(f"{where}: {key}.decimal: {value['decimal']!r} is not '.' or ','")
        out["decimal"] = str(value["decimal"])
    if value.get("date_order") is not None:
        order = str(value["date_order"]).upper()
        order = DATE_ORDER_ALIASES.get(order, order)
        if order not in DATE_ORDERS:
            raise UserConfigError(f"{where}: {key}.date_order: {value['date_order']!r} is not one of ISO, DMY, MDY")
        out["date_order"] = order
    if value.get("encoding") is not None:
        out["encoding"] = _encoding(str(value["encoding"]), f"{where}: {key}.encoding")
    return CsvDialect(**out)


def _encoding(name: str, where: str) -> str:
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        raise UserConfigError(f"{where}: unknown encoding {name!r} (e.g. utf-8, cp1252, latin-1)") from None
    # Delimiters and line ends are found byte-wise, so the encoding must
    # write ASCII as ASCII (UTF-16 does not).
    if "a;\n".encode(canonical, errors="replace").lstrip(codecs.BOM_UTF8) != b"a;\n":
        raise UserConfigError(f"{where}: encoding {name!r} is not ASCII-compatible; re-export as UTF-8")
    return canonical


def detect_delimiter(header_line: str) -> str:
    """The most frequent candidate delimiter outside quotes in the header (`,` by default)."""
    unquoted = "".join(part for i, part in enumerate(header_line.split('"')) if i % 2 == 0)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier (`,` first)
    return best if counts[best] else ","


def _text_columns(frame: pl.DataFrame, entity: Entity, kind: str) -> list[str]:
    """Text columns of a kind: the contract's own, and file-only columns they derive from (orders' `total`)."""
    names = [c.name for c in entity.columns if c.kind == kind]
    names += [
        c.default_from for c in entity.columns
        if c.kind == kind and c.default_from and "." not in c.default_from and c.default_from not in names
    ]
    return [n for n in names if frame.schema.get(n) == pl.String]


def detect_decimal(frame: pl.DataFrame, money_columns: list[str]) -> str:
    """`,` when some money value is written with a decimal comma and none with a decimal point."""
    if not money_columns or frame.height == 0:
        return "."
    values = [pl.col(c).str.strip_chars() for c in money_columns]
    found = frame.select(
        comma=pl.any_horizontal(v.str.contains(_MONEY_COMMA).any() for v in values),
        dot=pl.any_horizontal(v.str.contains(_MONEY_DOT).any() for v in values),
    ).row(0)
    return "," if found[0] and not found[1] else "."


def detect_date_order(frame: pl.DataFrame, timestamp_columns: list[str]) -> str | None:
    """DMY or MDY when some date proves it; None when every such date is ambiguous (or there is none)."""
    day_first = month_first = False
    for c in timestamp_columns:
        text = pl.col(c).str.strip_chars()
        # Split only the values written day/month-wise (none, in an ISO file).
        parts = frame.select(text.filter(text.str.contains(_DATE)).str.extract_groups(_DATE)).unnest(c)
        first, second = parts["1"].cast(pl.Int32, strict=False), parts["2"].cast(pl.Int32, strict=False)
        day_first |= bool((first > 12).any())
        month_first |= bool((second > 12).any())
    if day_first != month_first:
        return "DMY" if day_first else "MDY"
    return None


def _money_to_dot(name: str) -> pl.Expr:
    v = pl.col(name).str.strip_chars()
    dotted = v.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return pl.when(v.str.contains(_MONEY_EUROPEAN)).then(dotted).otherwise(pl.col(name)).alias(name)


def offset_to_iso(name: str) -> pl.Expr:
    """`2025-03-09 11:11:00 -0400` as `2025-03-09 11:11:00-04:00`; other text is kept as read."""
    return pl.col(name).str.replace(_OFFSET_TS, "${1}${2}:${3}").alias(name)


def _date_to_iso(name: str, order: str) -> pl.Expr:
    g = pl.col(name).str.strip_chars().str.extract_groups(_DATE)
    day, month = (g.struct["1"], g.struct["2"]) if order == "DMY" else (g.struct["2"], g.struct["1"])
    iso = pl.format(
        "{}-{}-{} {}:{}:{}{}",
        g.struct["3"],
        month.str.zfill(2),
        day.str.zfill(2),
        g.struct["4"].fill_null("0").str.zfill(2),
        g.struct["5"].fill_null("00"),
        g.struct["6"].fill_null("00"),
        g.struct["7"].fill_null(""),
    )
    # Only a real calendar date is rewritten (31/02 stays as read, and is quarantined).
    valid = iso.str.slice(0, 19).str.strptime(pl.Datetime, "%Y-%m-%d %H:%M:%S", strict=False).is_not_null()
    return pl.when(valid).then(iso).otherwise(pl.col(name)).alias(name)


@dataclass(frozen=True)
class Normalised:
    frame: pl.DataFrame
    decimal: str
    date_order: str | None


def normalise(frame: pl.DataFrame, entity: Entity, dialect: CsvDialect) -> Normalised:
    """Rewrite an entity's money and timestamp text into the loader's forms (other columns untouched)."""
    money = _text_columns(frame, entity, "money")
    stamps = _text_columns(frame, entity, "timestamp")
    decimal = dialect.decimal or detect_decimal(frame, money)
    order = dialect.date_order or detect_date_order(frame, stamps)
    if stamps:
        frame = frame.with_columns(offset_to_iso(c) for c in stamps)
    exprs = []
    if decimal == ",":
        exprs += [_money_to_dot(c) for c in money]
    if order in ("DMY", "MDY"):
        exprs += [_date_to_iso(c, order) for c in stamps]
    return Normalised(frame.with_columns(exprs) if exprs else frame, decimal, order)
