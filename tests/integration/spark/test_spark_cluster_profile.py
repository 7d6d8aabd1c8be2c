"""The `spark_connect` target builds the project on a Spark Connect server, with the same numbers as on DuckDB.

A throwaway Connect server (the installed PySpark's, `local[2]`, in a temp
folder, on a free port) stands in for a cluster: it owns the master, the
warehouse and the metastore; dbt runs as a client with only
RETENTION_SPARK_REMOTE pointing at it. One small sample shop is extracted
into DuckDB and exported to Parquet for the server to read (`raw`, one
Parquet folder per table, as the pipeline exports it for Spark); the required
marts and their parents are built on DuckDB and through the server, and
compared cell by cell. The project's data and unit tests run on Spark once,
in tests/e2e/test_spark_engine_e2e.py (local[2]): through a server they are
the same SQL, and running them twice cost the suite two minutes.
The server is stopped before the checks run, and whatever happens.
"""

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.sample_shop import ENTITY_NAMES, SampleShopConfig
from assets.extraction.sources import SampleShopSource
from assets.marts import marts, marts_not_built_on
from assets.settings import PROJECT_ROOT
from assets.warehouse import connect
from tests.integration.dbt.conftest import DBT, DBT_PROJECT_DIR, run_dbt
from tests.support.connect_server import connect_server
from tests.support.repository import repository_files
from tests.support.spark_compare import REQUIRED_MARTS, built_mart_differences
from tests.support.spark_markers import NEEDS_SPARK

TARGET = "spark_connect"
VARS = '{"shop_timezone": "America/New_York"}'
SAMPLE_ORDERS = 1_000
# The required marts and every model they read (half the project).
SELECT = [f"+{mart}" for mart in sorted(REQUIRED_MARTS)]
SESSION_QUERY = "select current_timezone() as time_zone, typeof(timestamp'2024-01-01 00:00:00') as timestamp_type"
# dbt-spark's session method asks for Hive support on every statement; a Connect server refuses that
# static setting with a warning (it has its own catalog). Harmless, and one line per statement otherwise.
QUIET_STATIC_CONF_WARNING = "ignore::UserWarning:pyspark.sql.connect.conf"


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


def profile_outputs() -> dict:
    return yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["retention"]["outputs"]


def test_the_cluster_target_takes_the_server_url_from_the_environment():
    params = profile_outputs()[TARGET]["server_side_parameters"]
    assert "env_var('RETENTION_SPARK_REMOTE'" in params["spark.remote"]


def test_the_cluster_target_sets_no_static_spark_setting():
    # A Connect client cannot set them: PySpark refuses spark.master next to spark.remote, the
    # server refuses the rest (CANNOT_MODIFY_STATIC_CONFIG). The server must hold them.
    params = profile_outputs()[TARGET]["server_side_parameters"]
    static = {"spark.master", "spark.sql.warehouse.dir", "spark.sql.catalogImplementation",
              "spark.hadoop.javax.jdo.option.ConnectionURL", "spark.ui.enabled"}
    assert not static & params.keys(), f"profiles.yml target {TARGET} sets {sorted(static & params.keys())}"


def test_the_cluster_target_keeps_the_local_targets_time_zone_and_timestamp_type():
    outputs = profile_outputs()
    for setting in ("spark.sql.session.timeZone", "spark.sql.timestampType"):
        local = outputs["spark"]["server_side_parameters"][setting]
        assert outputs[TARGET]["server_side_parameters"].get(setting) == local, \
            f"profiles.yml target {TARGET}: {setting} should be {local!r} as in target spark"


def run_dbt_on_cluster(args: list[str], remote: str, raw_parquet: Path, folder: Path) -> subprocess.CompletedProcess:
    """`dbt <args> --target spark_connect` against `remote`, artifacts and scratch files in `folder`."""
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "RETENTION_SPARK_REMOTE": remote,
        "RETENTION_SPARK_RAW_PARQUET": str(raw_parquet),
        "PYTHONWARNINGS": QUIET_STATIC_CONF_WARNING,
    }
    # PySpark refuses a master next to a remote; the client must not inherit one.
    for name in ("SPARK_REMOTE", "MASTER"):
        env.pop(name, None)
    target = folder / "target"
    cmd = [
        str(DBT), *args, "--target", TARGET,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    # A bounded wait: a Connect client retries for a long time when its server goes away.
    return subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def cluster_build(tmp_path_factory):
    before = repository_files()
    tmp = tmp_path_factory.mktemp("spark_cluster")
    source = SampleShopSource(SampleShopConfig(orders=SAMPLE_ORDERS))
    warehouse = tmp / "warehouse.duckdb"
    con = connect(str(warehouse))
    run_extraction(con, source, ExtractRequest(ENTITY_NAMES, until=source.history_end()), "cluster", log=lambda m: None)
    export_raw_parquet(con, tmp / "raw")
    con.close()

    # Session defaults unlike the target's: the target must set its own (without them, a mart fails to build).
    server_defaults = {"spark.sql.session.timeZone": "America/Los_Angeles", "spark.sql.timestampType": "TIMESTAMP_LTZ"}
    with connect_server(tmp / "server", settings=server_defaults) as server:
        # The JVM starts in the background while DuckDB builds the reference marts.
        run_dbt(["run", "--vars", VARS, "--select", *SELECT], warehouse=warehouse, target_path=tmp / "target_duckdb")
        server.wait_until_ready()
        build = run_dbt_on_cluster(["run", "--vars", VARS, "--select", *SELECT], server.url, tmp / "raw", tmp / "dbt")
        session = run_dbt_on_cluster(["show", "--inline", SESSION_QUERY, "--output", "json", "--log-format", "json"],
                                     server.url, tmp / "raw", tmp / "dbt_show")
    results_file = tmp / "dbt" / "target" / "run_results.json"
    con = duckdb.connect(str(warehouse), read_only=True)
    yield {
        "con": con,
        "build": build,
        "session": session,
        "results": json.loads(results_file.read_text())["results"] if results_file.exists() else [],
        "duckdb_results": json.loads((tmp / "target_duckdb" / "run_results.json").read_text())["results"],
        "server": server,
        "client_folder": tmp / "dbt",
        "new_files": repository_files() - before,
    }
    con.close()


def spark_table(cluster_build, schema: str, table: str) -> str:
    folder = cluster_build["server"].warehouse / f"{schema}.db" / table
    assert folder.is_dir(), f"the server wrote no table {schema}.{table}: expected Parquet files in {folder}"
    return f"read_parquet('{folder}/*.parquet')"


def needs_spark(test):
    """The marks of tests/support/spark_markers.py on one test (the profile checks above need no Spark)."""
    for mark in reversed(NEEDS_SPARK):
        test = mark(test)
    return test


@needs_spark
def test_every_selected_model_builds_through_the_server(cluster_build):
    build, results = cluster_build["build"], cluster_build["results"]
    assert results, f"dbt run --target {TARGET} wrote no run_results.json:\n{build.stdout[-4000:]}\n{build.stderr[-2000:]}"
    failed = sorted(f"{r['unique_id']}: {r['status']}" for r in results if r["status"] not in ("success", "pass"))
    assert not failed, "through the Connect server, not every node succeeded:\n" + "\n".join(failed)
    built = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert set(REQUIRED_MARTS) <= built, f"required marts not built: {sorted(set(REQUIRED_MARTS) - built)}"
    # (a Python model is disabled on Spark: the pipeline's Spark engine fits it between its two builds)
    not_on_spark = set(marts_not_built_on("spark")) | {m.name for m in marts().values() if m.language == "python"}
    on_duckdb = {r["unique_id"].split(".")[-1] for r in cluster_build["duckdb_results"]
                 if r["unique_id"].startswith("model.")} - not_on_spark
    assert on_duckdb <= built, f"built on DuckDB, not through the server: {sorted(on_duckdb - built)}"
    assert build.returncode == 0, build.stdout[-4000:]


def shown_rows(result: subprocess.CompletedProcess) -> list[dict]:
    """The rows of `dbt show --output json --log-format json` (one JSON log line carries the preview)."""
    for line in result.stdout.splitlines():
        try:
            data = json.loads(line).get("data", {})
        except json.JSONDecodeError:
            continue
        if "preview" in data:
            return json.loads(data["preview"])
    raise AssertionError(f"dbt show printed no preview:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")


@needs_spark
def test_the_targets_session_settings_override_the_servers_defaults(cluster_build):
    assert shown_rows(cluster_build["session"]) == [{"time_zone": "UTC", "timestamp_type": "timestamp_ntz"}]


@needs_spark
def test_the_tables_live_in_the_servers_warehouse_not_the_clients(cluster_build):
    server_tables = {p.name for p in (cluster_build["server"].warehouse / "marts.db").iterdir()}
    assert set(REQUIRED_MARTS) <= server_tables, sorted(server_tables)
    client_folder = cluster_build["client_folder"]
    leftovers = sorted(p.name for p in client_folder.iterdir() if p.name != "target")
    assert not leftovers, f"the dbt client wrote Spark files in its own folder {client_folder}: {leftovers}"


@needs_spark
@pytest.mark.parametrize("mart", sorted(REQUIRED_MARTS))
def test_the_mart_built_through_the_server_equals_duckdb(cluster_build, mart):
    problems = built_mart_differences(cluster_build["con"], mart, spark_table(cluster_build, "marts", mart), "the Connect server")
    assert not problems, "\n".join(problems)


@needs_spark
def test_the_server_is_stopped_and_the_repository_left_clean(cluster_build):
    process = cluster_build["server"].process
    assert process.poll() is not None, f"the Connect server (pid {process.pid}) still runs after the build"
    assert not cluster_build["new_files"], f"new files under {PROJECT_ROOT}: {sorted(cluster_build['new_files'])[:20]}"
