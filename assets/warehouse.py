"""Opening the warehouse: one place that sets what every connection needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class DataLayout:
    """Where everything lives under the data folder (one definition for settings and resources)."""

    data_dir: Path

    @property
    def build_db(self) -> Path:
        """The pipeline's private warehouse: only the pipeline opens it."""
        return self.data_dir / "build" / "warehouse.duckdb"

    @property
    def published_db(self) -> Path:
        """The analysts' warehouse: replaced atomically after a good run; open it read-only."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def report_dir(self) -> Path:
        return self.data_dir / "report"

    @property
    def quality_dir(self) -> Path:
        return self.data_dir / "quality"


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file with the session pinned to UTC.

    Naive timestamps in `raw` are UTC; without this, casting a string with an
    offset (or to TIMESTAMPTZ) would follow the machine's local zone.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """First value of the first row. Fetches the whole result: DuckDB 2 refuses
    further work (register, new statements) on a connection whose last
    result was only partly fetched."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
