"""The Dagster side of dbt: vars built from settings, asset keys wired to extraction, a real materialization."""

import json
from dataclasses import replace
from datetime import date

import dagster as dg
import duckdb
import pytest

from assets.dbt.project import short_check_name, with_short_test_names
from assets.descriptions import plain_text
from assets.extraction.contract import create_raw_schema
from assets.run_state import DbtBuildConfig, dbt_vars
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
    assert dbt_vars(settings, None, DbtBuildConfig()) == {
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
    got = dbt_vars(custom, "America/New_York", DbtBuildConfig())
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
    got = dbt_vars(custom, "UTC", DbtBuildConfig(as_of_date="2024-12-31"))
    assert got["as_of_date"] == "2024-12-31"


def test_vars_carry_the_refit_policy_and_a_forced_refit(dbt_module, settings):
    custom = replace(settings, predictions_refit_days=30, predictions_refit_growth=0.5, predictions_refit_drift=0.3)
    got = dbt_vars(custom, "UTC", DbtBuildConfig(refit_predictions=True))
    assert {k: v for k, v in got.items() if k.startswith("predictions_")} == {
        "predictions_refit_every_days": 30,
        "predictions_refit_growth": 0.5,
        "predictions_refit_drift": 0.3,
        "predictions_refit": True,
    }


def test_bad_as_of_date_is_refused_before_dbt_runs(dbt_module, settings):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        dbt_vars(settings, "UTC", DbtBuildConfig(as_of_date="31/12/2024"))


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


def test_dbt_data_tests_become_asset_checks_with_short_names_and_dbt_names_in_metadata(dbt_module):
    specs = {(c.asset_key.to_user_string(), c.name): c for c in dbt_module.retention_dbt_assets.check_specs}
    range_check = specs[("marts/mart_cohort_retention", "range_retention_rate")]
    assert range_check.metadata["dbt_test"] == "accepted_range_mart_cohort_retention_retention_rate__1__0"
    assert ("marts/mart_customer_churn", "unique_customer_id") in specs


def test_every_dbt_check_says_what_it_checks(dbt_module):
    specs = {(c.asset_key.to_user_string(), c.name): c for c in dbt_module.retention_dbt_assets.check_specs}
    assert all(c.description for c in specs.values()), [k for k, c in specs.items() if not c.description]
    assert specs[("marts/mart_customer_churn", "unique_customer_id")].description == "customer_id is unique"


def _test_node(name, kind, column=None, model="mart_a", uid=None, **kwargs):
    return {"resource_type": "test", "name": name, "unique_id": uid or f"test.retention.{name}.x",
            "attached_node": f"model.retention.{model}", "column_name": column,
            "test_metadata": {"name": kind, "kwargs": kwargs} if kind else None, "config": {"severity": "ERROR"},
            "depends_on": {"nodes": [f"model.retention.{model}"]}}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (_test_node("not_null_mart_a_customer_id", "not_null", "customer_id"), "not_null_customer_id"),
        (_test_node("accepted_range_mart_a_rate__1__0", "accepted_range", "rate", min_value=0, max_value=1), "range_rate"),
        (_test_node("relationships_mart_a_customer_id__customer_id__ref_int_customers_", "relationships",
                    "customer_id", to="ref('int_customers')", field="customer_id"), "references_customer_id_in_int_customers"),
        (_test_node("unique_combination_of_columns_mart_a_month__device", "unique_combination_of_columns",
                    combination_of_columns=["month", "device"]), "unique_month_device"),
        (_test_node("mart_a_rate_at_most_one", "accepted_range", "rate", max_value=1), "rate_at_most_one"),
        (_test_node("predictions_fitted", None), "predictions_fitted"),
    ],
)
def test_check_names_say_the_kind_and_the_column(dbt_module, node, expected):
    assert short_check_name(node) == expected


def test_long_check_names_are_cut_with_a_hash_and_clashes_within_an_asset_are_told_apart(dbt_module):
    long = _test_node("expression_is_true_mart_a_x", "expression_is_true",
                      expression="orders = new_customer_orders + returning_customer_orders + guest_orders")
    name = short_check_name(long)
    assert len(name) == 40 and name.startswith("rule_orders_new_customer_orders")
    twins = {
        "test.retention.a.1": _test_node("accepted_range_mart_a_rate__0", "accepted_range", "rate", uid="test.retention.a.1"),
        "test.retention.a.2": _test_node("accepted_range_mart_a_rate__1", "accepted_range", "rate", uid="test.retention.a.2"),
        "test.retention.b.1": _test_node("accepted_range_mart_b_rate__0", "accepted_range", "rate", model="mart_b",
                                         uid="test.retention.b.1"),
    }
    renamed = with_short_test_names({"nodes": twins})["nodes"]
    a1, a2, b1 = (renamed[k]["name"] for k in twins)
    assert a1 != a2 and a1.startswith("range_rate_") and a2.startswith("range_rate_")
    assert b1 == "range_rate"  # another asset: no clash
    assert renamed["test.retention.a.1"]["dbt_test_name"] == "accepted_range_mart_a_rate__0"
    assert twins["test.retention.a.1"]["name"] == "accepted_range_mart_a_rate__0"  # the input is left alone


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


def test_catalog_descriptions_carry_no_markdown_emphasis_or_raw_sql(dbt_module):
    assert plain_text("**Churned customer**: last order over __180__ days ago.") == (
        "Churned customer: last order over 180 days ago.")
    specs = dbt_module.retention_dbt_assets.specs_by_key
    raw = {k.to_user_string(): s.description for k, s in specs.items() if "**" in (s.description or "")}
    assert not raw, f"descriptions with raw ** markdown: {sorted(raw)}"
    assert not any("Raw SQL" in (s.description or "") for s in specs.values())
    # The glossary's bold terms are in the source: the test above would see them.
    assert "**" in (dbt_module.dbt_project().project_dir / "docs" / "metrics.md").read_text()
