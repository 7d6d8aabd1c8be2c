"""A small sample-shop warehouse (20k orders, + marts when dbt runs) shared by the quality tests.

`scratch` copies it into a per-test DuckDB file, optionally replacing a table
by a crafted (bad) pandas frame, so every test validates its own data through
the same engine the asset checks use.
"""

import fcntl
import json
import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from assets.extraction.contract import ENTITIES  # noqa: E402
from assets.extraction.extract import ExtractRequest, run_extraction  # noqa: E402
from assets.extraction.sample_shop import SampleShopConfig  # noqa: E402
from assets.extraction.sources import SampleShopSource  # noqa: E402
from assets.warehouse import connect  # noqa: E402
from assets.settings import DBT_PROJECT_DIR, PROJECT_ROOT  # noqa: E402

SAMPLE_ORDERS = 20_000


def build_sample_warehouse(db: Path, orders: int = SAMPLE_ORDERS, with_marts: bool = True) -> bool:
    """Extract the sample shop into `db` and build the dbt models; True when the marts exist."""
    source = SampleShopSource(SampleShopConfig(orders=orders))
    con = connect(db)
    try:
        run_extraction(con, source, ExtractRequest(entities=tuple(ENTITIES)), "fixture", log=lambda m: None)
    finally:
        con.close()
    if not with_marts:
        return False
    dbt = PROJECT_ROOT / ".venv" / "bin" / "dbt"
    env = {**os.environ, "RETENTION_BUILD_DB": str(db), "DO_NOT_TRACK": "1"}
    proc = subprocess.run(
        [str(dbt), "run", "--vars", json.dumps({"shop_timezone": source.timezone}),
         "--target-path", str(db.parent / "dbt_target"), "--log-path", str(db.parent / "dbt_logs")],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )
    return proc.returncode == 0


@pytest.fixture(scope="session")
def sample_wh(tmp_path_factory, worker_id) -> dict:
    """Built once per test run, under a lock, and shared read-only by every xdist worker.

    Every reader opens it read-only (`scratch` copies what a test changes).
    """
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / "quality_sample"
    root.mkdir(exist_ok=True)
    db, built = root / "warehouse.duckdb", root / "built.json"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            built.write_text(json.dumps({"marts": build_sample_warehouse(db)}))
    return {"db": db, "marts": json.loads(built.read_text())["marts"]}


@pytest.fixture(scope="session")
def needs_marts(sample_wh):
    if not sample_wh["marts"]:
        pytest.skip("dbt could not build the marts in this checkout")
    return sample_wh


COPIED_SCHEMAS = ("raw", "staging", "intermediate", "marts")


@pytest.fixture
def scratch(sample_wh, tmp_path):
    """scratch(frames={"raw.orders": df}, sql=[...], marts=False) -> read-write connection to a copy.

    Copies `raw` (and staging / intermediate / marts with marts=True).
    Tables are copied without constraints (a crafted frame may break the
    primary key); views become tables. A frame replaces the table's rows and
    is cast to the table's column types.
    """
    opened = []

    def make(frames: dict | None = None, sql: list[str] | None = None, marts: bool = False):
        frames = frames or {}
        schemas = COPIED_SCHEMAS if marts else ("raw",)
        con = connect(tmp_path / f"scratch{len(opened)}.duckdb")
        opened.append(con)
        con.execute(f"ATTACH '{sample_wh['db']}' AS sample (READ_ONLY)")
        rels = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = 'sample'"
        ).fetchall()
        rels = [(schema, table) for schema, table in rels if schema in schemas]
        for schema, table in rels:
            name = f"{schema}.{table}"
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            if name in frames:
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM sample.{name} LIMIT 0")
                frame = frames[name]  # noqa: F841 - read by DuckDB's replacement scan
                con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM frame")
            else:
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM sample.{name}")
        con.execute("DETACH sample")
        for stmt in sql or []:
            con.execute(stmt)
        return con

    yield make
    for con in opened:
        con.close()


@pytest.fixture
def frame(sample_wh):
    """frame("raw.orders") -> the sample table as a pandas DataFrame, to be broken by a test."""
    def read(table: str):
        con = connect(sample_wh["db"], read_only=True)
        try:
            return con.execute(f"SELECT * FROM {table}").df()
        finally:
            con.close()

    return read
