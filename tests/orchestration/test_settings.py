import pytest

from assets.extraction.contract import ENTITIES
from orchestration.settings import ENV_VARS, PROJECT_ROOT, Settings


def test_every_knob_is_documented_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [name for name in ENV_VARS if f"`{name}`" not in readme]
    assert not missing, f"undocumented settings: {missing}"


def test_every_contract_column_is_documented():
    doc = (PROJECT_ROOT / "docs" / "source-contract.md").read_text()
    for entity in ENTITIES.values():
        assert f"### {entity.name}" in doc
        for col in entity.columns:
            assert col.name in doc, f"{entity.name}.{col.name}"


def test_defaults_run_the_sample_shop(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env()
    assert s.source == "sample_shop" and s.sample_orders == 100_000
    assert s.layout.build_db != s.layout.published_db


def test_bad_settings_fail_clearly(monkeypatch):
    monkeypatch.setenv("RETENTION_SOURCE", "landing")
    monkeypatch.delenv("RETENTION_LANDING_DIR", raising=False)
    with pytest.raises(ValueError, match="needs RETENTION_LANDING_DIR"):
        Settings.from_env()
    monkeypatch.setenv("RETENTION_SOURCE", "sample_shop")
    monkeypatch.setenv("RETENTION_SAMPLE_ORDERS", "lots")
    with pytest.raises(ValueError, match="RETENTION_SAMPLE_ORDERS must be an integer"):
        Settings.from_env()


def test_shop_name_reaches_the_report_resource(monkeypatch):
    from orchestration.resources import resources_from_settings

    monkeypatch.setenv("RETENTION_SHOP_NAME", "Vinyl Corner")
    assert resources_from_settings(Settings.from_env())["shop_source"].display_name == "Vinyl Corner"
    monkeypatch.delenv("RETENTION_SHOP_NAME")
    assert resources_from_settings(Settings.from_env())["shop_source"].display_name == "Sample shop"
