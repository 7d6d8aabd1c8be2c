"""Source adapters behind one small interface: the sample shop and a landing zone.

A source yields `Batch`es (a frame of one entity from one file or block).
The extraction driver (`extract.py`) validates and loads them; adapters only
read. Adding a source (an API, a database) means writing one more class with
`batches()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from .contract import ENTITIES
from .load import ROW_COL
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


def read_landing_file(path: Path) -> pl.DataFrame:
    """Read one exported file as text columns plus its 1-based row number.

    CSV is read as strings so that a malformed value is quarantined with its
    original text instead of failing the file or being coerced silently.
    """
    fmt = LANDING_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceFileError(path, f"unsupported file type {path.suffix!r} (use .csv, .parquet, .jsonl)")
    if path.stat().st_size == 0:
        raise SourceFileError(path, "file is empty (0 bytes)")
    try:
        if fmt == "csv":
            _check_csv_not_truncated(path)
            df = pl.read_csv(path, infer_schema=False)
        elif fmt == "parquet":
            df = pl.read_parquet(path)
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
        raise SourceFileError(path, f"cannot be read as {fmt} (truncated or wrong format?): {first}") from exc
    if df.height == 0:
        raise SourceFileError(path, "file has a header but no rows")
    df = df.rename({c: c.strip().lower() for c in df.columns})
    return df.with_row_index(ROW_COL, offset=1)


def _check_csv_not_truncated(path: Path) -> None:
    """A CSV cut off mid-row (no final newline, short last row) fails as a file.

    Short rows in the middle are kept: their empty fields are caught row by
    row by the contract (missing required values go to quarantine).
    """
    with path.open("rb") as f:
        header = f.readline()
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    if tail.endswith(b"\n"):
        return
    last = tail.rsplit(b"\n", 1)[-1]
    if last.count(b",") < header.count(b","):
        raise SourceFileError(path, "truncated: the last row is incomplete (fewer fields than the header, no final newline)")


@dataclass
class LandingSource:
    """A folder of exports: `<root>/<entity>/*.{csv,parquet,jsonl}`, any number of files.

    Files already ingested unchanged (same path, size and mtime) are skipped,
    so a nightly run reads only new or rewritten files.
    """

    root: Path
    currency: str = "USD"
    timezone: str = "UTC"
    name: str = "landing"

    def files(self, entity: str) -> list[Path]:
        folder = self.root / entity
        if not folder.is_dir():
            return []
        return sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in LANDING_FORMATS
        )

    def check_layout(self) -> None:
        if not self.root.is_dir():
            raise SourceFileError(self.root, "landing folder does not exist")
        found = [e for e in ENTITIES if (self.root / e).is_dir()]
        if not found:
            raise SourceFileError(
                self.root, f"no entity sub-folders found (expected some of: {', '.join(ENTITIES)})"
            )

    def batches(self, entities, since, until, skip_files=None):
        self.check_layout()
        skip_files = skip_files or set()
        for entity in entities:
            for path in self.files(entity):
                st = path.stat()
                key = FileKey(str(path), st.st_size, st.st_mtime_ns)
                if key in skip_files:
                    continue
                yield Batch(entity, read_landing_file(path), str(path), key)


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

