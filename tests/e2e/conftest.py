"""The whole pipeline as one job in a temporary data folder (tests of publish, gates and quiet nights)."""

import pytest


@pytest.fixture
def pipeline_job(tmp_path, monkeypatch):
    """Build a job over the real assets (extraction -> dbt -> [checks] -> serving) in tmp_path.

    Returns a factory `make(name, sample_orders, asset_checks=())` -> (job, data_dir).
    Independent of how orchestration/definitions.py is wired.
    """
    import dagster as dg

    from assets.dbt import dbt_resource, retention_dbt_assets
    from orchestration.extraction import extract_shop  # quiet nights judge freshness
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
