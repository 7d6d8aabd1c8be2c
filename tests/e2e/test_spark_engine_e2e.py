"""`RETENTION_ENGINE=spark`: the whole Dagster job with its dbt step on local Spark, and the project's tests on Spark.

One small sample shop (New York time, so the time-zone macros are
exercised) runs through the real job twice, in two data folders: once on
DuckDB, once with the `warehouse` resource's engine set to `spark`
(extraction and the quality gates in DuckDB, staging/intermediate/marts on
Spark `local[2]` in two builds around the predictions fit, copied back, then
publish, exports and report). The Spark run must succeed with every model
and data test of its builds passing, export every mart, export the required
marts, the predictions and the KPIs equal to the DuckDB run's (column
types, keys and every cell), and leave nothing in the repository tree.
The project's dbt unit tests then run on Spark over the tables that run
left. This is the suite's one local Spark build: the `spark_connect` target
is built through a server in tests/integration/spark/test_spark_cluster_profile.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.marts import marts_not_built_on
from assets.settings import PROJECT_ROOT
from tests.integration.dbt.conftest import DBT, DBT_PROJECT_DIR
from tests.support.repository import repository_files
from tests.support.spark_compare import REQUIRED_MARTS, table_differences
from tests.support.spark_markers import NEEDS_SPARK

pytestmark = NEEDS_SPARK

SAMPLE_ORDERS = 2_500
SAMPLE_END_DATE = "2025-06-30"


def run_pipeline(data: Path, engine: str, with_checks: bool):
    """The real assets (and, if asked, the quality checks) as one job over the sample shop, run in process.

    Without the `dbt_docs` step (tests/support/serving.py): the page is built
    from the DuckDB build file whatever the engine.
    """
    import dagster as dg

    from assets.dbt import dbt_resource, retention_dbt_assets
    from orchestration.extraction import extract_shop  # quiet nights judge freshness
    from assets.quality import quality_checks_for
    from assets.resources import ShopSourceResource, WarehouseResource
    from assets.serving import mart_asset_keys
    from orchestration.jobs import make_pipeline_job
    from tests.support.serving import serving_assets_without_docs

    name = f"engine_{engine}"
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("RETENTION_")]:
            mp.delenv(var)
        mp.setenv("RETENTION_DATA_DIR", str(data))
        mp.setenv("RETENTION_BUILD_DB", str(data / "build" / "warehouse.duckdb"))
        assets: list = [extract_shop, retention_dbt_assets]
        checks = quality_checks_for(assets) if with_checks else []
        serving = serving_assets_without_docs(mart_asset_keys(assets, engine))
        defs = dg.Definitions(
            assets=[*assets, *serving],
            asset_checks=checks,
            jobs=[make_pipeline_job(name, f"{engine} engine")],
            resources={
                "warehouse": WarehouseResource(data_dir=str(data), engine=engine),
                "shop_source": ShopSourceResource(sample_orders=SAMPLE_ORDERS, sample_end_date=SAMPLE_END_DATE),
                "dbt": dbt_resource(),
            },
            executor=dg.in_process_executor,
        )
        expected_checks = {spec.key for c in checks for spec in c.check_specs}
        return defs.resolve_job_def(name).execute_in_process(raise_on_error=False), expected_checks


def step_failures(result) -> list[str]:
    return [f"{e.step_key}: {e.message}" for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    before = repository_files()
    tmp = tmp_path_factory.mktemp("spark_engine")
    duck, _ = run_pipeline(tmp / "duckdb", "duckdb", with_checks=False)
    spark, quality_checks = run_pipeline(tmp / "spark", "spark", with_checks=True)
    unit_tests = run_unit_tests_on_spark(tmp / "spark" / "spark", tmp / "spark_unit_tests")
    return {
        "duckdb": (duck, tmp / "duckdb"),
        "spark": (spark, tmp / "spark"),
        "quality_checks": quality_checks,
        "unit_tests": (unit_tests, dbt_results(tmp / "spark_unit_tests" / "target")),
        "new_files": repository_files() - before,
    }


# The vars the project's unit tests ran with on Spark before they moved here (the sample shop's zone).
UNIT_TEST_VARS = '{"shop_timezone": "America/New_York"}'


def run_unit_tests_on_spark(spark_dir: Path, folder: Path) -> subprocess.CompletedProcess:
    """`dbt test --select test_type:unit --target spark` over the Spark tables and metastore in `spark_dir`.

    The unit tests read their inputs' column types from those tables, which
    the pipeline's Spark builds left. Spark and Derby write scratch files in
    the working directory: `folder` (artefacts and logs go there too).
    """
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "RETENTION_SPARK_DIR": str(spark_dir),
        "RETENTION_SPARK_RAW_PARQUET": str(spark_dir / "raw"),
        "RETENTION_SPARK_MASTER": "local[2]",
    }
    cmd = [
        str(DBT), "test", "--select", "test_type:unit", "--vars", UNIT_TEST_VARS, "--target", "spark",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(folder / "target"), "--log-path", str(folder / "logs"),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=1500)


def dbt_results(target: Path) -> list[dict]:
    """The results of the dbt invocation whose artefacts are in `target` (none without run_results.json)."""
    path = target / "run_results.json"
    return json.loads(path.read_text())["results"] if path.exists() else []


def not_passed(results: list[dict]) -> list[str]:
    """`unique_id: status` of every node that did not succeed or pass (exposures build nothing: no-op)."""
    return sorted(f"{r['unique_id']}: {r['status']}" for r in results if r["status"] not in ("success", "pass")
                  and not (r["unique_id"].startswith("exposure.") and r["status"] == "no-op"))


def exported(data: Path, mart: str) -> str:
    folder = data / "exports" / mart
    assert folder.is_dir(), f"no export of {mart}: expected Parquet files under {folder}"
    return f"read_parquet('{folder}/**/*.parquet')"


def published_marts(data: Path) -> set[str]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}
    finally:
        con.close()


def test_the_spark_run_succeeds_with_its_quality_gates(both_runs):
    for engine in ("duckdb", "spark"):
        result, _ = both_runs[engine]
        assert result.success, f"{engine} run failed: {step_failures(result)}"
    result, _ = both_runs["spark"]
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    evaluated = {dg.AssetCheckKey(c.asset_key, c.check_name) for c in checks}
    expected = both_runs["quality_checks"]
    assert expected, "no quality checks were defined for the Spark run"
    assert expected <= evaluated, f"quality checks not evaluated on Spark: {sorted(map(str, expected - evaluated))[:10]}"
    failed = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in checks if not c.passed and c.severity.value == "ERROR"]
    assert not failed, f"blocking checks failed on the Spark-built tables: {failed}"


def test_the_sample_shop_has_orders_customers_and_tickets(both_runs):
    con = duckdb.connect(str(both_runs["spark"][1] / "build" / "warehouse.duckdb"), read_only=True)
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM raw.{t}").fetchone()[0]
                  for t in ("orders", "customers", "support_tickets")}
    finally:
        con.close()
    assert counts["orders"] >= 2_000 and counts["customers"] > 0 and counts["support_tickets"] > 0, counts


def test_every_model_and_data_test_of_both_spark_builds_passes(both_runs):
    _, data = both_runs["spark"]
    targets = sorted(p.parent for p in (data / "dbt" / "runs").glob("*/*/run_results.json"))
    # The two Spark builds, and the predictions' dbt tests run on the DuckDB target after the copy-back.
    builds = [t for t in targets if not t.name.endswith("-predictions-tests")]
    assert len(builds) == 2 and len(targets) == 3, (
        f"expected two Spark builds and the predictions' tests under {data / 'dbt' / 'runs'}: {targets}")
    results = [r for target in targets for r in dbt_results(target)]
    # Warning-level tests too: on the sample shop every one of them passes on DuckDB.
    failed = not_passed(results)
    assert not failed, "on Spark, not every node succeeded:\n" + "\n".join(failed)
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test"} <= kinds, kinds
    built = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert set(REQUIRED_MARTS) <= built, f"required marts not built on Spark: {sorted(set(REQUIRED_MARTS) - built)}"


def test_every_dbt_unit_test_passes_on_spark(both_runs):
    run, results = both_runs["unit_tests"]
    assert results, f"dbt unit tests on Spark wrote no run_results.json:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    # The on-run-start hooks (raw registered over Parquet) report as operations.
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert "unit_test" in kinds and kinds <= {"unit_test", "operation"}, kinds
    failed = not_passed(results)
    assert not failed, "on Spark, not every unit test passed:\n" + "\n".join(failed)
    assert run.returncode == 0, run.stdout[-4000:]


def test_spark_marts_have_the_contract_types_of_duckdb(both_runs):
    """Spark's own files (before the copy back into DuckDB), typed as the DuckDB run's marts."""
    spark_tables = both_runs["spark"][1] / "spark" / "warehouse" / "marts.db"
    con = duckdb.connect(str(both_runs["duckdb"][1] / "build" / "warehouse.duckdb"), read_only=True)
    mismatched = {}
    try:
        for mart in REQUIRED_MARTS:
            folder = spark_tables / mart
            assert folder.is_dir(), f"Spark wrote no table marts.{mart}: expected Parquet files in {folder}"
            duck = dict(row[:2] for row in con.execute(f"DESCRIBE marts.{mart}").fetchall())
            spark = dict(row[:2] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{folder}/*.parquet')").fetchall())
            if duck != spark:
                mismatched[mart] = {c: (duck.get(c), spark.get(c)) for c in duck.keys() | spark.keys()
                                    if duck.get(c) != spark.get(c)}
    finally:
        con.close()
    assert not mismatched, f"column types (DuckDB, Spark) differ: {mismatched}"


def test_every_mart_of_the_spark_run_is_exported_as_parquet(both_runs):
    _, data = both_runs["spark"]
    marts = published_marts(data)
    assert set(REQUIRED_MARTS) <= marts, f"published marts {sorted(marts)} lack {sorted(set(REQUIRED_MARTS) - marts)}"
    duckdb_only = set(marts_not_built_on("spark"))
    assert marts == published_marts(both_runs["duckdb"][1]) - duckdb_only, "the two engines published different sets of marts"
    folders = {p.name for p in (data / "exports").iterdir() if p.is_dir() and list(p.rglob("*.parquet"))}
    assert marts <= folders, f"{data / 'exports'}: no Parquet export for {sorted(marts - folders)}"


# Beside the required marts: the predictions (fitted between the two Spark
# builds) and the KPIs, which read them.
COMPARED_MARTS = {**REQUIRED_MARTS, "mart_customer_predictions": ("customer_id",), "mart_kpis": ("as_of_date",)}


@pytest.mark.parametrize("mart", sorted(COMPARED_MARTS))
def test_spark_exports_equal_the_duckdb_exports(both_runs, mart):
    con = duckdb.connect()
    try:
        sides = {}
        for engine in ("duckdb", "spark"):
            cur = con.execute(f"SELECT * FROM {exported(both_runs[engine][1], mart)}")
            sides[engine] = ([(d[0], str(d[1])) for d in cur.description], cur.fetchall())
    finally:
        con.close()
    (duck_columns, duck_rows), (spark_columns, spark_rows) = sides["duckdb"], sides["spark"]
    assert spark_columns == duck_columns, f"{mart}: Spark export columns {spark_columns} != DuckDB's {duck_columns}"
    assert duck_rows, f"{mart} is empty in the DuckDB export: the sample shop should fill it"
    names = [name for name, _ in duck_columns]
    differences = table_differences(names, COMPARED_MARTS[mart], duck_rows, spark_rows)
    assert not differences, f"{mart}: DuckDB (left) and Spark (right) exports differ:\n" + "\n".join(differences)


def test_the_spark_run_fits_the_predictions_and_reports_them(both_runs):
    result, data = both_runs["spark"]
    con = duckdb.connect()
    try:
        scored = con.execute(
            f"SELECT count(p_alive) FROM {exported(data, 'mart_customer_churn')}"
        ).fetchone()[0]
    finally:
        con.close()
    assert scored > 0, "mart_customer_churn.p_alive is null for every customer on Spark: the fit did not reach it"
    materialized = [e.event_specific_data.materialization for e in result.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION"
                    and e.asset_key == dg.AssetKey(["marts", "mart_customer_predictions"])]
    assert materialized, "the Spark run reported no materialization of the predictions"
    metadata = materialized[-1].metadata
    assert metadata["engine"].value == "spark" and metadata["bgnbd_fitted"].value is True
    assert metadata["dagster/row_count"].value == metadata["customers"].value > 0
    html = (data / "report" / "index.html").read_text()
    assert "Predicted churn risk" in html
    assert "Not available: mart <code>mart_customer_predictions</code>" not in html


def test_the_predictions_dbt_tests_gate_the_spark_run_too(both_runs):
    result, _ = both_runs["spark"]
    evaluated = {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION"
                 and e.event_specific_data.asset_key == dg.AssetKey(["marts", "mart_customer_predictions"])}
    assert "predictions_fitted" in evaluated, f"predictions checks evaluated on Spark: {sorted(evaluated)}"
    for kind in ("unique_", "not_null_", "values_"):  # short check names (assets/dbt/project.py short_check_name)
        assert any(name.startswith(kind) for name in evaluated), f"no {kind}* check on the predictions: {sorted(evaluated)}"
    failed = [name for name, check in evaluated.items() if not check.passed]
    assert not failed, f"predictions checks failed on Spark: {failed}"
    warned = [e.message for e in result.all_events if "emitted no result" in (e.message or "")
              and "mart_customer_predictions" in (e.message or "")]
    assert not warned, warned[:3]


def test_the_spark_run_leaves_nothing_in_the_repository(both_runs):
    assert not both_runs["new_files"], f"new files under {PROJECT_ROOT}: {sorted(both_runs['new_files'])[:20]}"
