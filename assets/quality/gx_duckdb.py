"""A Great Expectations SQL data source over a DuckDB file, with the one fix it needs.

GX's `SqlAlchemyExecutionEngine` runs a metric query inside
`with engine.connect()` and fetches its rows after that block has returned
the connection to the pool. A DuckDB cursor (duckdb_engine) has no rows left
once its connection is returned, so every metric fails with
`IndexError: list index out of range` in `resolve_metric_bundle`. GX already
keeps one connection open for the dialects that need it (SQLite, SQL Server,
BigQuery, Databricks: `_PERSISTED_CONNECTION_DIALECTS`); DuckDB is not in
that list. `DuckDBExecutionEngine` does the same for DuckDB: one connection,
opened once and kept for the engine's lifetime, for every metric query.
GX also opens short connections of its own (column reflection, asset
checks); each gets its own DuckDB cursor (no pooling), so its transaction
never meets the kept one's (over one shared DuckDB connection, a short
connection's BEGIN inside the kept connection's transaction fails with
"cannot start a transaction within a transaction", depending on the order
GX resolves metrics in).

`DuckDBDatasource` is the data source type GX documents as its extension
point: a `SQLDatasource` subclass whose `type` ("duckdb") registers it, so a
context gains `context.data_sources.add_duckdb(name, connection_string=...)`
with table and query assets, batch definitions, ValidationDefinitions and
Checkpoints as for any SQL data source; every metric is computed by DuckDB.

Needs the SQLAlchemy dialect `duckdb_engine` (package duckdb-engine).
Importing this module registers the type; import it lazily (GX is not on
the Definitions import path).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Literal, Type

import sqlalchemy as sa
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

DATASOURCE_TYPE = "duckdb"


class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """A SqlAlchemyExecutionEngine that keeps one DuckDB connection for its lifetime."""

    def __init__(self, *args, **kwargs) -> None:
        # GX passes the data source's `kwargs` on to create_engine: every other connect() its own cursor
        kwargs.setdefault("poolclass", sa.pool.NullPool)
        super().__init__(*args, **kwargs)

    @contextmanager
    def get_connection(self):
        # as GX does for SQLite: the connection outlives the `with`, so rows fetched after it are still there
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
        elif self._connection.in_transaction():
            # the previous query's rows are fetched by now: end its (read) transaction so this query
            # sees what was written since (DuckDB reads a snapshot per transaction)
            self._connection.rollback()
        yield self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()


class DuckDBDatasource(SQLDatasource):
    """A SQL data source over a DuckDB database file (`duckdb:///<path>`)."""

    type: Literal["duckdb"] = "duckdb"  # type: ignore[assignment] - GX's registry key

    @property
    def execution_engine_type(self) -> Type[SqlAlchemyExecutionEngine]:
        return DuckDBExecutionEngine


def add_duckdb(context, name: str, con) -> DuckDBDatasource:
    """The context's DuckDB data source `name` over the database of the open connection `con`, added or repointed.

    `con` may also be a function returning the connection to read: a data
    source kept across connections reads the one it returns whenever its
    execution engine (re)connects (after `close()`).

    GX gets a cursor of `con` (a connection to the same database instance), not
    a second open of the file: DuckDB refuses a second open of a file in one
    process with another configuration, and duckdb_engine always adds one (its
    user agent). Query assets name their tables with the schema
    (`SELECT ... FROM raw.orders`): GX's column-type metric drops a table
    asset's schema on this dialect.
    """
    from duckdb_engine import ConnectionWrapper  # noqa: PLC0415 - the dialect, checked at use

    current = con if callable(con) else (lambda: con)
    return context.data_sources.add_or_update_duckdb(
        name=name, connection_string="duckdb://", kwargs={"creator": lambda: ConnectionWrapper(current().cursor())})
