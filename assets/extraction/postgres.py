"""The shop's own PostgreSQL database as a source: incremental, read-only, one snapshot per run.

The shop maps its tables onto the contract with one SQL query per entity
(`retention.yml`, section `postgres`; docs/postgres.md). Each run:

- opens ONE transaction, `REPEATABLE READ READ ONLY`: every entity is read
  from the same snapshot (an order and its lines agree), and nothing can be
  written by mistake;
- wraps each query as `SELECT * FROM (<query>) q WHERE q.updated_at > $1
  ORDER BY q.updated_at`, with the bound (never formatted) lower bound
  `high-water mark - overlap`: a transaction that committed late, with an
  `updated_at` older than rows already read, is still picked up; the upsert
  counts re-read rows as unchanged, so the overlap costs reads, not errors;
- reads through a server-side cursor in batches of `batch_rows`, so neither
  the database nor the pipeline holds a whole table in memory.

The client is ADBC's PostgreSQL driver: it turns result sets into Arrow in C,
three to four times faster than building Python rows (docs/benchmarks.md).
The connection URL is a secret: messages name it by `redact_url` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pyarrow as pa

from .contract import ENTITIES
from .load import ROW_COL, naive_utc
from .sources import Batch
from assets.secrets import redact_url as _redact_url

SECTION = "postgres"
URL_ENV = "RETENTION_POSTGRES_URL"
CURSOR_COLUMN = "updated_at"
DEFAULT_BATCH_ROWS = 50_000
DEFAULT_OVERLAP_MINUTES = 10
_KNOWN_KEYS = {"entities", "batch_rows", "overlap_minutes"}


class PostgresConfigError(ValueError):
    """The `postgres` section cannot be used; the message names the file and the key."""


class PostgresSourceError(RuntimeError):
    """Reading the shop database failed; the message names the database without its credentials."""


@dataclass(frozen=True)
class PostgresSettings:
    queries: dict[str, str]
    batch_rows: int = DEFAULT_BATCH_ROWS
    overlap: timedelta = timedelta(minutes=DEFAULT_OVERLAP_MINUTES)


def parse_settings(section: dict[str, Any], where: str = "retention.yml") -> PostgresSettings:
    """Validate the `postgres` section of the shop's configuration file."""
    unknown = sorted(set(section) - _KNOWN_KEYS)
    if unknown:
        raise PostgresConfigError(
            f"{where}: postgres: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    entities = section.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise PostgresConfigError(
            f"{where}: postgres.entities must map entity names ({', '.join(ENTITIES)}) to {{query: ...}}, got {entities!r}"
        )
    queries = {}
    for name, spec in entities.items():
        if name not in ENTITIES:
            raise PostgresConfigError(f"{where}: postgres.entities.{name}: unknown entity; known: {', '.join(ENTITIES)}")
        query = spec.get("query") if isinstance(spec, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise PostgresConfigError(f"{where}: postgres.entities.{name}.query must be a non-empty SQL string, got {query!r}")
        queries[name] = query.strip().rstrip(";").strip()
    indispensable = [e.name for e in ENTITIES.values() if e.required_entity and e.name not in queries]
    if indispensable:
        raise PostgresConfigError(f"{where}: postgres.entities needs a query for {', '.join(indispensable)} (every shop has them)")
    batch_rows = section.get("batch_rows", DEFAULT_BATCH_ROWS)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise PostgresConfigError(f"{where}: postgres.batch_rows must be a positive integer, got {batch_rows!r}")
    overlap = section.get("overlap_minutes", DEFAULT_OVERLAP_MINUTES)
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or overlap < 0:
        raise PostgresConfigError(f"{where}: postgres.overlap_minutes must be a number >= 0, got {overlap!r}")
    return PostgresSettings(queries, batch_rows, timedelta(minutes=overlap))


def redact_url(url: str) -> str:
    """scheme://host[:port]/database: what messages may say about the connection URL."""
    return _redact_url(url, keep_path=True, default_scheme="postgresql")


def incremental_query(query: str, since: datetime | None, until: datetime | None) -> tuple[str, tuple]:
    """The user's query wrapped with the cursor window, and its bound parameters ($1, $2)."""
    conditions, params = [], []
    if since is not None:
        params.append(since)
        conditions.append(f"q.{CURSOR_COLUMN} > ${len(params)}")
    if until is not None:
        params.append(until)
        conditions.append(f"q.{CURSOR_COLUMN} <= ${len(params)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT * FROM (\n{query}\n) q{where} ORDER BY q.{CURSOR_COLUMN}", tuple(params)


def read_from(mark: datetime | None, overlap: timedelta) -> datetime | None:
    """Lower bound of a run: the mark minus the overlap window (None: read everything)."""
    return None if mark is None else mark - overlap


def arrow_to_frame(table: pa.Table) -> pl.DataFrame:
    """A fetched batch as Polars: NUMERIC as its exact text, timestamps with a zone as naive UTC (raw's convention)."""
    columns = []
    for col in table.columns:
        if isinstance(col.type, pa.BaseExtensionType):  # e.g. numeric: exact decimal text
            col = pa.chunked_array([c.storage for c in col.chunks], type=col.type.storage_type)
        columns.append(col)
    return naive_utc(pl.from_arrow(pa.Table.from_arrays(columns, names=table.column_names)))


def _connect(url: str):
    import adbc_driver_postgresql.dbapi as adbc

    # Autocommit, so that this module alone says where the transaction begins and what it is.
    return adbc.connect(url, autocommit=True)


@dataclass
class PostgresSource:
    """Reads the entities configured in `retention.yml` from the shop's PostgreSQL database."""

    url: str
    settings: PostgresSettings
    currency: str = "USD"
    timezone: str = "UTC"
    name: str = "postgres"

    @property
    def where(self) -> str:
        return redact_url(self.url)

    def batches(self, entities, since, until, skip_files=None) -> Iterator[Batch]:
        # Entities without a query are not tracked by this shop: nothing is read for them.
        wanted = [e for e in entities if e in self.settings.queries]
        if not wanted:
            return
        try:
            conn = _connect(self.url)
        except Exception as exc:
            raise PostgresSourceError(f"cannot connect to {self.where}: {self._reason(exc)}") from None
        try:
            cur = conn.cursor()
            # FETCH from a cursor cannot run inside COPY (the driver's fast path for plain queries).
            cur.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
            # Naive timestamps (the mark) compare to timestamptz columns in UTC, raw's convention.
            cur.execute("SET TimeZone = 'UTC'")
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for entity in wanted:
                yield from self._read_entity(cur, entity, read_from(since.get(entity), self.settings.overlap), until)
            cur.execute("COMMIT")
        except PostgresSourceError:
            raise
        except Exception as exc:
            raise PostgresSourceError(f"reading {self.where} failed: {self._reason(exc)}") from None
        finally:
            try:
                conn.close()
            except Exception:
                pass  # the connection may already be gone; the error above is the one that matters

    def _read_entity(self, cur, entity: str, since: datetime | None, until: datetime | None) -> Iterator[Batch]:
        sql, params = incremental_query(self.settings.queries[entity], since, until)
        cursor = f"retention_{entity}"
        try:
            cur.execute(f"DECLARE {cursor} NO SCROLL CURSOR FOR {sql}", parameters=params or None)
        except Exception as exc:
            raise PostgresSourceError(
                f"{self.where}: the query of postgres.entities.{entity} failed "
                f"(it must return the contract's columns, {CURSOR_COLUMN} included): {self._reason(exc)}"
            ) from None

        def fetch() -> pa.Table:
            cur.execute(f"FETCH FORWARD {self.settings.batch_rows} FROM {cursor}")
            return cur.fetch_arrow_table()

        read = 0
        # One fetch runs ahead, in a thread, while the loader validates and
        # upserts the batch before it (the driver and DuckDB both release the
        # GIL): reading and loading overlap instead of taking turns. Only one
        # thread uses the connection at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-fetch") as pool:
            pending = pool.submit(fetch)
            while True:
                table = pending.result()
                if table.num_rows == 0:
                    break
                pending = pool.submit(fetch)
                frame = arrow_to_frame(table).with_row_index(ROW_COL, offset=read + 1)
                label = f"{self.where}#{entity}:rows-{read + 1}-{read + table.num_rows}"
                read += table.num_rows
                yield Batch(entity, frame, label)
        cur.execute(f"CLOSE {cursor}")

    def _reason(self, exc: Exception) -> str:
        """The server's error line and SQLSTATE (else the driver's first line), with the URL and password taken out."""
        raw = str(exc).strip()
        error = re.search(r"ERROR:\s+(.+)", raw)
        state = re.search(r"SQLSTATE: (\w+)", raw)
        if error:
            text = error.group(1).strip() + (f" (SQLSTATE {state.group(1)})" if state else "")
        else:
            text = (raw.splitlines() or [type(exc).__name__])[0]
        parts = urlsplit(self.url)
        for secret in (self.url, parts.password):
            if secret:
                text = text.replace(secret, "***")
        return text


def postgres_source(url: str | None, user_config: dict[str, Any]) -> PostgresSource:
    """The source from RETENTION_POSTGRES_URL and the `postgres` section of retention.yml."""
    where = user_config.get("_path", "retention.yml")
    if not url:
        raise PostgresConfigError(f"the postgres source needs {URL_ENV} (postgresql://user:password@host:port/database)")
    if not urlsplit(url).scheme.startswith("postgres"):
        raise PostgresConfigError(f"{URL_ENV}={redact_url(url)}: expected a postgresql:// URL")
    section = user_config.get(SECTION)
    if not section:
        raise PostgresConfigError(f"{where}: the postgres source needs a `postgres` section with one query per entity")
    return PostgresSource(url, parse_settings(section, where))
