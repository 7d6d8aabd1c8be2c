"""The project builds on Apache Spark (dbt-spark, local[2]) with the same numbers as on DuckDB.

One sample shop is extracted into DuckDB `raw`, the raw tables are exported
to Parquet, and the same dbt project is built twice from those rows: on
DuckDB, and on Spark, where the `raw` database is a set of tables over the
Parquet files (macros/spark_tables.sql). The shop runs in New York time so the
time-zone macros are exercised. Every required mart must come out the same,
cell for cell, read back from the Parquet files Spark wrote.
"""

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.sample_shop import ENTITY_NAMES, SampleShopConfig
from assets.extraction.sources import SampleShopSource
from assets.warehouse import connect
from tests.support.spark_compare import REQUIRED_MARTS, built_mart_differences
from tests.support.spark_markers import NEEDS_SPARK

from .conftest import DBT, DBT_PROJECT_DIR, run_dbt

pytestmark = NEEDS_SPARK

VARS = '{"shop_timezone": "America/New_York"}'


def export_raw_parquet(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Every `raw` table to <folder>/<table>/part-0.parquet; returns the row count of each."""
    counts = {}
    tables = [t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND NOT starts_with(table_name, '_')"
    ).fetchall()]
    for table in tables:
        (folder / table).mkdir(parents=True)
        con.execute(f"COPY raw.{table} TO '{folder / table / 'part-0.parquet'}' (FORMAT parquet)")
        counts[table] = con.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0]
    return counts


def run_dbt_on_spark(args: list[str], spark_dir: Path, raw_parquet: Path, target_path: Path) -> subprocess.CompletedProcess:
    """`dbt <args> --target spark` in a private folder (Derby and Spark leave files in the working directory)."""
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "RETENTION_SPARK_DIR": str(spark_dir),
        "RETENTION_SPARK_RAW_PARQUET": str(raw_parquet),
        "RETENTION_SPARK_MASTER": "local[2]",
    }
    cmd = [
        str(DBT), *args, "--target", "spark",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path), "--log-path", str(target_path / "logs"),
    ]
    spark_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(cmd, env=env, cwd=spark_dir, capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spark_parity")
    source = SampleShopSource(SampleShopConfig(orders=3_000))
    warehouse = tmp / "warehouse.duckdb"
    con = connect(str(warehouse))
    run_extraction(con, source, ExtractRequest(ENTITY_NAMES, until=source.history_end()), "parity", log=lambda m: None)
    raw_counts = export_raw_parquet(con, tmp / "raw")
    con.close()

    run_dbt(["build", "--vars", VARS], warehouse=warehouse, target_path=tmp / "target_duckdb")
    spark = run_dbt_on_spark(["build", "--vars", VARS], tmp / "spark", tmp / "raw", tmp / "target_spark")
    results = json.loads((tmp / "target_spark" / "run_results.json").read_text())["results"] \
        if (tmp / "target_spark" / "run_results.json").exists() else []

    con = duckdb.connect(str(warehouse), read_only=True)
    yield {
        "con": con,
        "raw_counts": raw_counts,
        "spark": spark,
        "spark_results": results,
        "spark_tables": tmp / "spark" / "warehouse",
    }
    con.close()


def spark_table(both_engines, schema: str, table: str) -> str:
    folder = both_engines["spark_tables"] / f"{schema}.db" / table
    assert folder.is_dir(), f"Spark wrote no table {schema}.{table}: expected Parquet files in {folder}"
    return f"read_parquet('{folder}/*.parquet')"


def test_the_sample_shop_has_orders_customers_and_tickets(both_engines):
    counts = both_engines["raw_counts"]
    assert counts["orders"] >= 2_000 and counts["customers"] > 0 and counts["support_tickets"] > 0


def test_spark_builds_every_model_and_passes_every_data_and_unit_test(both_engines):
    spark, results = both_engines["spark"], both_engines["spark_results"]
    assert results, f"dbt build on Spark wrote no run_results.json:\n{spark.stdout[-4000:]}\n{spark.stderr[-2000:]}"
    # exposures (models/exposures.yml) build nothing: dbt reports them as no-op
    failed = sorted(f"{r['unique_id']}: {r['status']}" for r in results if r["status"] not in ("success", "pass")
                    and not (r["unique_id"].startswith("exposure.") and r["status"] == "no-op"))
    assert not failed, "on Spark, not every node succeeded:\n" + "\n".join(failed)
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test", "unit_test"} <= kinds, kinds
    assert spark.returncode == 0, spark.stdout[-4000:]


@pytest.mark.parametrize("mart", sorted(REQUIRED_MARTS))
def test_spark_mart_equals_duckdb_cell_for_cell(both_engines, mart):
    problems = built_mart_differences(both_engines["con"], mart, spark_table(both_engines, "marts", mart), "Spark")
    assert not problems, "\n".join(problems)


def test_spark_marts_have_the_contract_types_of_duckdb(both_engines):
    con = both_engines["con"]
    mismatched = {}
    for mart in REQUIRED_MARTS:
        duck = con.execute(f"DESCRIBE marts.{mart}").fetchall()
        spark = con.execute(f"DESCRIBE SELECT * FROM {spark_table(both_engines, 'marts', mart)}").fetchall()
        duck_types = {name: dtype for name, dtype, *_ in duck}
        spark_types = {name: dtype for name, dtype, *_ in spark}
        if duck_types != spark_types:
            mismatched[mart] = {c: (duck_types.get(c), spark_types.get(c)) for c in duck_types.keys() | spark_types.keys()
                                if duck_types.get(c) != spark_types.get(c)}
    assert not mismatched, f"column types (DuckDB, Spark) differ: {mismatched}"
