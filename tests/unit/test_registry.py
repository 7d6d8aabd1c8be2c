"""The entity registry (assets/extraction/contract.py) is the one place an entity is defined.

Every consumer reads it; what cannot read it (dbt's YAML and SQL, the docs)
is checked here, so a forgotten piece fails with a message naming the entity
and the file, not with a KeyError during a run. docs/architecture.md
("Adding a source entity") lists the same files.
"""

from __future__ import annotations


import polars as pl
import pytest
import yaml

from assets.extraction import sample_shop
from assets.extraction.contract import DEVICES, ENTITIES, Column, Entity, vocabularies
from assets.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT
DBT_MODELS = ROOT / "dbt_project" / "models"
CONTRACT_DOC = ROOT / "docs" / "source-contract.md"
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"
NAMES = list(ENTITIES)


def _entity(**overrides) -> Entity:
    fields = dict(
        name="returns",
        primary_key=("return_id",),
        description="Returned items.",
        columns=(Column("return_id", "string", required=True), Column("created_at", "timestamp"),
                 Column("updated_at", "timestamp")),
    )
    return Entity(**{**fields, **overrides})


# --- the registry validates itself ------------------------------------------

def test_an_entity_without_a_description_fails_naming_the_entity():
    with pytest.raises(ValueError, match=r"entity 'returns': description is blank"):
        _entity(description=" ")


def test_a_primary_key_outside_the_columns_fails_naming_the_column():
    with pytest.raises(ValueError, match=r"entity 'returns': primary_key \['id'\] not among its columns"):
        _entity(primary_key=("id",))


def test_a_time_column_that_is_not_a_timestamp_fails():
    with pytest.raises(ValueError, match=r"time_column 'return_id' is a string column; expected a timestamp"):
        _entity(time_column="return_id")


def test_a_label_defaults_to_the_name_in_words():
    assert _entity(name="order_returns").label == "order returns"
    assert _entity(label="returned items").label == "returned items"


def test_an_enum_default_outside_its_values_fails_naming_the_column():
    with pytest.raises(ValueError, match=r"column 'status': default/synonyms \['shipped'\] not in its allowed values"):
        Column("status", "enum", allowed=("placed", "fulfilled"), default="shipped")


def test_an_enum_synonym_outside_its_values_fails():
    with pytest.raises(ValueError, match=r"default/synonyms \['done'\]"):
        Column("status", "enum", allowed=("open",), synonyms={"finished": "done"})


def test_every_enum_column_has_its_accepted_values():
    for key, values in vocabularies().items():
        assert values, f"assets/extraction/contract.py: {key} is an enum with no accepted values"


def test_the_shopify_mappings_land_on_contract_values():
    from assets.extraction.shopify import FINANCIAL_STATUS, SOURCE_CHANNEL

    known = vocabularies()
    assert set(FINANCIAL_STATUS.values()) <= set(known["orders.status"]), "shopify.py: FINANCIAL_STATUS"
    assert set(SOURCE_CHANNEL.values()) <= set(known["orders.channel"]), "shopify.py: SOURCE_CHANNEL"


# --- consumers that read the registry ---------------------------------------

def test_the_quality_defaults_cover_every_entity():
    from assets.quality.config import DEFAULT_CONFIG

    assert dict(DEFAULT_CONFIG.freshness_lag_days) == {n: e.freshness_lag_days for n, e in ENTITIES.items()}
    assert dict(DEFAULT_CONFIG.time_columns) == {n: e.time_column for n, e in ENTITIES.items()}


@pytest.mark.parametrize("name", NAMES)
def test_every_entity_has_a_raw_suite_and_a_blocking_check(name):
    import dagster as dg

    from assets.quality.checks import raw_quality_checks
    from assets.quality.suites import all_suites

    assert f"raw_{name}" in all_suites(), f"assets/quality/suites.py: no suite raw_{name} for entity {name}"
    guarded = {k.asset_key for c in raw_quality_checks for k in c.check_keys}
    assert dg.AssetKey(["raw", name]) in guarded, f"assets/quality/checks.py: no check on raw/{name}"


def test_every_entity_is_an_extraction_asset_described_by_the_registry():
    import dagster as dg

    from assets.extraction.assets import extract_shop

    specs = {spec.key: spec for spec in extract_shop.specs}
    for name, entity in ENTITIES.items():
        spec = specs.get(dg.AssetKey(["raw", name]))
        assert spec is not None, f"assets/extraction/assets.py: no asset raw/{name}"
        assert spec.description == entity.description


def test_the_report_names_every_entity_by_its_registry_label():
    from assets.serving.report import ENTITY_LABELS

    assert ENTITY_LABELS == {n: e.label for n, e in ENTITIES.items()}


# --- consumers that cannot import it: dbt and the docs ------------------------

def _dbt_sources() -> dict[str, dict]:
    sources = yaml.safe_load((DBT_MODELS / "staging" / "__sources.yml").read_text())["sources"]
    shop = next(s for s in sources if s["name"] == "shop")
    return {t["name"]: t for t in shop["tables"]}


@pytest.mark.parametrize("name", NAMES)
def test_every_entity_is_a_dbt_source_mapped_to_its_raw_asset(name):
    table = _dbt_sources().get(name)
    assert table is not None, f"dbt_project/models/staging/__sources.yml: no table {name} in source shop"
    key = table.get("config", {}).get("meta", {}).get("dagster", {}).get("asset_key")
    assert key == ["raw", name], f"__sources.yml: {name} asset_key {key}; expected ['raw', '{name}']"


@pytest.mark.parametrize("name", NAMES)
def test_every_entity_has_a_staging_model_reading_its_source(name):
    path = DBT_MODELS / "staging" / f"stg_shop__{name}.sql"
    assert path.exists(), f"{path.relative_to(ROOT)}: missing; expected a staging model for entity {name}"
    assert f"source('shop', '{name}')" in path.read_text(), f"{path.name}: does not read source('shop', '{name}')"


@pytest.mark.parametrize("name", NAMES)
def test_every_entity_is_counted_in_the_coverage_mart(name):
    sql = (DBT_MODELS / "marts" / "mart_data_coverage.sql").read_text()
    assert f"select '{name}'" in sql, f"mart_data_coverage.sql: no row (select '{name}', ...) for entity {name}"


def test_the_coverage_mart_accepts_exactly_the_registry_entities():
    doc = yaml.safe_load((DBT_MODELS / "marts" / "_marts__coverage.yml").read_text())
    model = next(m for m in doc["models"] if m["name"] == "mart_data_coverage")
    column = next(c for c in model["columns"] if c["name"] == "entity")
    test = next(t["accepted_values"] for t in column["data_tests"] if isinstance(t, dict) and "accepted_values" in t)
    values = (test.get("arguments") or test)["values"]
    assert sorted(values) == sorted(ENTITIES), f"_marts__coverage.yml: entity accepts {values}; expected {NAMES}"


def test_every_dbt_accepted_values_on_a_contract_enum_column_lists_the_contract_values():
    # Staging keeps raw's values unchecked (the loader quarantines the rest);
    # the marts that group by a contract enum (device, support channel) list
    # the values in their yml. A column named as a contract enum column must
    # accept exactly one of the contract's lists of that name, so a value added
    # to the contract fails here until the mart's test knows it.
    contract_lists: dict[str, set[tuple[str, ...]]] = {}
    for key, values in vocabularies().items():
        contract_lists.setdefault(key.split(".")[1], set()).add(values)
    compared = []
    for path in sorted(DBT_MODELS.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for column in model.get("columns", []):
                for test in column.get("data_tests") or []:
                    if column["name"] not in contract_lists or not isinstance(test, dict) or "accepted_values" not in test:
                        continue
                    spec = test["accepted_values"]
                    values = tuple((spec.get("arguments") or spec)["values"])
                    expected = contract_lists[column["name"]]
                    assert values in expected, (
                        f"{path.relative_to(ROOT)}: {model['name']}.{column['name']} accepts {list(values)}; "
                        f"expected the contract's list: {' or '.join(str(list(v)) for v in sorted(expected))}"
                    )
                    compared.append(f"{model['name']}.{column['name']}")
    # The marts' device and support-channel tests are compared; none found means the loop checks nothing.
    assert compared, "no dbt accepted_values test on a contract enum column found under dbt_project/models"


@pytest.mark.parametrize("name", NAMES)
def test_the_contract_doc_lists_each_enum_as_the_registry_does(name):
    doc = CONTRACT_DOC.read_text()
    assert f"### {name} " in doc, f"docs/source-contract.md: no section '### {name} - primary key ...'"
    section = doc.split(f"### {name} ")[1].split("\n#")[0]
    for column in ENTITIES[name].columns:
        if column.kind != "enum":
            continue
        row = next((ln for ln in section.splitlines() if ln.startswith((f"| {column.name} |", f"| **{column.name}** |"))), "")
        rule = row.strip().strip("|").split("|")[-1].strip() if row else ""
        assert rule.startswith(", ".join(column.allowed)), f"docs/source-contract.md: {name}.{column.name} lists {rule!r}"


def test_the_architecture_doc_names_the_files_an_entity_needs():
    doc = ARCHITECTURE_DOC.read_text()
    section = doc.split("## Adding a source entity")[1].split("\n## ")[0]
    for path in ("assets/extraction/contract.py", "dbt_project/models/staging/__sources.yml",
                 "mart_data_coverage.sql", "docs/source-contract.md", "tests/unit/test_registry.py"):
        assert path in section, f"docs/architecture.md: 'Adding a source entity' does not name {path}"


# --- the sample shop draws from the registry ------------------------------------

def test_the_sample_shop_draws_values_in_the_contract_order():
    values, weights = sample_shop._vocabulary(("a", "b", "c"), {"c": 0.25, "a": 0.75})
    assert values.tolist() == ["a", "c"] and weights.tolist() == [0.75, 0.25]


def test_a_sample_shop_value_outside_the_contract_fails_naming_it():
    with pytest.raises(ValueError, match=r"sample_shop/common.py: 'smartwatch' is not in the contract's list"):
        sample_shop._vocabulary(DEVICES, {"desktop": 0.5, "smartwatch": 0.5})


def test_an_entity_the_sample_shop_does_not_generate_comes_out_empty_with_the_contract_columns(monkeypatch):
    returns = _entity()
    monkeypatch.setattr(sample_shop, "ENTITIES", {**ENTITIES, "returns": returns})
    monkeypatch.setattr(sample_shop, "ENTITY_NAMES", (*sample_shop.ENTITY_NAMES, "returns"))
    cfg = sample_shop.SampleShopConfig(orders=500, days=60)
    shop = sample_shop.generate(cfg, entities=("orders", "returns"))
    assert shop["orders"].height > 0
    assert shop["returns"].height == 0
    assert shop["returns"].columns == returns.column_names
    assert shop["returns"].schema["created_at"] == pl.Datetime("us")
