"""Jobs: in-process, retry on extraction, and a nightly tick extracts only the new day."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from dagster._core.definitions.dependency import NodeHandle

from assets.extraction import assets as extraction_assets
from assets.extraction.assets import EXTRACTION_RETRY_POLICY, build_extract_asset, extract_shop
from assets.extraction.builders import build_source
from assets.serving import build_serving_assets
from orchestration.jobs import extract_run_config, make_pipeline_job
from assets.resources import ShopSourceResource, WarehouseResource
from orchestration.schedules import nightly_run_config

NY = "America/New_York"


def test_real_definitions_jobs_executor_and_retries():
    from orchestration.definitions import defs

    for name in ("nightly_job", "backfill_job"):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "in_process"
        policies = {n: job.get_retry_policy_for_handle(NodeHandle(n, None)) for n in job.graph.node_names()}
        assert policies["extract_shop"] == EXTRACTION_RETRY_POLICY
        for serving in ("published_warehouse", "parquet_exports", "retention_report"):
            assert policies[serving].max_retries == 0
    repo = defs.get_repository_def()
    assert "nightly_schedule" in {s.name for s in repo.schedule_defs}
    assert "run_failure_alert" in {s.name for s in repo.sensor_defs}


def flaky_build(fail_times: int):
    """A source builder whose first `fail_times` calls fail, like a shop API timing out."""

    def build(shop_source):
        build.calls += 1
        if build.calls <= fail_times:
            raise ConnectionError(f"shop API timed out (attempt {build.calls})")
        return build_source(shop_source)

    build.calls = 0
    return build


@pytest.mark.parametrize("fail_times,success", [(2, True), (3, False)])
def test_extraction_is_retried(tmp_path, monkeypatch, fail_times, success):
    flaky = flaky_build(fail_times)
    monkeypatch.setattr(extraction_assets, "build_source", flaky)
    fast_policy = EXTRACTION_RETRY_POLICY._replace(delay=0, jitter=None)  # same retries, no waiting in tests
    flaky_extract = build_extract_asset(retry_policy=fast_policy)
    job = make_pipeline_job("retry_probe", "test", selection=dg.AssetSelection.assets(flaky_extract))
    defs = dg.Definitions(
        assets=[flaky_extract],
        jobs=[job],
        resources={
            "warehouse": WarehouseResource(data_dir=str(tmp_path)),
            "shop_source": ShopSourceResource(sample_orders=300, sample_end_date="2025-03-31"),
        },
    )
    result = defs.resolve_job_def("retry_probe").execute_in_process(
        raise_on_error=False, run_config=extract_run_config(until="2025-03-31")
    )
    assert result.success is success
    assert flaky.calls == 3  # 1 try + max_retries=2
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert len(restarts) == 2


def test_nightly_tick_extracts_only_the_new_day(tmp_path):
    """After a run up to 10 March, the 12 March 02:00 tick reads rows updated on 11 March only."""
    resources = {
        "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        "shop_source": ShopSourceResource(sample_orders=3_000, sample_end_date="2025-03-31", timezone=NY),
    }
    job = make_pipeline_job("nightly_probe", "test", selection=dg.AssetSelection.assets(extract_shop))
    defs = dg.Definitions(assets=[extract_shop], jobs=[job], resources=resources)
    first = nightly_run_config(datetime(2025, 3, 11, 2, 0, tzinfo=ZoneInfo(NY)), NY)
    assert defs.resolve_job_def("nightly_probe").execute_in_process(run_config=first).success
    con = duckdb.connect(str(tmp_path / "build" / "warehouse.duckdb"), read_only=True)
    before = con.execute("SELECT count(*), max(updated_at) FROM raw.orders").fetchone()
    con.close()
    assert before[1] <= datetime(2025, 3, 11, 3, 59, 59, 999999)

    second = nightly_run_config(datetime(2025, 3, 12, 2, 0, tzinfo=ZoneInfo(NY)), NY)
    result = defs.resolve_job_def("nightly_probe").execute_in_process(run_config=second)
    read = {
        e.materialization.asset_key.path[-1]: e.materialization.metadata["rows_read"].value
        for e in result.get_asset_materialization_events()
    }
    con = duckdb.connect(str(tmp_path / "build" / "warehouse.duckdb"), read_only=True)
    new = con.execute(
        "SELECT count(*), min(updated_at), max(updated_at) FROM raw.orders "
        "WHERE updated_at > TIMESTAMP '2025-03-11 03:59:59.999999'"
    ).fetchone()
    con.close()
    # one shop day (11 March, EDT: 04:00Z to 04:00Z next day) and nothing else was read
    assert 0 < read["orders"] < before[0] / 10
    assert new[0] > 0 and new[2] <= datetime(2025, 3, 12, 3, 59, 59, 999999)


def test_serving_assets_depend_on_every_mart_and_the_switch_on_every_staged_part():
    keys = [dg.AssetKey(["marts", "mart_a"]), dg.AssetKey(["marts", "mart_customer_predictions"])]
    *staged, switch, docs = build_serving_assets(keys)
    for a in staged:
        assert set(a.asset_deps[a.key]) == set(keys)
    assert switch.key == dg.AssetKey("published_build")
    assert set(switch.asset_deps[switch.key]) == {a.key for a in staged}
    # The dbt docs page is rebuilt once the build is published.
    assert set(docs.asset_deps[docs.key]) == {switch.key}
