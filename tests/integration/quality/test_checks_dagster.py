"""The suites as Dagster asset checks: blocking, metadata, audit, Data Docs, import path."""

import subprocess
import sys

import dagster as dg
import pytest

from assets.extraction.assets import extract_shop, raw_key
from assets.quality import quality_checks, quality_checks_for, raw_quality_checks
from assets.quality.checks import MAX_CHECK_NAME, check_name, is_suite_check
from assets.resources import ShopSourceResource, WarehouseResource
from assets.settings import PROJECT_ROOT


def test_definitions_import_path_has_no_great_expectations():
    code = "import sys, orchestration.definitions as d; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_every_check_is_blocking_and_targets_its_asset():
    keys = {k.asset_key.to_user_string() for d in quality_checks for k in d.check_keys}
    assert {"raw/orders", "raw/support_tickets", "marts/mart_cohort_retention", "marts/mart_aov_by_device"} <= keys
    assert all(spec.blocking for d in quality_checks for spec in d.check_specs)
    # only checks whose asset is defined are registered
    assert len(quality_checks_for([extract_shop])) == len(raw_quality_checks) == 5


def test_check_names_are_short_unique_and_name_their_suite():
    names = [k.name for d in quality_checks for k in d.check_keys]
    assert len(names) == len(set(names))
    assert all(len(n) <= MAX_CHECK_NAME and is_suite_check(n) for n in names), names
    assert check_name("raw_orders") in names and check_name("mart_kpis") in names


@dg.asset(deps=[raw_key("orders")])
def downstream_of_orders() -> None:
    """Stands in for the dbt models / exports that must not run after a failed gate."""


orders_check = [c for c in raw_quality_checks if {k.asset_key for k in c.check_keys} == {raw_key("orders")}]


def _materialize(data_dir, as_of_date=None):
    return dg.materialize(
        [extract_shop, downstream_of_orders, *orders_check],
        selection=[raw_key("orders"), downstream_of_orders.key],
        resources={
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "shop_source": ShopSourceResource(sample_orders=3_000, as_of_date=as_of_date),
        },
        raise_on_error=False,
    )


def _check_eval(result):
    evals = [e.event_specific_data for e in result.all_events
             if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evals) == 1
    return evals[0]


def test_failing_blocking_check_stops_downstream_and_is_recorded(tmp_path, monkeypatch):
    good = _materialize(tmp_path)
    assert good.success
    assert downstream_of_orders.key in {e.event_specific_data.materialization.asset_key
                                        for e in good.get_asset_materialization_events()}
    assert _check_eval(good).passed
    index = tmp_path / "quality" / "data_docs" / "index.html"
    assert index.exists() and "raw_orders" in index.read_text()

    # Injected bad batch: the source stops a week short of the as-of date (a truncated export).
    bad = _materialize(tmp_path, as_of_date="2026-01-07")
    assert not bad.success
    ev = _check_eval(bad)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
    table = ev.metadata["failed_expectations"].value
    assert "freshness" in table and "expect_column_values_to_be_between" in table
    # each failed expectation as its own line, as the console and the failure alert print it
    assert ev.metadata["failed_rules"].value.startswith("ERROR raw_orders.freshness: the newest record is of ")
    assert ev.metadata["data_docs"].value.startswith("file://")
    materialized = {e.event_specific_data.materialization.asset_key for e in bad.get_asset_materialization_events()}
    assert raw_key("orders") in materialized and downstream_of_orders.key not in materialized

    con = WarehouseResource(data_dir=str(tmp_path)).connect(read_only=True)
    try:
        why = con.execute(
            "SELECT rule_id, severity, observed_value FROM audit.validation_results "
            "WHERE run_id = ? AND NOT success ORDER BY rule_id", [bad.run_id]
        ).fetchall()
    finally:
        con.close()
    assert [r[0] for r in why] == ["freshness"]
    assert why[0][1] == "ERROR"
    assert '"freshness_lag_days": 7' in why[0][2]


def test_check_of_an_untracked_entity_passes_and_reads_the_shop_config(tmp_path):
    from assets.extraction.contract import create_raw_schema
    from assets.quality import run_check
    from assets.user_config import UserConfigError

    warehouse = WarehouseResource(data_dir=str(tmp_path))
    con = warehouse.connect()
    try:
        create_raw_schema(con)
    finally:
        con.close()
    # nothing extracted, so no recorded currency or time zone: the settings give them
    shop = ShopSourceResource(sample_orders=100, currency="EUR", timezone="Europe/Paris")
    result = run_check(None, "raw_carts", warehouse, shop)
    assert result.passed and "not tracked by this shop (no rows)" in result.description

    config = tmp_path / "retention.yml"
    config.write_text("quality:\n  closed_weekdays: [someday]\n")
    with pytest.raises(UserConfigError) as err:
        run_check(None, "raw_carts", warehouse, ShopSourceResource(sample_orders=100, config_file=str(config)))
    assert str(err.value).startswith(f"{config}: quality.closed_weekdays = ['someday']")
