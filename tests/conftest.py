"""Shared fixtures. Tests never touch the project's data/ folder or the network."""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


import pytest  # noqa: E402


@pytest.fixture
def pipeline_job(tmp_path, monkeypatch):
    """Build a job over the real assets (extraction -> dbt -> [checks] -> serving) in tmp_path.

    Returns a factory `make(name, sample_orders, asset_checks=())` -> (job, data_dir).
    Independent of how orchestration/definitions.py is wired.
    """
    import dagster as dg

    from assets.dbt import dbt_resource, retention_dbt_assets
    from assets.extraction.assets import extract_shop
    from assets.serving import build_serving_assets, mart_asset_keys
    from orchestration.jobs import make_pipeline_job
    from assets.resources import ShopSourceResource, WarehouseResource

    data = tmp_path / "data"
    monkeypatch.setenv("RETENTION_DATA_DIR", str(data))
    monkeypatch.setenv("RETENTION_BUILD_DB", str(data / "build" / "warehouse.duckdb"))
    monkeypatch.delenv("RETENTION_AS_OF_DATE", raising=False)

    def make(name: str, sample_orders: int, asset_checks=()):
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
        return defs.resolve_job_def(name), data

    return make


def _shares_a_module_fixture(item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info else ()
    return any(d[-1].scope in ("module", "class", "package") for d in defs if d)


def pytest_collection_modifyitems(config, items):
    """Slowest first, and a module's shared fixture built once.

    With `-n 2 --dist loadgroup` (pyproject.toml) xdist hands out work in
    this order: the Spark builds, then the other whole-pipeline runs, start
    first and spread over both workers instead of ending the run on one.
    The tests of a module that share a module-scoped fixture (a pipeline run,
    a dbt build) form one group, so that fixture runs on one worker only.
    """
    for item in items:
        if _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))

    def cost(item) -> int:
        if item.get_closest_marker("spark"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=cost)  # stable: the collection order within each class
