"""The Dagster side of dbt: vars built from settings, asset keys wired to extraction, a real materialization."""

import json
from dataclasses import replace
from datetime import date

import dagster as dg
import duckdb
import pytest

from assets.extraction.contract import create_raw_schema
from assets.settings import Settings


@pytest.fixture(scope="module")
def dbt_module(project_manifest):
    # assets.dbt reads the manifest when the dbt assets are first built: parse first.
    import assets.dbt as module

    return module


@pytest.fixture
def settings(monkeypatch, tmp_path) -> Settings:
    for name in ("RETENTION_AS_OF_DATE", "RETENTION_ACTIVE_WINDOW_DAYS", "RETENTION_CHURN_AFTER_DAYS",
                 "RETENTION_PREDICTIONS_REFIT_DAYS", "RETENTION_PREDICTIONS_REFIT_GROWTH",
                 "RETENTION_PREDICTIONS_REFIT_DRIFT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path))
    return Settings.from_env()


def test_vars_default_to_settings_and_utc(dbt_module, settings):
    assert dbt_module.dbt_vars(settings, None, dbt_module.DbtBuildConfig()) == {
        "as_of_date": None,
        "shop_timezone": "UTC",
        "active_window_days": 365,
        "churn_after_days": 180,
        "predictions_refit_every_days": 7,
        "predictions_refit_growth": 0.10,
        "predictions_refit_drift": 0.20,
        "predictions_refit": False,
    }


def test_vars_take_the_resolved_time_zone_and_settings_windows(dbt_module, settings):
    custom = replace(settings, active_window_days=90, churn_after_days=60, as_of_date=date(2025, 6, 30))
    got = dbt_module.dbt_vars(custom, "America/New_York", dbt_module.DbtBuildConfig())
    assert got == {
        "as_of_date": "2025-06-30",
        "shop_timezone": "America/New_York",
        "active_window_days": 90,
        "churn_after_days": 60,
        "predictions_refit_every_days": 7,
        "predictions_refit_growth": 0.10,
        "predictions_refit_drift": 0.20,
        "predictions_refit": False,
    }


def test_run_config_as_of_date_wins_over_settings(dbt_module, settings):
    custom = replace(settings, as_of_date=date(2025, 6, 30))
    got = dbt_module.dbt_vars(custom, "UTC", dbt_module.DbtBuildConfig(as_of_date="2024-12-31"))
    assert got["as_of_date"] == "2024-12-31"


def test_vars_carry_the_refit_policy_and_a_forced_refit(dbt_module, settings):
    custom = replace(settings, predictions_refit_days=30, predictions_refit_growth=0.5, predictions_refit_drift=0.3)
    got = dbt_module.dbt_vars(custom, "UTC", dbt_module.DbtBuildConfig(refit_predictions=True))
    assert {k: v for k, v in got.items() if k.startswith("predictions_")} == {
        "predictions_refit_every_days": 30,
        "predictions_refit_growth": 0.5,
        "predictions_refit_drift": 0.3,
        "predictions_refit": True,
    }


def test_bad_as_of_date_is_refused_before_dbt_runs(dbt_module, settings):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        dbt_module.dbt_vars(settings, "UTC", dbt_module.DbtBuildConfig(as_of_date="31/12/2024"))


def test_build_args_carry_vars_as_json_and_full_refresh(dbt_module):
    args = dbt_module.dbt_build_args({"shop_timezone": "UTC", "as_of_date": None}, full_refresh=True)
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {"shop_timezone": "UTC", "as_of_date": None}
    assert args[-1] == "--full-refresh"
    assert "--full-refresh" not in dbt_module.dbt_build_args({}, full_refresh=False)


def test_nightly_build_leaves_unit_tests_to_the_test_suite(dbt_module):
    args = dbt_module.dbt_build_args({})
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"


def test_models_are_keyed_by_layer_and_depend_on_the_extraction_assets(dbt_module):
    from assets.extraction.assets import extract_shop

    assets_def = dbt_module.retention_dbt_assets
    keys = {k.to_user_string() for k in assets_def.keys}
    assert {"staging/stg_shop__orders", "intermediate/int_customer_orders", "marts/mart_cohort_retention"} <= keys
    upstream = {d for k in assets_def.keys for d in assets_def.asset_deps[k]} - set(assets_def.keys)
    assert upstream == set(extract_shop.keys)
    assert {assets_def.specs_by_key[k].group_name for k in assets_def.keys} == {"staging", "intermediate", "marts"}


def test_predictions_are_a_dbt_model_between_the_marts_so_dbt_runs_once(dbt_module):
    assets_def = dbt_module.retention_dbt_assets
    predictions = dg.AssetKey(["marts", "mart_customer_predictions"])
    assert predictions in assets_def.keys
    assert predictions in assets_def.asset_deps[dg.AssetKey(["marts", "mart_customer_churn"])]
    assert dg.AssetKey(["intermediate", "int_customer_orders"]) in assets_def.asset_deps[predictions]


def test_the_prediction_fit_check_warns_and_never_blocks(dbt_module):
    specs = {c.name: c for c in dbt_module.retention_dbt_assets.check_specs
             if c.asset_key == dg.AssetKey(["marts", "mart_customer_predictions"])}
    assert "predictions_fitted" in specs, sorted(specs)
    assert not specs["predictions_fitted"].blocking
    assert "Gamma-Gamma" in specs["predictions_fitted"].description


def test_dbt_data_tests_become_asset_checks(dbt_module):
    checks = {(c.asset_key.to_user_string(), c.name) for c in dbt_module.retention_dbt_assets.check_specs}
    assert ("marts/mart_cohort_retention", "accepted_range_mart_cohort_retention_retention_rate__1__0") in checks
    assert ("marts/mart_customer_churn", "unique_mart_customer_churn_customer_id") in checks


def test_every_dbt_check_says_what_it_checks(dbt_module):
    specs = {(c.asset_key.to_user_string(), c.name): c for c in dbt_module.retention_dbt_assets.check_specs}
    assert all(c.description for c in specs.values()), [k for k, c in specs.items() if not c.description]
    assert specs[("marts/mart_customer_churn", "unique_mart_customer_churn_customer_id")].description == (
        "customer_id is unique"
    )


def test_dbt_assets_carry_owners_and_a_link_to_their_model_file(dbt_module):
    assets_def = dbt_module.retention_dbt_assets
    spec = assets_def.specs_by_key[dg.AssetKey(["marts", "mart_kpis"])]
    # The owner is the one team the Definitions give every asset (assets/ownership.py).
    from assets.ownership import DATA_TEAM
    from orchestration.definitions import owned_and_referenced

    (owned,) = owned_and_referenced([assets_def])
    assert owned.specs_by_key[dg.AssetKey(["marts", "mart_kpis"])].owners == [DATA_TEAM]
    references = spec.metadata["dagster/code_references"].code_references
    assert any(str(getattr(r, "file_path", "")).endswith("models/marts/mart_kpis.sql") for r in references), references


def test_definitions_load_with_extraction_and_dbt(dbt_module, settings):
    from assets.extraction.assets import extract_shop
    from assets.resources import resources_from_settings

    defs = dg.Definitions(
        assets=[extract_shop, dbt_module.retention_dbt_assets],
        resources={**resources_from_settings(settings), "dbt": dbt_module.dbt_resource()},
    )
    dg.Definitions.validate_loadable(defs)


@pytest.mark.slow
def test_materializing_a_dbt_subset_runs_dbt_build_with_the_vars(dbt_module, settings, monkeypatch, tmp_path):
    # A subset keeps this fast; test_dbt_build.py builds the whole project.
    from assets.resources import ShopSourceResource, WarehouseResource

    warehouse = tmp_path / "build" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as con:
        create_raw_schema(con)
    monkeypatch.setenv("RETENTION_BUILD_DB", str(warehouse))
    result = dg.materialize(
        [dbt_module.retention_dbt_assets],
        resources={
            "dbt": dbt_module.dbt_resource(),
            "shop_source": ShopSourceResource(timezone="Europe/Paris"),
            "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        },
        run_config={"ops": {"retention_dbt": {"config": {"as_of_date": "2025-01-31"}}}},
        # closed under the tests: a relationships test between two staging models needs both
        selection=dg.AssetSelection.groups("staging") | dg.AssetSelection.assets(["intermediate", "int_as_of_date"]),
    )
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "intermediate/int_as_of_date" in materialized
    assert {k for k in materialized if k.startswith("staging/")} == {
        f"staging/stg_shop__{e}" for e in ("customers", "orders", "order_lines", "carts", "support_tickets")
    }
    # row counts are read after dbt exits (an empty raw schema: every table has 0 rows, as_of_date 1)
    counts = {e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
              for e in result.get_asset_materialization_events()}
    assert counts["intermediate/int_as_of_date"] == 1
    assert {counts[k] for k in counts if k.startswith("staging/")} == {0}
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select as_of_date::varchar from intermediate.int_as_of_date").fetchall() == [("2025-01-31",)]
