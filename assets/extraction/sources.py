"""Source adapters behind one small interface: the sample shop and a landing zone.

A source yields `Batch`es (a frame of one entity from one file or block).
The extraction driver (`extract.py`) validates and loads them; adapters only
read. Adding a source (an API, a database) means writing one more class with
`batches()`.
"""

from __future__ import annotations

from collections.abc import Iterator
import codecs
import io
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl

from assets.warehouse import connect, quote_ident

from .contract import ENTITIES, Entity
from .dialect import CsvDialect, LandingOptions, detect_delimiter, normalise
from .load import ROW_COL, combine_files, naive_utc
from .mapping import EntityFiles, MappingError, default_files, expand, file_pattern, list_literal, output_problems, reader_sql
from .sample_shop import SAMPLE_CURRENCY, SAMPLE_TIMEZONE, SampleShopConfig, iter_blocks

LANDING_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class SourceFileError(ValueError):
    """A file that cannot be read at all. The message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class FileKey:
    """Identity of a landing file version: a changed file is read again."""

    path: str
    size_bytes: int
    modified_ns: int


@dataclass
class Batch:
    entity: str
    frame: pl.DataFrame
    source_file: str
    file_key: FileKey | None = None
    # Several files loaded as one (`frame` is their `combine_files`); each
    # part is the file's own batch, loaded alone when the files share a key.
    parts: tuple["Batch", ...] = ()
    # Files a mapping's query read to make `frame` (recorded as ingested once it loads).
    files: tuple[FileKey, ...] = ()


class Source(Protocol):
    name: str
    currency: str
    timezone: str

    def batches(
        self,
        entities: tuple[str, ...],
        since: dict[str, datetime | None],
        until: datetime | None,
        skip_files: set[FileKey] | None = None,
    ) -> Iterator[Batch]: ...


@dataclass
class SampleShopSource:
    """The embedded, seeded sample shop; its change feed is filtered on updated_at."""

    config: SampleShopConfig
    name: str = "sample_shop"
    currency: str = SAMPLE_CURRENCY
    timezone: str = SAMPLE_TIMEZONE

    # Blocks are gathered into batches of about this many rows per entity:
    # fewer, larger upserts are much cheaper than many small ones.
    batch_rows: int = 1_000_000

    def batches(self, entities, since, until, skip_files=None):
        known = [s for s in since.values()]
        # Generate once from the earliest cursor; filter each entity to its own.
        earliest = None if any(s is None for s in known) else min(known, default=None)
        pending: dict[str, list[pl.DataFrame]] = {e: [] for e in entities}
        first_block: dict[str, int] = {}

        def flush(entity: str, last_block: int) -> Batch:
            df = pl.concat(pending[entity])
            pending[entity] = []
            label = f"sample_shop/blocks-{first_block.pop(entity):04d}-{last_block:04d}"
            return Batch(entity, df.with_row_index(ROW_COL, offset=1), label)

        i = -1
        for i, block in enumerate(iter_blocks(self.config, as_of=until, since=earliest, entities=entities)):
            for entity in entities:
                df = block[entity]
                cursor = since.get(entity)
                if cursor is not None and cursor != earliest:
                    df = df.filter(pl.col("updated_at") > cursor)
                pending[entity].append(df)
                first_block.setdefault(entity, i)
                if sum(f.height for f in pending[entity]) >= self.batch_rows:
                    yield flush(entity, i)
        for entity in entities:
            if pending[entity]:
                yield flush(entity, i)

    def history_end(self) -> datetime:
        return self.config.end_of_history


def read_landing_file(path: Path, dialect: CsvDialect | None = None) -> pl.DataFrame:
    """Read one exported file as text columns plus its 1-based row number.

    CSV is read as strings so that a malformed value is quarantined with its
    original text instead of failing the file or being coerced silently.
    A file with a header and no rows (or a JSON Lines file with no records)
    is a valid empty export: 0 rows. A 0-byte CSV or Parquet file is not:
    even an export with no rows has a header (CSV) or a schema (Parquet),
    so nothing at all means the export did not finish.
    """
    dialect = dialect or CsvDialect()
    fmt = file_format(path)
    try:
        if fmt == "csv":
            df = _read_csv(path, dialect)
        elif fmt == "parquet":
            df = pl.read_parquet(path)
        elif _is_blank(path):
            df = pl.DataFrame()
        else:
            df = pl.read_ndjson(path, infer_schema_length=None)
            # JSON numbers and strings mix freely; compare as text like CSV.
            df = df.with_columns(
                pl.col(c).cast(pl.String) for c, t in df.schema.items() if not t.is_temporal()
            )
    except SourceFileError:
        raise
    except Exception as exc:  # polars raises several types for unreadable input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = " (not UTF-8? set landing.csv.encoding in retention.yml)" if "utf" in first.lower() else ""
        raise SourceFileError(path, f"cannot be read as {fmt} (truncated or wrong format?): {first}{hint}") from exc
    df = df.rename({c: c.strip().lower() for c in df.columns})
    return df.with_row_index(ROW_COL, offset=1)


def file_format(path: Path) -> str:
    """The file's format by its suffix; a 0-byte CSV or Parquet file is an unfinished export."""
    fmt = LANDING_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceFileError(path, f"unsupported file type {path.suffix!r} (use .csv, .parquet, .jsonl)")
    if path.stat().st_size == 0 and fmt != "jsonl":
        has = "a header" if fmt == "csv" else "a schema"
        raise SourceFileError(path, f"file is empty (0 bytes; even a {fmt} export with no rows has {has})")
    return fmt


def _is_blank(path: Path) -> bool:
    """A JSON Lines file holding no record (nothing, or only blank lines)."""
    with path.open("rb") as f:
        return not f.read(65536).strip() and not f.read(1)


def _read_csv(path: Path, dialect: CsvDialect) -> pl.DataFrame:
    encoding = dialect.encoding or "utf-8"
    with path.open("rb") as f:
        header = f.readline().decode(encoding, errors="replace").lstrip("\ufeff")
    delimiter = dialect.delimiter or detect_delimiter(header)
    _check_csv_not_truncated(path, delimiter)
    if encoding in ("utf-8", "utf-8-sig"):
        # Polars drops a UTF-8 byte-order mark and accepts CRLF line ends itself.
        return pl.read_csv(path, separator=delimiter, infer_schema=False)
    text = path.read_bytes().decode(encoding)
    return pl.read_csv(io.BytesIO(text.encode("utf-8")), separator=delimiter, infer_schema=False)


def _check_csv_not_truncated(path: Path, delimiter: str = ",") -> None:
    """A CSV cut off mid-row (no final newline, short last row) fails as a file.

    Short rows in the middle are kept: their empty fields are caught row by
    row by the contract (missing required values go to quarantine).
    """
    sep = delimiter.encode()
    with path.open("rb") as f:
        header = f.readline()
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    if tail.endswith(b"\n"):
        return
    last = tail.rsplit(b"\n", 1)[-1]
    if last.count(sep) < header.count(sep):
        raise SourceFileError(path, "truncated: the last row is incomplete (fewer fields than the header, no final newline)")


@dataclass
class LandingSource:
    """A folder of exports: `<root>/<entity>/*.{csv,parquet,jsonl}`, any number of files.

    Files already ingested unchanged (same path, size and mtime) are skipped,
    so a nightly run reads only new or rewritten files. Only orders are
    required: an entity with no folder or no files is one the shop does not
    track (no cart system, no helpdesk), which is not an error.

    The `landing` section of retention.yml may point an entity at other files
    (`files`) and map them with a query (`query`, mapping.py): such an
    entity's new files are read by its query, all together, after every
    mapping of the run has been checked (`MappedReads`).
    """

    root: Path
    currency: str = "USD"
    timezone: str = "UTC"
    name: str = "landing"
    options: LandingOptions = field(default_factory=LandingOptions)
    # Files of one entity and one schema are gathered into batches of about
    # this many rows: one upsert per batch instead of one per file.
    batch_rows: int = 1_000_000
    # DuckDB's memory cap for the mapping queries (RETENTION_DUCKDB_MEMORY_LIMIT; None: DuckDB's default).
    memory_limit: str | None = None

    def files(self, entity: str) -> list[Path]:
        """The entity's files: its folder, or the `files` pattern of its `landing` settings."""
        return matching_files(self.root, self.options.files(entity).files)

    def _where(self, entity: str) -> Path:
        """Where an entity's files are looked for (its folder, or the landing folder and pattern)."""
        pattern = self.options.files(entity).files
        return self.root / entity if pattern == default_files(entity) else self.root / pattern

    def not_tracked(self, entities) -> dict[str, Path]:
        """The selected entities without any file, with the folder (or pattern) looked in."""
        return {e: self._where(e) for e in entities if not self.files(e)}

    def check_layout(self, entities=tuple(ENTITIES), skip_files: set[FileKey] | frozenset = frozenset()) -> None:
        if not self.root.is_dir():
            raise SourceFileError(self.root, "landing folder does not exist (RETENTION_LANDING_DIR)")
        for name in entities:
            pattern = file_pattern(self.options.files(name).files)
            # Files already ingested and then archived by the shop still count.
            ingested = any(_in_pattern(self.root, Path(k.path), pattern) for k in skip_files)
            if ENTITIES[name].required_entity and not self.files(name) and not ingested:
                kinds = ", ".join(sorted(set(LANDING_FORMATS)))
                raise SourceFileError(
                    self._where(name),
                    f"no {name} files: {name} are required; put the shop's {name} exports ({kinds}) there",
                )

    def batches(self, entities, since, until, skip_files=None):
        skip_files = skip_files or set()
        self.check_layout(entities, skip_files)
        with tempfile.TemporaryDirectory(prefix="retention-landing-") as tmp:
            # Every mapping is checked before anything is read for loading: a
            # broken one stops the run with nothing loaded.
            mapped = MappedReads(self, Path(tmp))
            plans = {e: mapped.plan(e, skip_files) for e in entities if self.options.files(e).query}
            for entity in entities:
                if entity in plans:
                    if plans[entity] is not None:
                        yield mapped.read(plans[entity])
                    continue
                yield from self._file_batches(entity, skip_files)

    def _file_batches(self, entity: str, skip_files) -> Iterator[Batch]:
        """An entity's new files, each in the contract's shape, gathered into batches."""
        dialect = self.options.dialect(entity)
        pending: list[Batch] = []
        for path in self.files(entity):
            key = file_key(path)
            if key in skip_files:
                continue
            try:
                frame = read_landing_file(path, dialect)
            except SourceFileError:
                # The files read before the broken one still load.
                if pending:
                    yield gather(entity, pending)
                raise
            if frame.height == 0:
                frame = _with_missing_columns(frame, ENTITIES[entity])
            batch = Batch(entity, normalise(frame, ENTITIES[entity], dialect).frame, str(path), key)
            if pending and (
                batch.frame.schema != pending[0].frame.schema
                or sum(b.frame.height for b in pending) + batch.frame.height > self.batch_rows
            ):
                yield gather(entity, pending)
                pending = []
            pending.append(batch)
        if pending:
            yield gather(entity, pending)


def file_key(path: Path) -> FileKey:
    st = path.stat()
    return FileKey(str(path), st.st_size, st.st_mtime_ns)


def matching_files(root: Path, pattern: str) -> list[Path]:
    """Files of a known type under `root` whose relative path matches the glob `pattern`, sorted."""
    regex = file_pattern(pattern)
    # Walk only below the pattern's fixed leading folders.
    fixed = []
    for part in pattern.split("/")[:-1]:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    base = root.joinpath(*fixed)
    if not base.is_dir():
        return []
    return sorted(
        p for p in base.rglob("*")
        if p.is_file() and p.suffix.lower() in LANDING_FORMATS and regex.fullmatch(p.relative_to(root).as_posix())
    )


def _in_pattern(root: Path, path: Path, regex) -> bool:
    return path.is_relative_to(root) and bool(regex.fullmatch(path.relative_to(root).as_posix()))


@dataclass
class MappedPlan:
    """One mapped entity's read this run: its new files and the query over them (checked)."""

    spec: EntityFiles
    files: list[FileKey]
    # None when every new file is a JSON Lines file without records.
    sql: str | None


@dataclass
class MappedReads:
    """Runs the landing mappings (mapping.py) in a DuckDB of their own, apart from the warehouse.

    The user's SQL sees only the files (it cannot touch `raw`). CSV files in
    an encoding other than UTF-8 are read from UTF-8 copies in `tmp`, made
    once per file and run (DuckDB reads UTF-8 and Latin-1 only; Windows-1252
    is not Latin-1).
    """

    source: LandingSource
    tmp: Path
    copies: dict[str, Path] = field(default_factory=dict)

    def plan(self, entity: str, skip_files) -> MappedPlan | None:
        """Check the entity's mapping against its files; the plan of its read, None when no file is new.

        Without new files the mapping is still checked, against the newest file.
        """
        spec = self.source.options.files(entity)
        paths = self.source.files(entity)
        new = [p for p in paths if file_key(p) not in skip_files]
        if new and spec.read == "all":
            # The entity is derived from the whole history (a customer's first purchase).
            new = paths
        # A JSON Lines file without records names no columns: nothing to query.
        with_rows = [p for p in (new or paths) if not (file_format(p) == "jsonl" and _is_blank(p))]
        probe = with_rows if new else [max(with_rows, key=lambda p: p.stat().st_mtime_ns)] if with_rows else []
        sql = self._checked_sql(spec, probe) if probe else None
        return MappedPlan(spec, [file_key(p) for p in new], sql) if new else None

    def _checked_sql(self, spec: EntityFiles, paths: list[Path]) -> str:
        """The query over `paths`, once DuckDB has described a result that fits the contract."""
        sql = self._sql(spec, paths)
        with self._connect() as con:
            try:
                columns = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {sql}").fetchall()]
            except duckdb.Error as exc:
                raise MappingError(f"{self._about(spec, paths)}: {duckdb_reason(exc)}") from None
        problems = output_problems(ENTITIES[spec.entity], columns)
        if problems:
            raise MappingError(f"{self._about(spec, paths)}: {'; '.join(problems)}")
        return sql

    def read(self, plan: MappedPlan) -> Batch:
        """The query's result over the new files, in the loader's form (dialect applied to its text columns)."""
        entity, paths = plan.spec.entity, [Path(k.path) for k in plan.files]
        if plan.sql is None:
            frame = _with_missing_columns(pl.DataFrame(), ENTITIES[entity])
        else:
            with self._connect() as con:
                try:
                    # In key order, so that `_source_row` names the same record on every read.
                    keys = ", ".join(quote_ident(k) for k in ENTITIES[entity].primary_key)
                    frame = naive_utc(con.sql(f"{plan.sql} ORDER BY {keys}").pl())
                except duckdb.Error as exc:
                    raise MappingError(f"{self._about(plan.spec, paths)}: {duckdb_reason(exc)}") from None
        frame = frame.rename({c: c.strip().lower() for c in frame.columns})
        frame = normalise(frame, ENTITIES[entity], self.source.options.dialect(entity)).frame
        first = paths[0]
        label = str(first) if len(paths) == 1 else f"{first} .. {paths[-1].name} ({len(paths)} files)"
        return Batch(
            entity, frame.with_row_index(ROW_COL, offset=1), f"{label} via landing.{entity}.query",
            files=tuple(plan.files),
        )

    def _sql(self, spec: EntityFiles, paths: list[Path]) -> str:
        formats = {file_format(p) for p in paths}
        if len(formats) > 1:
            raise MappingError(
                f"{self._about(spec, paths)}: the files mix formats ({', '.join(sorted(formats))}); "
                "give each format a pattern of its own (e.g. *.csv)"
            )
        fmt = formats.pop()
        dialect = self.source.options.dialect(spec.entity)
        readable = [self._readable(p, fmt, dialect) for p in paths]
        delimiter = None
        if fmt == "csv":
            delimiter = dialect.delimiter or detect_delimiter(_header(readable[0]))
            for p in paths:
                _check_csv_not_truncated(p, delimiter)
        return expand(spec.query, reader_sql(readable, fmt, delimiter), list_literal(readable))

    def _readable(self, path: Path, fmt: str, dialect: CsvDialect) -> Path:
        """The path DuckDB reads: the file itself, or its UTF-8 copy."""
        encoding = dialect.encoding or "utf-8"
        if fmt != "csv" or encoding in ("utf-8", "utf-8-sig"):
            return path
        if str(path) not in self.copies:
            copy = self.tmp / f"{len(self.copies):06d}-{path.name}"
            utf8_copy(path, copy, encoding)
            self.copies[str(path)] = copy
        return self.copies[str(path)]

    def _connect(self):
        # In UTC, so timestamps with an offset come back in the zone `raw` holds.
        return connect(":memory:", memory_limit=self.source.memory_limit)

    def _about(self, spec: EntityFiles, paths: list[Path]) -> str:
        files = f"{paths[0]}" if len(paths) == 1 else f"{len(paths)} files, first {paths[0]}"
        return f"{spec.key} over {spec.files} ({files})"


def _header(path: Path) -> str:
    with path.open("rb") as f:
        return f.readline().decode("utf-8", errors="replace").lstrip("\ufeff")


def utf8_copy(path: Path, copy: Path, encoding: str, chunk_bytes: int = 1 << 20) -> None:
    """Write `path` (in `encoding`) as UTF-8 to `copy`, a chunk at a time."""
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with path.open("rb") as src, copy.open("w", encoding="utf-8", newline="") as dst:
        while True:
            chunk = src.read(chunk_bytes)
            try:
                dst.write(decoder.decode(chunk, final=not chunk))
            except UnicodeDecodeError as exc:
                raise SourceFileError(
                    path, f"not {encoding}: byte {chunk[exc.start]:#04x} at offset {done + exc.start} cannot be decoded "
                    "(set landing.csv.encoding in retention.yml)",
                ) from None
            if not chunk:
                return
            done += len(chunk)


def duckdb_reason(exc: Exception) -> str:
    """DuckDB's error in one line: its first line, and the candidate columns when it lists them."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    hint = [ln for ln in lines[1:] if ln.startswith(("Candidate bindings", "Did you mean"))]
    return "; ".join([lines[0], *hint[:1]])


def gather(entity: str, batches: list[Batch]) -> Batch:
    """One batch of several files' batches (of one schema); a single batch as it is."""
    if len(batches) == 1:
        return batches[0]
    frame = combine_files([(b.source_file, b.frame) for b in batches])
    label = f"{batches[0].source_file} .. {Path(batches[-1].source_file).name} ({len(batches)} files)"
    return Batch(entity, frame, label, parts=tuple(batches))


def _with_missing_columns(frame: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    """An empty JSON Lines file names no columns; give it the contract's, as text."""
    if len(frame.columns) > 1:
        return frame
    return frame.with_columns(pl.lit(None, pl.String).alias(c) for c in entity.column_names)


def write_landing(frames: dict[str, pl.DataFrame], root: Path, fmt: str, files_per_entity: int = 1) -> list[Path]:
    """Write frames as a shop would export them (used by tests and the demo)."""
    written = []
    for entity, df in frames.items():
        folder = root / entity
        folder.mkdir(parents=True, exist_ok=True)
        n = max(1, files_per_entity)
        step = -(-df.height // n) if df.height else 0
        for i in range(n):
            part = df.slice(i * step, step) if step else df
            if part.height == 0 and i > 0:
                continue
            path = folder / f"{entity}-{i:03d}.{ 'jsonl' if fmt == 'jsonl' else fmt}"
            if fmt == "csv":
                part.write_csv(path)
            elif fmt == "parquet":
                part.write_parquet(path)
            elif fmt == "jsonl":
                part.write_ndjson(path)
            else:
                raise ValueError(f"unknown format {fmt!r}")
            written.append(path)
    return written

