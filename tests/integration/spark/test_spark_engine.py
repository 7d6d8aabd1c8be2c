"""The pieces of `RETENTION_ENGINE=spark`: the setting, and the pure functions of the dbt step on Spark."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.dbt import PREDICTIONS_KEY, built_tables, dbt_build_args
from assets.dbt.cli import dbt_test_args
from assets.dbt.console import SparkProgressFilter, is_spark_chatter_line
from assets.dbt.engines.spark import (
    SparkPaths,
    copy_back_sql,
    raw_export_sql,
    spark_dbt_env,
    spark_launcher_script,
    spark_unavailable,
)
from assets.dbt.engines.spark_plan import downstream_of, spark_plan
from assets.settings import ENGINES, ENV_VARS, PROJECT_ROOT, Settings, SettingsError


def _clean(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_the_engine_defaults_to_duckdb(monkeypatch):
    _clean(monkeypatch)
    assert Settings.from_env().engine == "duckdb" == ENV_VARS["RETENTION_ENGINE"][0]


def test_an_unknown_engine_is_named_with_the_choices_in_one_line(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("RETENTION_ENGINE", "flink")
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    message = str(err.value)
    assert "\n" not in message
    assert "RETENTION_ENGINE='flink'" in message and f"expected one of {', '.join(ENGINES)}" in message


def test_the_engine_reaches_the_assets_through_the_warehouse_resource(monkeypatch, tmp_path):
    from assets.resources import resources_from_settings

    _clean(monkeypatch)
    monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_ENGINE", "spark")
    assert resources_from_settings(Settings.from_env())["warehouse"].engine == "spark"


def test_the_spark_build_targets_spark_and_keeps_the_other_arguments():
    vars_ = {"shop_timezone": "UTC"}
    duck = dbt_build_args(vars_, full_refresh=True)
    spark = dbt_build_args(vars_, full_refresh=True, target="spark")
    assert "--target" not in duck
    assert spark[: len(duck)] == duck and spark[len(duck):] == ["--target", "spark"]


def test_spark_files_live_under_the_data_folder_as_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = SparkPaths.under("data")
    env = spark_dbt_env(paths)
    assert env == {
        "RETENTION_SPARK_DIR": str(tmp_path / "data" / "spark"),
        "RETENTION_SPARK_RAW_PARQUET": str(tmp_path / "data" / "spark" / "raw"),
    }
    assert all(Path(v).is_absolute() for v in env.values())
    assert paths.work.parent == paths.root and paths.warehouse == paths.root / "warehouse"
    # Only the build after the fit registers the predictions.
    second = spark_dbt_env(paths, with_predictions=True)
    assert second == {**env, "RETENTION_SPARK_PREDICTIONS_PARQUET": str(paths.predictions)}
    assert paths.predictions.is_relative_to(paths.root) and not paths.predictions.is_relative_to(paths.warehouse)


def test_the_launcher_runs_dbt_in_the_scratch_folder_with_the_spark_variables(tmp_path):
    work = tmp_path / "work dir"
    work.mkdir()
    fake_dbt = tmp_path / "fake dbt"
    fake_dbt.write_text('#!/bin/sh\npwd\necho "$RETENTION_SPARK_DIR"\necho "$@"\n')
    fake_dbt.chmod(0o755)
    script = tmp_path / "launcher.sh"
    script.write_text(spark_launcher_script(str(fake_dbt), work, {"RETENTION_SPARK_DIR": "/x/it's here"}))
    script.chmod(0o755)
    out = subprocess.run([str(script), "build", "--target", "spark"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(work), "/x/it's here", "build --target spark"]


def test_raw_export_and_copy_back_round_trip_through_spark_layout(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.orders AS SELECT range AS id, 'o' || range AS name FROM range(3)")
    con.execute("CREATE TABLE raw.quarantine AS SELECT 'bad' AS reason")
    (tmp_path / "raw" / "orders").mkdir(parents=True)
    (tmp_path / "raw" / "quarantine").mkdir(parents=True)
    for sql in raw_export_sql(["orders", "quarantine"], tmp_path / "raw"):
        con.execute(sql)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["orders", "quarantine"]

    # Spark's layout: <warehouse>/<schema>.db/<table>/part-*.parquet plus a _SUCCESS marker.
    table_dir = tmp_path / "warehouse" / "marts.db" / "mart_x"
    table_dir.mkdir(parents=True)
    (table_dir / "_SUCCESS").touch()
    for part in (0, 1):
        con.execute(f"COPY (SELECT * FROM raw.orders WHERE id % 2 = {part}) TO '{table_dir}/part-{part}.parquet' (FORMAT parquet)")
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.mart_x AS SELECT 42 AS stale")
    paths = SparkPaths(tmp_path)
    assert paths.table_files("marts", "mart_x") == table_dir / "*.parquet"
    for sql in copy_back_sql([("marts", "mart_x", paths.table_files("marts", "mart_x"))]):
        con.execute(sql)
    assert con.execute("SELECT id, name FROM marts.mart_x ORDER BY id").fetchall() == [(0, "o0"), (1, "o1"), (2, "o2")]


def test_copy_back_creates_each_schema_once_before_its_tables(tmp_path):
    sql = copy_back_sql([(schema, table, tmp_path / f"{schema}.db" / table / "*.parquet")
                         for schema, table in [("staging", "a"), ("marts", "b"), ("marts", "c")]])
    assert [s for s in sql if s.startswith("CREATE SCHEMA")] == [
        'CREATE SCHEMA IF NOT EXISTS "staging"', 'CREATE SCHEMA IF NOT EXISTS "marts"'
    ]
    assert len(sql) == 5 and all(s.startswith("CREATE SCHEMA") for s in sql[:2])
    assert f"'{tmp_path}/marts.db/c/*.parquet'" in sql[-1]


def test_a_quote_in_a_path_cannot_break_the_sql(tmp_path):
    folder = tmp_path / "o'brien"
    (folder / "t").mkdir(parents=True)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.t AS SELECT 1 AS x")
    for sql in raw_export_sql(["t"], folder):
        con.execute(sql)
    assert con.execute(f"SELECT x FROM read_parquet('{str(folder).replace(chr(39), chr(39) * 2)}/t/*.parquet')").fetchall() == [(1,)]


def test_built_tables_are_the_successful_model_outputs_in_build_order():
    keys = {
        "stg": dg.AssetKey(["staging", "stg_a"]),
        "mart": dg.AssetKey(["marts", "mart_b"]),
        "failed": dg.AssetKey(["marts", "mart_c"]),
        "other": dg.AssetKey(["raw", "orders"]),
    }
    events = [
        dg.Output(None, output_name="mart", metadata={"status": "success"}),
        dg.AssetCheckResult(passed=True, asset_key=keys["mart"], check_name="c"),
        dg.Output(None, output_name="failed", metadata={"status": "error"}),
        dg.Output(None, output_name="stg", metadata={"status": "success"}),
        dg.Output(None, output_name="other", metadata={"status": "success"}),
    ]
    assert built_tables(events, keys.__getitem__) == [("marts", "mart_b"), ("staging", "stg_a")]


def _graph():
    key = {name: dg.AssetKey(["marts", name]) for name in ("orders", "summary", "churn", "kpis", "segments",
                                                            "segment_summary", "clv")}
    key["predictions"] = PREDICTIONS_KEY
    deps = {
        key["orders"]: set(),
        key["summary"]: {key["orders"]},
        PREDICTIONS_KEY: {key["orders"]},
        key["churn"]: {key["summary"], PREDICTIONS_KEY},
        key["kpis"]: {key["churn"], PREDICTIONS_KEY, key["orders"]},
        key["segments"]: {key["summary"]},
        key["segment_summary"]: {key["segments"]},
        key["clv"]: {key["orders"]},
    }
    return key, deps


def test_downstream_follows_every_path_not_only_direct_children():
    key, deps = _graph()
    assert downstream_of(deps, [PREDICTIONS_KEY]) == {key["churn"], key["kpis"]}
    assert downstream_of(deps, [key["segments"]]) == {key["segment_summary"]}
    assert downstream_of(deps, []) == set()


def test_the_spark_plan_builds_what_reads_the_predictions_after_the_fit():
    key, deps = _graph()
    plan = spark_plan(deps.keys(), deps)
    assert plan.fit
    assert plan.second == ("churn", "kpis")
    assert plan.first == ("clv", "orders", "segment_summary", "segments", "summary")
    assert "mart_customer_predictions" not in plan.first + plan.second


def test_a_model_a_test_ties_to_a_predicted_mart_moves_with_its_downstream_to_the_second_build():
    key, deps = _graph()
    # A relationships test on segments that reads churn can run only once churn exists.
    plan = spark_plan(deps.keys(), deps, test_links=[{key["segments"], key["churn"]}, {key["clv"]}])
    assert plan.second == ("churn", "kpis", "segment_summary", "segments")
    assert plan.first == ("clv", "orders", "summary")


def test_the_fits_inputs_and_their_upstream_stay_before_the_fit_and_a_test_across_the_builds_is_named():
    fit_input = dg.AssetKey(["intermediate", "int_customer_orders"])
    staged, mart, after = (dg.AssetKey(["marts", n]) for n in ("staged", "mart", "after"))
    deps = {staged: set(), fit_input: {staged}, PREDICTIONS_KEY: {fit_input}, after: {PREDICTIONS_KEY},
            mart: {staged}}
    # A test ties `mart` to a predicted mart, and `mart` to `staged` (a reconciliation): `staged` feeds the fit.
    plan = spark_plan(deps.keys(), deps, test_links=[{mart, after}, {mart, staged}])
    assert plan.first == ("int_customer_orders", "staged")
    assert plan.second == ("after", "mart")
    assert plan.unplanned_checks == (("mart", "staged"),)


def test_the_spark_plan_keeps_to_the_run_selection():
    key, deps = _graph()
    plan = spark_plan({key["clv"], key["orders"]}, deps)
    assert plan == type(plan)(first=("clv", "orders"), fit=False, second=())
    only_after = spark_plan({key["kpis"]}, deps)
    assert only_after.first == () and not only_after.fit and only_after.second == ("kpis",)


def test_the_fit_reads_spark_files_with_the_python_models_columns_and_order(tmp_path):
    from models.predictions import fit_transactions

    con = duckdb.connect()
    orders = tmp_path / "orders"
    orders.mkdir()
    con.execute(f"""COPY (SELECT * FROM (VALUES ('b', DATE '2025-01-02', 10.25::DECIMAL(30,2)),
                                                ('a', DATE '2025-01-03', 5.10::DECIMAL(30,2)),
                                                ('a', DATE '2025-01-01', 7.00::DECIMAL(30,2)))
                        t(customer_id, order_date, net_revenue)) TO '{orders}/part-0.parquet' (FORMAT parquet)""")
    # The same function the dbt Python model calls on its ref (a DuckDB relation too).
    frame = fit_transactions(con.read_parquet(str(orders / "*.parquet")))
    assert frame.columns == ["customer_id", "order_date", "amount"]
    assert frame.rows() == [("a", date(2025, 1, 1), 7.0), ("a", date(2025, 1, 3), 5.1), ("b", date(2025, 1, 2), 10.25)]
    assert str(frame.schema["amount"]) == "Float64"


def failed_dbt_step(tmp_path, monkeypatch, engine: str) -> str:
    """Run the dbt step alone for one model on `engine`; it must fail: the messages of its error chain."""
    from assets.dbt import dbt_resource, retention_dbt_assets
    from assets.resources import ShopSourceResource, WarehouseResource

    monkeypatch.setenv("RETENTION_BUILD_DB", str(tmp_path / "build" / "warehouse.duckdb"))
    result = dg.materialize(
        [retention_dbt_assets],
        resources={
            "dbt": dbt_resource(),
            # (the step runs alone: no extraction recorded the shop's zone in raw._shop_profile)
            "shop_source": ShopSourceResource(timezone="UTC"),
            "warehouse": WarehouseResource(data_dir=str(tmp_path), engine=engine),
        },
        selection=dg.AssetSelection.assets(["intermediate", "int_as_of_date"]),
        raise_on_error=False,
    )
    assert not result.success, f"the dbt step on {engine!r} succeeded; expected it to fail"
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error, messages = failures[0].event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return " ".join(messages)


def test_the_dbt_step_refuses_an_unknown_engine_before_running_dbt(tmp_path, monkeypatch):
    message = failed_dbt_step(tmp_path, monkeypatch, "flink")
    assert "warehouse.engine='flink': expected one of duckdb, spark (RETENTION_ENGINE)" in message
    assert not (tmp_path / "dbt" / "runs").exists() or not list((tmp_path / "dbt" / "runs").rglob("run_results.json"))


@pytest.mark.parametrize(
    "line, chatter",
    [
        ("26/11/29 09:45:53 WARN SparkSession: Using an existing Spark session; only runtime SQL configurations will take effect.", True),
        ("26/11/29 09:44:47 WARN NativeCodeLoader: Unable to load native-hadoop library for your platform", True),
        ('Setting default log level to "WARN".', True),
        ('Setting Spark log level to "ERROR".', True),
        ("Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties", True),
        ("WARNING: Using incubator modules: jdk.incubator.vector", True),
        ("To adjust logging level use sc.setLogLevel(newLevel). For SparkR, use setLogLevel(newLevel).", True),
        ("/x/pyspark/testing/utils.py:127: FutureWarning: PySpark does not yet fully support pandas >= 3.0.0.", True),
        ("  require_minimum_pandas_version()", True),
        ("26/11/29 09:45:53 ERROR Executor: Exception in task 0.0 in stage 1.0", False),
        ("Failure in model mart_kpis (models/marts/mart_kpis.sql)", False),
        ("Done. PASS=180 WARN=2 ERROR=0 SKIP=0 NO-OP=1 TOTAL=183", False),
    ],
)
def test_spark_chatter_is_told_from_errors_and_dbt_outcome(line, chatter):
    assert is_spark_chatter_line(line) is chatter


def test_the_spark_console_filter_keeps_errors_and_drops_chatter_and_progress():
    import io

    out = io.StringIO()
    stream = SparkProgressFilter(out)
    stream.write("26/11/29 09:45:53 WARN SparkSession: Using an existing Spark session\n12 of 191 START sql table model")
    stream.write(" marts.mart_kpis\n26/11/29 09:45:53 ERROR Executor: boom\nDone. PASS=1\n")
    stream.flush()
    assert out.getvalue() == "26/11/29 09:45:53 ERROR Executor: boom\nDone. PASS=1\n"


def test_a_machine_without_java_or_the_spark_extra_is_told_what_to_install_in_one_line():
    assert spark_unavailable("/usr/bin/java", None, has_adapter=True) is None
    assert spark_unavailable(None, "/opt/jdk-17", has_adapter=True) is None
    no_java = spark_unavailable(None, None, has_adapter=True)
    assert "Java runtime" in no_java and "JAVA_HOME" in no_java and "\n" not in no_java
    no_extra = spark_unavailable("/usr/bin/java", None, has_adapter=False)
    assert "'.[spark]'" in no_extra and "\n" not in no_extra


def test_the_spark_step_without_java_fails_before_exporting_anything(tmp_path, monkeypatch):
    import assets.dbt.engines.spark as spark_engine

    monkeypatch.delenv("JAVA_HOME", raising=False)
    which = spark_engine.shutil.which
    monkeypatch.setattr(spark_engine.shutil, "which", lambda name, *a, **k: None if name == "java" else which(name, *a, **k))
    assert "needs a Java runtime" in failed_dbt_step(tmp_path, monkeypatch, "spark")
    assert not (tmp_path / "spark").exists(), "the step exported raw before finding it cannot run"


def test_the_predictions_tests_run_through_dbt_on_the_default_target_without_the_other_models():
    args = dbt_test_args({"shop_timezone": "UTC"}, excluded={"mart_kpis", "int_orders"})
    assert args[0] == "test" and "--target" not in args
    assert args[args.index("--exclude") + 1] == "int_orders mart_kpis"
    assert args[args.index("--vars") + 1] == '{"shop_timezone": "UTC"}'
    assert "--exclude" not in dbt_test_args({}, excluded=[])


@pytest.fixture(scope="module")
def cdnow_orders():
    """CDNOW's orders (tests/fixtures/cdnow) as int_customer_orders' three columns."""
    import polars as pl

    rows = [line.split() for line in (PROJECT_ROOT / "tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt").read_text().splitlines()]
    return pl.DataFrame({
        "customer_id": [r[1] for r in rows],
        "order_date": [date(int(r[2][:4]), int(r[2][4:6]), int(r[2][6:])) for r in rows],
        "amount": [float(r[4]) for r in rows],
    })


def _write_fit_inputs(paths: SparkPaths, orders, as_of: date) -> None:
    import polars as pl

    for schema, table in (("intermediate", "int_customer_orders"), ("intermediate", "int_as_of_date")):
        paths.table_files(schema, table).parent.mkdir(parents=True, exist_ok=True)
    orders.rename({"amount": "net_revenue"}).write_parquet(
        paths.table_files("intermediate", "int_customer_orders").parent / "part-0.parquet")
    pl.DataFrame({"as_of_date": [as_of]}).write_parquet(
        paths.table_files("intermediate", "int_as_of_date").parent / "part-0.parquet")


def test_the_spark_step_refits_when_due_and_scores_otherwise(tmp_path, cdnow_orders):
    """The same decision as the DuckDB model: the first night fits and stores, the next one scores."""
    from datetime import timedelta

    from assets.dbt.engines.spark import copy_back_from_spark, fit_predictions
    from assets.resources import WarehouseResource
    from models.predictions import FIT_METADATA_TABLE

    warehouse = WarehouseResource(data_dir=str(tmp_path / "data"))
    paths = SparkPaths.under(warehouse.root)
    warehouse.build_db.parent.mkdir(parents=True)
    warehouse.connect().close()  # extraction has written the build file before the dbt step
    end = cdnow_orders["order_date"].max()
    metas = []
    for as_of in (end - timedelta(days=2), end):
        _write_fit_inputs(paths, cdnow_orders.filter(cdnow_orders["order_date"] <= as_of), as_of)
        night = fit_predictions(paths, {}, warehouse)
        copy_back_from_spark(warehouse, paths, [], night)
        con = warehouse.connect(read_only=True)
        stored = json.loads(con.execute(f"SELECT metadata FROM {'.'.join(FIT_METADATA_TABLE)}").fetchone()[0])
        fits = con.execute("SELECT count(*) FROM model_state.prediction_fits").fetchone()[0]
        scored = con.execute("SELECT count(*) FROM marts.mart_customer_predictions").fetchone()[0]
        con.close()
        metas.append((night.run.meta["refit"], night.fit_record is not None, stored["fit_id"], fits, scored > 0))
    assert metas == [(True, True, 1, 1, True), (False, False, 1, 1, True)]
