"""The real Definitions load, and the extraction assets materialize into a temp folder."""

import dagster as dg

from assets.extraction.assets import extract_shop, parse_bound
from assets.extraction.sample_shop import ENTITY_NAMES
from orchestration.resources import ShopSourceResource, WarehouseResource


def test_definitions_load():
    from orchestration.definitions import defs

    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert {dg.AssetKey(["raw", e]) for e in ENTITY_NAMES} <= keys


def test_materialize_all_extraction_assets(tmp_path):
    resources = {
        "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        "shop_source": ShopSourceResource(sample_orders=2_000, sample_end_date="2025-06-30"),
    }
    result = dg.materialize([extract_shop], resources=resources)
    assert result.success
    mats = {m.asset_key.path[-1]: m.metadata for m in result.get_asset_materialization_events() for m in [m.materialization]}
    assert set(mats) == set(ENTITY_NAMES)
    orders = mats["orders"]
    assert orders["rows_read"].value == orders["rows_loaded"].value + orders["rows_quarantined"].value
    assert orders["rows_inserted"].value > 1_000
    # Second run: nothing new to read.
    again = dg.materialize([extract_shop], resources=resources)
    assert [m.materialization.metadata["rows_read"].value for m in again.get_asset_materialization_events()] == [0] * 5


def test_subset_reads_only_the_selected_entity(tmp_path):
    resources = {
        "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        "shop_source": ShopSourceResource(sample_orders=1_000, sample_end_date="2025-06-30"),
    }
    result = dg.materialize([extract_shop], resources=resources, selection=[dg.AssetKey(["raw", "orders"])])
    assert [m.asset_key.path[-1] for m in result.get_asset_materialization_events()] == ["orders"]


def test_date_bounds():
    assert parse_bound("2025-01-31", end_of_day=True).isoformat() == "2025-01-31T23:59:59.999999"
    assert parse_bound("2025-01-31", end_of_day=False).isoformat() == "2025-01-31T00:00:00"
    assert parse_bound("2025-01-31T05:00:00+02:00", end_of_day=True).isoformat() == "2025-01-31T03:00:00"
