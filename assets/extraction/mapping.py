"""Mappings of the landing folder: one SQL query per entity over the shop's own export files.

A shop's export is rarely shaped like the contract: one row per line item,
its own column names, cancellations as separate negative invoices. Like the
PostgreSQL source (one query per entity over tables), the `landing` section
of `retention.yml` may give an entity a DuckDB query over files:

    landing:
      orders:
        files: invoices/*.csv          # glob relative to the landing folder
        query: SELECT "InvoiceNo" AS order_id, ... FROM {files} GROUP BY ALL

`{files}` is those files read by DuckDB's reader for their type (every CSV
column as text, with the entity's delimiter), `{file_list}` the same files
as a list literal for calling `read_csv` / `read_parquet` / `read_json`
with options of one's own. The query's result goes through the contract
exactly as a file would (docs/mappings.md).

This module is the part without I/O: the settings, the placeholders, the
file patterns and the checks of a query's output columns. Reading runs in
`sources.LandingSource`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assets.user_config import UserConfigError
from assets.warehouse import quote_literal

from .contract import Entity
from .load import TOTAL_COL, missing_columns

FILES = "{files}"
FILE_LIST = "{file_list}"
PLACEHOLDERS = (FILES, FILE_LIST)
# `{name}` that is not a placeholder: a misspelt one. DuckDB's struct
# literals (`{'a': 1}`) hold quotes and never match.
_BRACED_WORD = re.compile(r"\{\s*(\w+)\s*\}")
ENTITY_KEYS = ("csv", "files", "query", "read")
# Which files a mapping's query reads on a run: the new and changed ones, or
# all of them whenever one is new or changed.
READ_MODES = ("new", "all")


class MappingError(UserConfigError):
    """A mapping that cannot be used; the message names the setting, the files and the problem."""


@dataclass(frozen=True)
class EntityFiles:
    """Where an entity's files are, and the query that maps them (None: already in the contract's shape)."""

    entity: str
    files: str
    query: str | None = None
    # "<retention.yml path>: landing.<entity>", for messages.
    where: str = ""
    read: str = "new"

    @property
    def key(self) -> str:
        return f"{self.where}.query" if self.where else f"landing.{self.entity}.query"


def default_files(entity: str) -> str:
    """An entity's own folder, sub-folders included: the layout without a `files` setting."""
    return f"{entity}/**/*"


def parse_entity_files(entity: str, value: dict[str, Any], where: str) -> EntityFiles | None:
    """The `files` and `query` keys of `landing.<entity>` (validated), or None when neither is set.

    `where` is the configuration file; the `csv` key is the dialect's (dialect.py).
    """
    key = f"landing.{entity}"
    unknown = sorted(map(str, set(value) - set(ENTITY_KEYS)))
    if unknown:
        raise MappingError(f"{where}: {key}.{unknown[0]}: unknown key; expected one of: {', '.join(ENTITY_KEYS)}")
    files, query, read = value.get("files"), value.get("query"), value.get("read")
    if read is not None and (query is None or read not in READ_MODES):
        expected = " or ".join(READ_MODES) if query is not None else f"only beside a query ({key}.query)"
        raise MappingError(f"{where}: {key}.read: {read!r}; expected {expected}")
    if files is None and query is None:
        return None
    if files is not None:
        files = check_pattern(files, f"{where}: {key}.files")
    if query is not None:
        query = check_query(query, f"{where}: {key}.query")
    return EntityFiles(entity, files or default_files(entity), query, f"{where}: {key}", read or "new")


def check_pattern(value: Any, where: str) -> str:
    """A glob relative to the landing folder that cannot leave it."""
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{where}: expected a file pattern relative to the landing folder (e.g. invoices/*.csv), got {value!r}")
    pattern = value.strip().replace("\\", "/")
    if pattern.startswith("/") or re.match(r"^[A-Za-z]:", pattern) or ".." in pattern.split("/"):
        raise MappingError(f"{where}: {value!r} must be relative to the landing folder and stay inside it (no leading / or ..)")
    return pattern


def check_query(value: Any, where: str) -> str:
    """A non-empty query that names its files with a known placeholder (and no misspelt one)."""
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{where}: expected a non-empty SQL query, got {value!r}")
    query = value.strip().rstrip(";").strip()
    for match in _BRACED_WORD.finditer(query):
        if match.group(0) not in PLACEHOLDERS:
            raise MappingError(
                f"{where}: unknown placeholder {match.group(0)}; use {FILES} (the files, read) or {FILE_LIST} (their paths)"
            )
    if not any(p in query for p in PLACEHOLDERS):
        raise MappingError(f"{where}: the query reads no landing files; put {FILES} where a table would go (FROM {FILES})")
    return query


def file_pattern(glob: str) -> re.Pattern[str]:
    """A glob over relative paths as a regex: `*` and `?` stay inside a folder, `**/` spans any folders (or none)."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


def list_literal(paths) -> str:
    """`['a.csv', 'b.csv']`: paths as a DuckDB list of strings."""
    return "[" + ", ".join(quote_literal(str(p)) for p in paths) + "]"


def reader_sql(paths, fmt: str, delimiter: str | None = None) -> str:
    """DuckDB's reader over `paths` of one format: what `{files}` stands for.

    CSV is read as text, as landing files are (the contract parses each value
    and quarantines a bad one with its text); files may differ in column order
    or gain columns over time (union by name).
    """
    files = list_literal(paths)
    if fmt == "csv":
        delim = f", delim = {quote_literal(delimiter)}" if delimiter else ""
        return f"read_csv({files}, header = true, all_varchar = true, union_by_name = true{delim})"
    if fmt == "parquet":
        return f"read_parquet({files}, union_by_name = true)"
    if fmt == "jsonl":
        return f"read_json({files}, format = 'newline_delimited', union_by_name = true)"
    raise ValueError(f"unknown file format {fmt!r}")


def expand(query: str, files_sql: str, file_list_sql: str) -> str:
    """The query with its placeholders filled in, as one SELECT (a second statement cannot slip in)."""
    text = query.replace(FILES, files_sql).replace(FILE_LIST, file_list_sql)
    return f"SELECT * FROM (\n{text}\n) AS mapped"


# DuckDB types each contract kind can be parsed from (text always can).
_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|"
                      r"FLOAT|DOUBLE|REAL|DECIMAL.*)$")
_ACCEPTS = {
    "timestamp": re.compile(r"^(TIMESTAMP.*|DATE)$"),
    "money": _NUMERIC,
    "integer": _NUMERIC,
    "boolean": re.compile(r"^BOOLEAN$"),
}
_KIND_WORDS = {"timestamp": "a timestamp (TIMESTAMP, DATE or text)", "money": "a number or text",
               "integer": "a number or text", "boolean": "a BOOLEAN or text"}


def output_problems(entity: Entity, columns: list[tuple[str, str]]) -> list[str]:
    """What is wrong with a query's result columns (name, DuckDB type) for `entity`; [] when it fits.

    Names are compared in lower case, as file headers are. A column the
    contract does not know is an error here (in a file it is ignored): a
    query is written for the contract, so an unknown name is a typo.
    """
    names = [n.strip().lower() for n, _ in columns]
    problems = []
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        problems.append(f"returns column(s) {', '.join(doubled)} more than once")
    # `total` is read only where a column derives from it (orders' subtotal).
    known = [*entity.column_names] + ([TOTAL_COL] if any(c.default_from == TOTAL_COL for c in entity.columns) else [])
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        problems.append(
            f"returns column(s) {', '.join(unknown)}, not in the contract of {entity.name} (known: {', '.join(known)})"
        )
    missing = missing_columns(entity, names)
    if missing:
        problems.append(f"does not return required column(s) {', '.join(missing)}")
    kinds = {c.name: c.kind for c in entity.columns} | {TOTAL_COL: "money"}
    for name, sql_type in zip(names, (t for _, t in columns)):
        kind = kinds.get(name)
        accepts = _ACCEPTS.get(kind or "")
        t = str(sql_type).upper()
        if accepts and not (t in ("VARCHAR", '"NULL"', "NULL") or accepts.match(t)):
            problems.append(f"returns {name} as {t}; expected {_KIND_WORDS[kind]}")
    return problems
