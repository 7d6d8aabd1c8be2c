"""Mart suites read their columns from the dbt manifest and leave dbt's own tests to dbt."""

import copy

import pytest

from assets.manifest import DbtTest, MartContract, duckdb_type, load_manifest, mart_contract
from assets.quality.manifest import CONTRACT, covering_test
from assets.quality.suites import MANIFEST_PATH, REQUIRED_MARTS, ROWS, between, mart_suites, not_null

from .test_suites import FAST, only_failure, validate


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest(MANIFEST_PATH)


def _node(manifest: dict, model: str) -> dict:
    return next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == model)


def _by_name(manifest: dict) -> dict:
    return {s.name: s for s in mart_suites(FAST, manifest)}


def test_no_rule_of_a_mart_suite_is_one_a_dbt_test_already_checks(manifest):
    suites = _by_name(manifest)
    assert sorted(suites) == sorted(REQUIRED_MARTS)
    for name, suite in suites.items():
        contract = mart_contract(manifest, name)
        assert [r.id for r in suite.rules if covering_test(r, contract)] == [], name
    cohort = suites["mart_cohort_retention"]
    covered = dict(cohort.covered_by_dbt)
    assert {"cohort_month_not_null", "key_unique", "retention_rate_range", "active_customers_within_cohort"} \
        <= set(covered)
    assert covered["columns_and_types"] == CONTRACT
    ids = {r.id for r in cohort.rules}
    assert not ids & set(covered)
    # what dbt does not test stays: reconciliation with staging, volume
    assert {"cohort_size_matches_first_orders", "net_revenue_matches_staging", "row_count_vs_previous_run"} <= ids


def test_a_dbt_test_of_severity_warn_does_not_replace_the_gx_rule(manifest):
    # retention_rate in [0, 1] holds by construction: dbt tests it at ERROR and GX leaves it to dbt
    assert "retention_rate_range" not in {r.id for r in _by_name(manifest)["mart_retention_rate"].rules}
    edited = copy.deepcopy(manifest)
    for n in edited["nodes"].values():
        if n["resource_type"] == "test" and n.get("attached_node", "").endswith(".mart_retention_rate") \
                and n.get("column_name") == "retention_rate":
            n["config"]["severity"] = "warn"
    assert "retention_rate_range" in {r.id for r in _by_name(edited)["mart_retention_rate"].rules}

    edited = copy.deepcopy(manifest)
    for n in edited["nodes"].values():
        if n["resource_type"] == "test" and n.get("attached_node", "").endswith(".mart_cohort_retention") \
                and (n.get("test_metadata") or {}).get("name") == "not_null" \
                and n.get("column_name") == "cohort_month":
            n["config"]["severity"] = "warn"
    assert "cohort_month_not_null" in {r.id for r in _by_name(edited)["mart_cohort_retention"].rules}


def test_removing_a_column_from_a_marts_yml_changes_the_suite(manifest):
    before = _by_name(manifest)["mart_customer_clv"]
    assert "aov_range" in {r.id for r in before.rules}

    edited = copy.deepcopy(manifest)
    node = _node(edited, "mart_customer_clv")
    del node["columns"]["aov"]
    node["config"]["contract"] = {"enforced": False}
    after = _by_name(edited)["mart_customer_clv"]
    assert "aov_range" not in {r.id for r in after.rules}
    assert dict(after.left_out)["aov_range"] == "aov not in the mart's yml"
    # without an enforced contract the suite checks the columns and types of the yml itself
    schema = after.frames["schema"]
    assert "'aov'" not in schema and "('net_revenue', 'DECIMAL(18,2)'" in schema
    assert "columns_and_types" in {r.id for r in after.rules}


def test_dbt_types_are_spelled_as_duckdb_reports_them():
    assert [duckdb_type(t) for t in ("string", "bigint", "decimal(18, 2)", "timestamp", "int")] == \
        ["VARCHAR", "BIGINT", "DECIMAL(18,2)", "TIMESTAMP", "INTEGER"]


def test_a_range_is_covered_only_by_bounds_at_least_as_strict():
    def contract(*tests):
        return MartContract("m", (("x", "DOUBLE"),), True, tuple(tests))

    def rng(name, severity="error", **kw):
        return DbtTest(name, "accepted_range", "x", kw, severity, False)

    positive = between("x", min_value=0, strict_min=True)
    assert covering_test(positive, contract(rng("ge0", min_value=0))) is None
    assert covering_test(positive, contract(rng("gt0", min_value=0, inclusive=False))) == "gt0"
    rate = between("x", 0, 1)
    assert covering_test(rate, contract(rng("ge0", min_value=0))) is None
    assert covering_test(rate, contract(rng("ge0", min_value=0), rng("le1", max_value=1))) == "ge0 + le1"
    assert covering_test(rate, contract(rng("ge0", min_value=0), rng("le1", "warn", max_value=1))) is None
    filtered = DbtTest("nn", "not_null", "x", {}, "error", True)
    assert covering_test(not_null("x"), contract(filtered)) is None
    assert not_null("x").frame == ROWS


def test_kpis_suite_reconciles_with_staging(needs_marts, scratch):
    con = scratch(sql=["UPDATE marts.mart_kpis SET customers = customers + 1"], marts=True)
    r = only_failure(validate(con, "mart_kpis"), "customers_match_staging", "expect_column_pair_values_to_be_equal")
    assert r.unexpected_count == 1
