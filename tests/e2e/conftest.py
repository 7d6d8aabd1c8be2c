"""The whole pipeline as one job in a temporary data folder (tests of publish, gates and quiet nights)."""

import shutil
from pathlib import Path

import pytest

# The tests that go on from the shared first night: one xdist group, so it is built on one worker only.
FIRST_NIGHT_GROUP = "e2e_first_night"
FIRST_NIGHT_ORDERS = 3_000
FIRST_NIGHT_UNTIL = "2025-03-31"
QUIET = "no new data since the last published build"


def pipeline_job_in(data: Path, name: str, sample_orders: int, asset_checks=()):
    """A job over the real assets (extraction -> dbt -> [checks] -> serving) writing to `data`."""
    import dagster as dg

    from assets.dbt import dbt_resource, retention_dbt_assets
    from orchestration.extraction import extract_shop  # quiet nights judge freshness
    from assets.resources import ShopSourceResource, WarehouseResource
    from assets.serving import build_serving_assets, mart_asset_keys
    from orchestration.jobs import make_pipeline_job

    marts = mart_asset_keys([retention_dbt_assets])
    assert marts, "no marts/* assets in the dbt project"
    defs = dg.Definitions(
        assets=[extract_shop, retention_dbt_assets, *build_serving_assets(marts)],
        asset_checks=list(asset_checks),
        jobs=[make_pipeline_job(name, "test")],
        resources={
            "warehouse": WarehouseResource(data_dir=str(data)),
            "shop_source": ShopSourceResource(sample_orders=sample_orders, sample_end_date="2025-06-30"),
            "dbt": dbt_resource(),
        },
    )
    return defs.resolve_job_def(name)


def _point_at(mp: pytest.MonkeyPatch, data: Path) -> None:
    mp.setenv("RETENTION_DATA_DIR", str(data))
    mp.setenv("RETENTION_BUILD_DB", str(data / "build" / "warehouse.duckdb"))
    mp.delenv("RETENTION_AS_OF_DATE", raising=False)


@pytest.fixture
def pipeline_job(tmp_path, monkeypatch):
    """Build a job over the real assets in tmp_path/data.

    Returns a factory `make(name, sample_orders, asset_checks=())` -> (job, data_dir).
    Independent of how orchestration/definitions.py is wired.
    """
    data = tmp_path / "data"
    _point_at(monkeypatch, data)

    def make(name: str, sample_orders: int, asset_checks=()):
        return pipeline_job_in(data, name, sample_orders, asset_checks), data

    return make


@pytest.fixture(scope="session")
def first_night(tmp_path_factory):
    """A data folder after night one: the sample shop's 3,000 orders up to 31 March, with the quality checks.

    Built once for the tests of FIRST_NIGHT_GROUP (the whole pipeline is the
    costly part of each); they work on copies (`after_first_night`), never on it.
    Returns (data folder, step failures, whether the run called itself quiet).
    """
    import dagster as dg

    from assets.quality import quality_checks

    data = tmp_path_factory.mktemp("first_night") / "data"
    with pytest.MonkeyPatch.context() as mp:
        _point_at(mp, data)
        job = pipeline_job_in(data, "first_night", FIRST_NIGHT_ORDERS, asset_checks=quality_checks)
        instance = dg.DagsterInstance.ephemeral()
        result = job.execute_in_process(
            run_config={"ops": {"extract_shop": {"config": {"until": FIRST_NIGHT_UNTIL}}}},
            instance=instance, raise_on_error=False,
        )
    failures = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    quiet = any(QUIET in (r.user_message or "") for r in instance.all_logs(result.run_id))
    return data, failures if not result.success else [], quiet


@pytest.fixture
def after_first_night(first_night, pipeline_job, tmp_path):
    """A copy of the first night's data folder at tmp_path/data (where `pipeline_job` writes), and that night's outcome.

    The copy keeps the relative `current` and stable-path symlinks, so it is
    a data folder of its own: nothing a test does reaches the shared one.
    """
    source, failures, quiet = first_night
    assert not failures, f"the shared first night failed: {failures}"
    assert not quiet, "the first night called itself quiet"
    data = tmp_path / "data"
    shutil.copytree(source, data, symlinks=True)
    return data
