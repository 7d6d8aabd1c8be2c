"""Mart suites read their columns from the dbt manifest; a mart promise is a dbt test or a GX rule, never both."""

import copy

import pytest

from assets.manifest import DbtTest, MartContract, duckdb_type, load_manifest, mart_contract
from assets.quality.manifest import CONTRACT, declared_by_dbt
from assets.quality.suites import MANIFEST_PATH, REQUIRED_MARTS, ROWS, between, mart_suites, not_null, unique

from .test_suites import FAST, only_failure, validate


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest(MANIFEST_PATH)


def _node(manifest: dict, model: str) -> dict:
    return next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == model)


def _by_name(manifest: dict) -> dict:
    return {s.name: s for s in mart_suites(FAST, manifest)}


def test_no_mart_promise_is_declared_twice(manifest):
    """A GX mart rule that a dbt test on the mart also declares (any severity) fails here, not at run time."""
    suites = _by_name(manifest)
    assert sorted(suites) == sorted(REQUIRED_MARTS)
    twice = {(name, r.id): declared_by_dbt(r, mart_contract(manifest, name))
             for name, suite in suites.items() for r in suite.rules}
    assert {k: v for k, v in twice.items() if v} == {}
    cohort = suites["mart_cohort_retention"]
    assert dict(cohort.covered_by_dbt) == {"columns_and_types": CONTRACT}
    # what dbt does not test is GX's: reconciliation with staging, volume
    assert {"cohort_size_matches_first_orders", "net_revenue_matches_staging", "row_count_vs_previous_run"} \
        <= {r.id for r in cohort.rules}


def test_every_mart_grain_is_declared_unique_by_dbt(manifest):
    for suite in _by_name(manifest).values():
        contract = mart_contract(manifest, suite.name)
        assert declared_by_dbt(unique(suite.key), contract), suite.name
        assert all(declared_by_dbt(not_null(c), contract) for c in suite.key), suite.name


def test_a_double_declaration_is_found_whatever_the_dbt_severity(manifest):
    # dbt declares retention_rate in [0, 1]; the same rule written in GX is a double, at WARN as at ERROR
    contract = mart_contract(manifest, "mart_retention_rate")
    assert declared_by_dbt(between("retention_rate", 0, 1), contract)
    edited = copy.deepcopy(manifest)
    for n in edited["nodes"].values():
        if n["resource_type"] == "test" and n.get("attached_node", "").endswith(".mart_retention_rate") \
                and n.get("column_name") == "retention_rate":
            n["config"]["severity"] = "warn"
    assert declared_by_dbt(between("retention_rate", 0, 1), mart_contract(edited, "mart_retention_rate"))
    # and the suite does not change with the dbt tests (nothing is subtracted at run time)
    assert [r.id for r in _by_name(edited)["mart_retention_rate"].rules] == \
        [r.id for r in _by_name(manifest)["mart_retention_rate"].rules]


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
    assert declared_by_dbt(positive, contract(rng("ge0", min_value=0))) is None
    assert declared_by_dbt(positive, contract(rng("gt0", min_value=0, inclusive=False))) == "gt0"
    rate = between("x", 0, 1)
    assert declared_by_dbt(rate, contract(rng("ge0", min_value=0))) is None
    assert declared_by_dbt(rate, contract(rng("ge0", min_value=0), rng("le1", max_value=1))) == "ge0 + le1"
    assert declared_by_dbt(rate, contract(rng("ge0", min_value=0), rng("le1", "warn", max_value=1))) == "ge0 + le1"
    filtered = DbtTest("nn", "not_null", "x", {}, "error", True)
    assert declared_by_dbt(not_null("x"), contract(filtered)) is None
    assert not_null("x").frame == ROWS


def test_kpis_suite_reconciles_with_staging(needs_marts, scratch):
    con = scratch(sql=["UPDATE marts.mart_kpis SET customers = customers + 1"], marts=True)
    r = only_failure(validate(con, "mart_kpis"), "customers_match_staging", "expect_column_pair_values_to_be_equal")
    assert r.unexpected_count == 1


def test_the_split_table_matches_the_suites(manifest):
    """docs/quality.md's table of mart promises lists, per mart, exactly the GX rules the suite declares."""
    import re

    from assets.settings import PROJECT_ROOT

    doc = (PROJECT_ROOT / "docs" / "quality.md").read_text()
    rows = dict(re.findall(r"^\| `(mart_\w+)` \| [^|]+ \| ((?:`\w+`(?:, )?)+) \|$", doc, flags=re.M))
    suites = _by_name(manifest)
    assert set(rows) == set(suites)
    for name, suite in suites.items():
        assert re.findall(r"`(\w+)`", rows[name]) == [r.id for r in suite.rules], name
