"""The dbt project parses without a database and follows the project's rules."""

import json
import re
from pathlib import Path

from assets.marts import marts


# Every SQL mart of the registry (assets/marts.py): a new mart is checked without editing this file.
# The one Python model (mart_customer_predictions) has no enforced contract: dbt enforces none on Python.
MARTS = {name for name, mart in marts().items() if mart.language == "sql"}
# Marts that read their own previous build (entered_on, the daily history): incremental, still contracted.
INCREMENTAL_MARTS = {"mart_audience_members", "mart_audience_summary"}
ENTITIES = {"customers", "orders", "order_lines", "carts", "support_tickets"}


def _manifest(path: Path) -> dict:
    return json.loads(path.read_text())


def _models(manifest: dict) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def test_parse_builds_the_manifest_without_a_database(project_manifest):
    models = _models(_manifest(project_manifest))
    assert MARTS <= set(models)
    assert {m["config"]["schema"] for m in models.values()} == {"staging", "intermediate", "marts"}


def test_every_mart_is_a_table_or_documented_incremental_with_an_enforced_contract(project_manifest):
    models = _models(_manifest(project_manifest))
    for name in MARTS:
        config = models[name]["config"]
        assert config["materialized"] == ("incremental" if name in INCREMENTAL_MARTS else "table"), name
        assert config["contract"]["enforced"], name
        assert all(c.get("data_type") for c in models[name]["columns"].values()), name


# The incremental intermediates (keyed_incremental, macros/incremental.sql): merged on their key, and
# those that can lose a key (a refunded only order, a moved order) delete it after the merge, keeping the
# keys of the table named here (which the model must also read, so dbt orders it first).
KEYED_INTERMEDIATES = {
    "int_orders": ("order_id", None),
    "int_customer_orders": ("customer_id", "int_orders"),
    "int_customer_order_facts": ("customer_id", "int_customer_orders"),
    "int_cohort_activity": ("cohort_month", "int_customer_order_facts"),
}


def test_the_incremental_intermediates_merge_on_their_key_and_drop_lost_keys(project_manifest):
    models = _models(_manifest(project_manifest))
    for name, (key, kept) in KEYED_INTERMEDIATES.items():
        config = models[name]["config"]
        assert (config["materialized"], config["incremental_strategy"], config["unique_key"],
                config["on_schema_change"]) == ("incremental", "delete+insert", key, "fail"), name
        hooks = [hook["sql"] for hook in config["post-hook"]]
        if kept is None:
            assert hooks == [], name
            continue
        assert len(hooks) == 1, (name, hooks)
        assert f"delete from {{{{ this }}}} where {key} in (select {key} from {{{{ this }}}} except select {key} " \
            f"from {{{{ ref('{kept}') }}}}" in hooks[0], (name, hooks[0])
        assert f"model.retention.{kept}" in models[name]["depends_on"]["nodes"], name


def test_every_model_and_column_is_described(project_manifest):
    for name, model in _models(_manifest(project_manifest)).items():
        assert model["description"].strip(), name
        assert model["columns"], f"{name} documents no column"
        for column, props in model["columns"].items():
            assert props["description"].strip(), f"{name}.{column}"


def test_the_only_sources_are_the_entities_in_raw(project_manifest):
    # Each source's asset key ["raw", entity] is checked per entity, without dbt, in test_registry.py.
    all_sources = list(_manifest(project_manifest)["sources"].values())
    sources = [s for s in all_sources if s["source_name"] == "shop"]
    assert {s["name"] for s in sources} == ENTITIES
    # The predictions are a dbt model now, not a table written beside dbt.
    assert [s["name"] for s in all_sources if s not in sources] == []
    assert {s["schema"] for s in sources} == {"raw"}


def test_no_model_selects_personal_data(dbt_project_dir):
    for sql in (dbt_project_dir / "models").rglob("*.sql"):
        code = re.sub(r"--[^\n]*", "", sql.read_text())  # comments may name it
        assert not re.search(r"\bemail\b", code, re.IGNORECASE), sql.name


def test_every_formula_mart_has_a_unit_test(project_manifest):
    manifest = _manifest(project_manifest)
    tested = {t["model"] for t in manifest["unit_tests"].values()}
    assert MARTS - {"mart_customer_churn"} <= tested  # churn status is unit-tested in its intermediate
    assert {"int_orders", "int_customer_orders", "int_customer_order_facts", "int_customer_order_summary",
            "int_monthly_customer_activity", "stg_shop__orders"} <= tested


def _accepted_values(manifest: dict) -> dict[tuple[str, str], list[str]]:
    """(model, column) -> the values of its accepted_values test."""
    models = {n["unique_id"]: n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    out = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and meta.get("name") == "accepted_values":
            model = models[node["attached_node"]]
            out[(model, node["column_name"])] = list(meta["kwargs"]["values"])
    return out


def test_accepted_values_of_descriptive_columns_are_the_contracts_lists(project_manifest):
    from assets.extraction import contract as c

    # Staging's own lists are the raw suites' (test_staging_repeats_no_rule_the_raw_suites_own).
    expected = {
        ("mart_aov_by_device", "device"): c.DEVICES,
        ("mart_support_kpis", "channel"): c.TICKET_CHANNELS,
    }
    tested = _accepted_values(_manifest(project_manifest))
    for key, values in expected.items():
        assert key in tested, f"{key[0]}.{key[1]} has no accepted_values test; expected one with {values}"
        assert sorted(tested[key]) == sorted(values), f"{key[0]}.{key[1]}: {tested[key]}, expected {list(values)}"


def test_staging_repeats_no_rule_the_raw_suites_own(project_manifest):
    # Staging copies raw values row for row; the raw expectation suites already check keys,
    # required columns, the contract's value lists and ranges (docs/architecture.md).
    from assets.extraction.contract import ENTITIES as CONTRACT

    manifest = _manifest(project_manifest)
    models = {n["unique_id"]: n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    raw_owned = {"unique", "accepted_values", "accepted_range", "unique_combination_of_columns"}
    repeated = []
    for node in manifest["nodes"].values():
        kind = (node.get("test_metadata") or {}).get("name")
        model = models.get(node.get("attached_node"), "")
        if node["resource_type"] != "test" or not model.startswith("stg_shop__"):
            continue
        entity = CONTRACT[model.removeprefix("stg_shop__")]
        required = {col.name for col in entity.columns if col.required}
        if kind in raw_owned or (kind == "not_null" and node["column_name"] in required):
            repeated.append(node["name"])
    assert repeated == [], f"staging tests that repeat a raw suite rule: {repeated}"


def _churn_upper_bounds(manifest: dict, mart: str) -> list[str]:
    from assets.manifest import mart_contract

    return [t.severity for t in mart_contract(manifest, mart).tests
            if t.kind == "accepted_range" and t.column == "churn_rate" and t.kwargs.get("max_value") == 1]


def test_churn_rate_at_most_one_is_an_error_only_where_it_holds_by_construction(project_manifest, dbt_cli, tmp_path):
    """churn <= 1 holds when 30 <= churn_after_days < active_window_days: ERROR then, WARN otherwise.

    The GX mart suites never judge that bound themselves (they would stop the
    run at ERROR where dbt only warns).
    """
    from assets.quality.suites import mart_suites

    dbt_cli(["parse", "--vars", '{"churn_after_days": 10}'], warehouse=None, target_path=tmp_path / "target")
    short = _manifest(tmp_path / "target" / "manifest.json")
    default = _manifest(project_manifest)
    for manifest, severity in ((default, "error"), (short, "warn")):
        suites = {s.name: s for s in mart_suites(manifest=manifest)}
        for mart in ("mart_churn_monthly", "mart_kpis"):
            assert _churn_upper_bounds(manifest, mart) == [severity], (mart, severity)
            assert not [r.id for r in suites[mart].rules
                        if r.kwargs.get("column") == "churn_rate" and r.kwargs.get("max_value") is not None], mart


def test_retention_rate_at_most_one_is_an_error_test(project_manifest):
    """Retained customers are some of the starting customers: the bound holds on every shop."""
    from assets.manifest import mart_contract

    for mart in ("mart_retention_rate", "mart_kpis"):
        bounds = [(t.kwargs.get("min_value"), t.kwargs.get("max_value"), t.severity)
                  for t in mart_contract(_manifest(project_manifest), mart).tests
                  if t.kind == "accepted_range" and t.column == "retention_rate"]
        assert bounds == [(0, 1, "error")], mart


def test_the_predictions_model_receives_every_refit_var(project_manifest):
    """dbt hands a Python model only the config keys it calls dbt.config.get("...") with, literally."""
    from models.refit import POLICY_VARS

    node = next(n for n in _manifest(project_manifest)["nodes"].values() if n["name"] == "mart_customer_predictions")
    assert set(node["config"].get("config_keys_used") or []) >= set(POLICY_VARS)
    assert {k: node["config"][k] for k in POLICY_VARS} == {
        "predictions_refit_every_days": 7, "predictions_refit_growth": 0.1,
        "predictions_refit_drift": 0.2, "predictions_refit": False,
    }


def test_the_audience_backtest_receives_the_refit_interval_and_the_forced_refit(project_manifest):
    """The backtest refits a month-end whose orders changed on the nightly models' interval (models/backtest.py)."""
    keys = {"predictions_refit_every_days", "predictions_refit"}
    node = next(n for n in _manifest(project_manifest)["nodes"].values()
                if n["name"] == "int_audience_backtest_predictions")
    assert set(node["config"].get("config_keys_used") or []) >= keys
    assert {k: node["config"][k] for k in keys} == {"predictions_refit_every_days": 7, "predictions_refit": False}
