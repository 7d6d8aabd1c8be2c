"""dbt's per-run artefacts and log live under the data folder, and only the last few runs are kept."""

import os

import dagster as dg
import duckdb
import pytest

from assets.dbt import KEEP_DBT_RUNS, build_dbt_assets, dbt_resource, dbt_runs_dir, prune_dbt_runs
from assets.extraction.contract import create_raw_schema
from assets.resources import ShopSourceResource, WarehouseResource
from assets.settings import DBT_PROJECT_DIR


def _old_runs(root, count):
    """`count` run folders, the i-th older than the (i+1)-th."""
    root.mkdir(parents=True, exist_ok=True)
    folders = []
    for i in range(count):
        folder = root / f"old-run-{i}"
        folder.mkdir()
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
        folders.append(folder)
    return folders


def test_prune_keeps_the_newest_runs_and_deletes_the_rest(tmp_path):
    folders = _old_runs(tmp_path, 5)
    removed = prune_dbt_runs(tmp_path, keep=2)
    assert sorted(removed) == sorted(folders[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old-run-3", "old-run-4"]


def test_prune_of_a_missing_folder_removes_nothing(tmp_path):
    assert prune_dbt_runs(tmp_path / "never-ran", keep=3) == []


def test_prune_refuses_to_keep_no_run(tmp_path):
    with pytest.raises(ValueError, match="keep=0"):
        prune_dbt_runs(tmp_path, keep=0)


def test_dbt_runs_live_under_the_data_folder(tmp_path):
    assert dbt_runs_dir(tmp_path).is_relative_to(tmp_path)
    assert not dbt_runs_dir(tmp_path).is_relative_to(DBT_PROJECT_DIR)


@pytest.mark.slow
def test_a_dbt_materialization_writes_under_the_data_folder_and_prunes_old_runs(tmp_path, monkeypatch):
    if not (DBT_PROJECT_DIR / "target" / "manifest.json").exists():
        pytest.skip("no dbt manifest: run `make manifest` first")
    warehouse = tmp_path / "build" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as con:
        create_raw_schema(con)
    monkeypatch.setenv("RETENTION_BUILD_DB", str(warehouse))
    runs_root = dbt_runs_dir(tmp_path)
    _old_runs(runs_root, KEEP_DBT_RUNS + 2)
    source_target = DBT_PROJECT_DIR / "target"
    before = set(source_target.iterdir())

    result = dg.materialize(
        [build_dbt_assets()],
        resources={
            "dbt": dbt_resource(),
            "shop_source": ShopSourceResource(timezone="UTC"),
            "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        },
        # a small subset closed under its unit and data tests keeps this quick
        selection=dg.AssetSelection.groups("staging") | dg.AssetSelection.assets(["intermediate", "int_as_of_date"]),
    )

    assert result.success
    assert set(source_target.iterdir()) == before
    this_run = runs_root / result.run_id / "retention_dbt"
    assert (this_run / "run_results.json").exists()
    assert (this_run / "dbt.log").exists()
    kept = {p.name for p in runs_root.iterdir()}
    assert len(kept) == KEEP_DBT_RUNS and result.run_id in kept


def test_dbt_vars_take_the_rules_from_the_shop_source_resource():
    from assets.run_state import DbtBuildConfig, dbt_vars

    shop = ShopSourceResource(as_of_date="2025-06-30", active_window_days=90, churn_after_days=60)
    assert dbt_vars(shop, "UTC", DbtBuildConfig()) == {
        "as_of_date": "2025-06-30",
        "shop_timezone": "UTC",
        "active_window_days": 90,
        "churn_after_days": 60,
        "predictions_refit_every_days": 7,
        "predictions_refit_growth": 0.10,
        "predictions_refit_drift": 0.20,
        "predictions_refit": False,
    }
