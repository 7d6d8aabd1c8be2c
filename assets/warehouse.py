"""Opening the warehouse: one place that sets what every connection needs."""

from __future__ import annotations

import os
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
    def builds_dir(self) -> Path:
        """One folder per published build (warehouse, exports, report), plus runs being staged."""
        return self.data_dir / "builds"

    @property
    def current_link(self) -> Path:
        """THE switch: a symlink to the published build folder, replaced atomically."""
        return self.data_dir / "current"

    def stage_dir(self, run_id: str) -> Path:
        """Where a run writes its warehouse, exports and report before the switch."""
        return self.builds_dir / f".stage-{run_id}"

    # Stable paths for analysts, BI and the shop owner: symlinks through `current`.
    @property
    def published_db(self) -> Path:
        """The analysts' warehouse (-> current/warehouse.duckdb); open it read-only."""
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

    @property
    def dbt_docs_dir(self) -> Path:
        """The dbt docs page (index.html, static: opens from disk), built from this folder's build warehouse."""
        return self.data_dir / "dbt_docs"

    @property
    def dagster_home(self) -> Path:
        """This shop's Dagster instance (runs, event logs, schedule state): one per data folder.

        The Makefile derives DAGSTER_HOME from RETENTION_DATA_DIR the same way,
        so two shops run from one clone never see each other's runs.
        """
        return self.data_dir / "dagster_home"


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private(db_path: Path | str, folder: bool = True) -> None:
    """Owner-only access to a database file, its WAL and (if `folder`) its folder.

    The build file holds personal data (e-mail addresses); the folder's mode
    also covers the `.wal` and temporary files DuckDB creates with the umask.
    """
    db_path = Path(db_path)
    if folder and db_path.parent.is_dir():
        os.chmod(db_path.parent, PRIVATE_DIR_MODE)
    for p in (db_path, Path(str(db_path) + ".wal")):
        if p.exists():
            os.chmod(p, PRIVATE_FILE_MODE)


def connect(path: Path | str, read_only: bool = False, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file with the session pinned to UTC (and its memory capped, if given).

    A file opened for writing is made owner-only, and a folder created for it
    is owner-only (an existing folder is left as it is).
    Naive timestamps in `raw` are UTC; without this, casting a string with an
    offset (or to TIMESTAMPTZ) would follow the machine's local zone.
    """
    writable = str(path) != ":memory:" and not read_only
    if writable:
        Path(path).parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    if writable:
        make_private(path, folder=False)
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        # DuckDB's default is 80% of the machine's RAM, per process; a cap keeps
        # a large shop's nightly run to a predictable size (it spills beyond it).
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | Path) -> str:
    """A DuckDB string literal in single quotes (embedded quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether `schema.name` is a table or a view on `con`."""
    return bool(scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                       [schema, name]))


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """First value of the first row. Fetches the whole result: DuckDB 2 refuses
    further work (register, new statements) on a connection whose last
    result was only partly fetched."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
