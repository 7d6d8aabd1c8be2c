"""The marts registry (assets/marts.py, each mart's `meta.retention`) is the one list of marts.

What reads it needs no check; what cannot read it (the report's section
functions, the quality suites' rules, the exposures, the docs) is checked
here against it, so a new mart that lacks a piece fails naming the file or
key. docs/architecture.md ("Adding a mart") lists the same pieces.
"""

from __future__ import annotations

import inspect
import re

import pytest
import yaml

from assets.manifest import load_manifest, models
from assets.marts import MartRegistryError, mart_from_node, marts, quality_suite_marts, report_marts
from assets.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT
MARTS_DIR = ROOT / "dbt_project" / "models" / "marts"
REGISTRY = marts()


def _node(**meta) -> dict:
    base = {"report": [], "quality_suite": False, "spark_parity_key": None}
    return {"name": "mart_new", "patch_path": "retention://models/marts/_marts__new.yml",
            "columns": {"month": {}}, "config": {"meta": {"retention": {**base, **meta}}}}


# --- the registry validates itself ---------------------------------------------------

def test_a_mart_without_meta_fails_naming_its_yml():
    node = _node()
    node["config"] = {}
    with pytest.raises(MartRegistryError, match=r"^dbt_project/models/marts/_marts__new.yml: mart_new: no `config: meta"):
        mart_from_node(node)


def test_a_missing_or_misspelt_key_is_named():
    node = _node()
    meta = node["config"]["meta"]["retention"]
    meta["quality_suites"] = meta.pop("quality_suite")
    with pytest.raises(MartRegistryError, match=r"lacks quality_suite; has unknown quality_suites"):
        mart_from_node(node)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("report", "cohort_heatmap", r"report is 'cohort_heatmap'; expected a list"),
    ("quality_suite", "yes", r"quality_suite is 'yes'; expected true or false"),
    ("spark_parity_key", [], r"spark_parity_key is \[\]; expected a list of key columns"),
    ("spark_parity_key", ["day"], r"spark_parity_key names \['day'\], not columns of the mart"),
])
def test_a_malformed_value_is_named(key, value, message):
    with pytest.raises(MartRegistryError, match=message):
        mart_from_node(_node(**{key: value}))


def test_a_well_formed_entry_reads_back():
    mart = mart_from_node(_node(report=["funnel"], quality_suite=True, spark_parity_key=["month"]))
    assert (mart.report, mart.quality_suite, mart.spark_parity_key, mart.yml) == \
        (("funnel",), True, ("month",), "models/marts/_marts__new.yml")


# --- every mart is registered, with everything its meta promises ---------------------

def test_every_mart_file_is_in_the_registry():
    files = {p.stem for p in MARTS_DIR.iterdir() if p.suffix in (".sql", ".py")}
    assert files, f"{MARTS_DIR}: no mart files; the registry check compares nothing"
    assert sorted(files - set(REGISTRY)) == [], "marts missing from the manifest (not named mart_*, or disabled?)"
    undocumented = sorted(name for name, node in models(load_manifest()).items()
                          if name in files and not node.get("patch_path"))
    assert undocumented == [], f"dbt_project/models/marts: no yml entry for {undocumented}"


def test_every_mart_has_data_tests():
    manifest = load_manifest()
    tested = {n.get("attached_node") for n in manifest["nodes"].values() if n.get("resource_type") == "test"}
    untested = sorted(name for name in REGISTRY if f"model.retention.{name}" not in tested)
    assert untested == [], f"marts without a dbt data test in their yml: {untested}"


def test_every_report_section_has_its_function_and_every_function_its_mart():
    from assets.serving.report import SECTIONS

    named = {section for sections in report_marts().values() for section in sections}
    assert sorted(named - set(SECTIONS)) == [], "meta.retention.report names sections missing from SECTIONS in assets/serving/report.py"
    assert sorted(set(SECTIONS) - named) == [], "assets/serving/report.py SECTIONS draws sections no mart's meta.retention.report names"


def test_a_section_card_reads_the_mart_the_registry_gives_it():
    from assets.serving.report import SECTIONS

    mart_of = {section: mart for mart, sections in report_marts().items() for section in sections}
    checked = 0
    for section, draw in SECTIONS.items():
        params = list(inspect.signature(draw).parameters)
        if params[0] != "df":  # the KPI tiles, the coverage and predictions read rows, not one frame
            continue
        html = draw(None, **({"sym": "$"} if "sym" in params else {}))
        shown = re.findall(r"mart <code>(\w+)</code> is missing", html)
        assert shown == [mart_of[section]], f"report section {section!r} reads {shown}; the registry says {mart_of[section]}"
        checked += 1
    assert checked >= 10


def test_every_quality_suite_mart_has_its_rules_and_no_other_mart_does():
    from assets.quality.suites import mart_suites

    written = {s.name for s in mart_suites()}
    assert sorted(set(quality_suite_marts()) - written) == [], "quality_suite: true without rules in mart_suites() (assets/quality/suites.py)"
    assert sorted(written - set(quality_suite_marts())) == [], "mart_suites() has rules for marts whose yml says quality_suite: false"


def duckdb_only(mart) -> bool:
    """The mart's yml disables it on the Spark target (`enabled: "{{ target.type != 'spark' }}"`)."""
    entries = yaml.safe_load((ROOT / "dbt_project" / mart.yml).read_text())["models"]
    enabled = next(e for e in entries if e["name"] == mart.name).get("config", {}).get("enabled", True)
    return isinstance(enabled, str) and "spark" in enabled


def test_the_exposures_list_the_registry():
    exposures = {e["name"]: e for e in yaml.safe_load((ROOT / "dbt_project/models/exposures.yml").read_text())["exposures"]}

    def refs(name: str) -> list[str]:
        return sorted(re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in exposures[name]["depends_on"])

    # The exposures must parse on Spark: the marts disabled there are left out.
    everywhere = {name for name, mart in REGISTRY.items() if not duckdb_only(mart)}
    assert len(everywhere) < len(REGISTRY), "no DuckDB-only mart found: the yml reading checks nothing"
    assert refs("parquet_exports") == sorted(everywhere), "dbt_project/models/exposures.yml: parquet_exports"
    assert refs("analysts_warehouse") == sorted(everywhere), "dbt_project/models/exposures.yml: analysts_warehouse"
    assert refs("retention_report") == sorted(set(report_marts()) & everywhere), \
        "dbt_project/models/exposures.yml: retention_report"


def test_the_readme_mart_table_lists_every_mart():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| mart | grain | answers |")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `(mart_\w+)` \|", table, re.MULTILINE)
    assert sorted(rows) == sorted(REGISTRY), f"README.md mart table: missing {sorted(set(REGISTRY) - set(rows))}, extra {sorted(set(rows) - set(REGISTRY))}"


def test_the_quality_doc_names_the_mart_suites():
    doc = (ROOT / "docs" / "quality.md").read_text()
    listed = re.findall(r"`(mart_\w+)`", doc.split("Mart suites (")[1].split(")")[0])
    assert sorted(listed) == sorted(quality_suite_marts()), "docs/quality.md: the list after 'Mart suites ('"


def test_the_architecture_doc_names_what_a_mart_needs():
    section = (ROOT / "docs" / "architecture.md").read_text().split("## Adding a mart")[1].split("\n## ")[0]
    for piece in ("report", "quality_suite", "spark_parity_key", "README.md", "exposures.yml", "SECTIONS",
                  "mart_suites()", "docs/quality.md", "tests/unit/test_marts_registry.py"):
        assert piece in section, f"docs/architecture.md: 'Adding a mart' does not name {piece}"


def test_a_mart_disabled_on_spark_says_so_and_an_unknown_engine_is_refused():
    from assets.marts import MartRegistryError, mart_from_node, marts_not_built_on

    assert set(marts_not_built_on("spark")) >= {"mart_audience_members", "mart_audience_summary", "mart_audience_backtest"}
    assert marts_not_built_on("duckdb") == ()
    node = {"name": "mart_x", "patch_path": "retention://models/marts/_x.yml", "columns": {},
            "config": {"meta": {"retention": {"report": [], "quality_suite": False, "spark_parity_key": None,
                                              "engines": ["duckdb", "snowflake"]}}}}
    with pytest.raises(MartRegistryError, match="engines"):
        mart_from_node(node)
