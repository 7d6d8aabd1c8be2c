"""Source adapters behind one small interface: the sample shop and a landing zone.

A source yields `Batch`es (a frame of one entity from one file or block).
The extraction driver (`extract.py`) validates and loads them; adapters only
read. Adding a source (an API, a database) means writing one more class with
`batches()`.
"""

from __future__ import annotations

from collections.abc import Iterator
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from .contract import ENTITIES, Entity
from .dialect import CsvDialect, LandingOptions, detect_delimiter, normalise
from .load import ROW_COL, combine_files
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
    fmt = LANDING_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceFileError(path, f"unsupported file type {path.suffix!r} (use .csv, .parquet, .jsonl)")
    if path.stat().st_size == 0 and fmt != "jsonl":
        has = "a header" if fmt == "csv" else "a schema"
        raise SourceFileError(path, f"file is empty (0 bytes; even a {fmt} export with no rows has {has})")
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
    """

    root: Path
    currency: str = "USD"
    timezone: str = "UTC"
    name: str = "landing"
    options: LandingOptions = field(default_factory=LandingOptions)
    # Files of one entity and one schema are gathered into batches of about
    # this many rows: one upsert per batch instead of one per file.
    batch_rows: int = 1_000_000

    def files(self, entity: str) -> list[Path]:
        folder = self.root / entity
        if not folder.is_dir():
            return []
        return sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in LANDING_FORMATS
        )

    def not_tracked(self, entities) -> dict[str, Path]:
        """The selected entities without any file, with the folder looked in."""
        return {e: self.root / e for e in entities if not self.files(e)}

    def check_layout(self, entities=tuple(ENTITIES), skip_files: set[FileKey] | frozenset = frozenset()) -> None:
        if not self.root.is_dir():
            raise SourceFileError(self.root, "landing folder does not exist (RETENTION_LANDING_DIR)")
        for name in entities:
            folder = self.root / name
            # Files already ingested and then archived by the shop still count.
            ingested = any(Path(k.path).parent.is_relative_to(folder) for k in skip_files)
            if ENTITIES[name].required_entity and not self.files(name) and not ingested:
                kinds = ", ".join(sorted(set(LANDING_FORMATS)))
                raise SourceFileError(
                    folder, f"no {name} files: {name} are required; put the shop's {name} exports ({kinds}) in this folder"
                )

    def batches(self, entities, since, until, skip_files=None):
        skip_files = skip_files or set()
        self.check_layout(entities, skip_files)
        for entity in entities:
            dialect = self.options.dialect(entity)
            pending: list[Batch] = []
            for path in self.files(entity):
                st = path.stat()
                key = FileKey(str(path), st.st_size, st.st_mtime_ns)
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

