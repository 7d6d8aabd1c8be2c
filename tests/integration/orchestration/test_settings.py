import os
import subprocess
import sys
from datetime import date

import pytest

from assets.extraction.contract import ENTITIES
from assets.settings import ENV_VARS, PROJECT_ROOT, Settings, SettingsError, redact_url
from assets.settings import PROJECT_ROOT


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


def test_the_refit_policy_settings_reach_the_shop_source(monkeypatch):
    from assets.resources import resources_from_settings

    _clean(monkeypatch)
    monkeypatch.setenv("RETENTION_PREDICTIONS_REFIT_DAYS", "30")
    monkeypatch.setenv("RETENTION_PREDICTIONS_REFIT_GROWTH", "0.25")
    monkeypatch.setenv("RETENTION_PREDICTIONS_REFIT_DRIFT", "0.5")
    shop = resources_from_settings(Settings.from_env())["shop_source"]
    assert (shop.predictions_refit_days, shop.predictions_refit_growth, shop.predictions_refit_drift) == (30, 0.25, 0.5)


def test_landing_source_needs_a_landing_folder(monkeypatch):
    monkeypatch.setenv("RETENTION_SOURCE", "landing")
    monkeypatch.delenv("RETENTION_LANDING_DIR", raising=False)
    with pytest.raises(SettingsError, match="RETENTION_LANDING_DIR: RETENTION_SOURCE=landing needs it"):
        Settings.from_env()


def _clean(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("RETENTION_AS_OF_DATE", "2025-13-45", "expected a real calendar date YYYY-MM-DD"),
        ("RETENTION_AS_OF_DATE", "20250101", "expected a date YYYY-MM-DD"),
        ("RETENTION_SAMPLE_END_DATE", "yesterday", "expected a date YYYY-MM-DD"),
        ("RETENTION_SHOP_TIMEZONE", "Mars/Olympus", "expected an IANA time zone known to Python and DuckDB"),
        ("RETENTION_SHOP_TIMEZONE", "localtime", "expected an IANA time zone known to Python and DuckDB"),
        ("RETENTION_SCHEDULE_TIMEZONE", "Europe/Atlantis", "expected an IANA time zone"),
        ("RETENTION_CHURN_AFTER_DAYS", "0", "expected a whole number greater than 0"),
        ("RETENTION_ACTIVE_WINDOW_DAYS", "-30", "expected a whole number greater than 0"),
        ("RETENTION_SAMPLE_ORDERS", "lots", "expected a whole number greater than 0"),
        ("RETENTION_SAMPLE_SEED", "-1", "expected a whole number, 0 or more"),
        ("RETENTION_PREDICTIONS_REFIT_DAYS", "0", "expected a whole number greater than 0"),
        ("RETENTION_PREDICTIONS_REFIT_GROWTH", "ten percent", "expected a number greater than 0, e.g. 0.1 for 10%"),
        ("RETENTION_PREDICTIONS_REFIT_DRIFT", "-0.2", "expected a number greater than 0, e.g. 0.1 for 10%"),
        ("RETENTION_PREDICTIONS_REFIT_DRIFT", "nan", "expected a number greater than 0, e.g. 0.1 for 10%"),
        ("RETENTION_SCHEDULE_CRON", "0 25 * * *", "expected a cron expression"),
        ("RETENTION_SCHEDULE_CRON", "nightly", "expected a cron expression"),
        ("RETENTION_SOURCE", "ftp", "expected one of sample_shop, landing"),
        ("RETENTION_SHOP_CURRENCY", "dollars", "expected a three-letter currency code"),
        ("RETENTION_WEBHOOK_URL", "ftp://hooks.example.com/x", "expected an http(s) URL with a host"),
        ("RETENTION_WEBHOOK_URL", "https:///no-host", "expected an http(s) URL with a host"),
        ("RETENTION_DUCKDB_MEMORY_LIMIT", "3", "expected an amount with a unit, e.g. 3GB"),
        ("RETENTION_DUCKDB_MEMORY_LIMIT", "lots", "expected an amount with a unit, e.g. 3GB"),
    ],
)
def test_each_bad_value_is_named_with_what_is_expected_in_one_line(monkeypatch, name, value, expected):
    _clean(monkeypatch)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    message = str(err.value)
    assert "\n" not in message
    assert f"{name}=" in message and expected in message
    if name != "RETENTION_WEBHOOK_URL":
        assert repr(value) in message


def test_missing_landing_folder_is_refused_before_any_work(monkeypatch, tmp_path):
    _clean(monkeypatch)
    monkeypatch.setenv("RETENTION_SOURCE", "landing")
    monkeypatch.setenv("RETENTION_LANDING_DIR", str(tmp_path / "not-there"))
    with pytest.raises(SettingsError, match="RETENTION_LANDING_DIR=.*not-there.*expected an existing folder"):
        Settings.from_env()
    (tmp_path / "not-there").mkdir()
    assert Settings.from_env().landing_dir == tmp_path / "not-there"


def test_every_bad_variable_is_reported_at_once(monkeypatch):
    _clean(monkeypatch)
    bad = {
        "RETENTION_AS_OF_DATE": "2025-13-45",
        "RETENTION_SHOP_TIMEZONE": "Mars/Olympus",
        "RETENTION_CHURN_AFTER_DAYS": "0",
        "RETENTION_SCHEDULE_CRON": "every night",
    }
    for k, v in bad.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert [k for k in bad if f"{k}=" in str(err.value)] == list(bad)


def test_good_values_are_parsed(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("RETENTION_AS_OF_DATE", "2024-02-29")
    monkeypatch.setenv("RETENTION_SHOP_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("RETENTION_CHURN_AFTER_DAYS", "90")
    monkeypatch.setenv("RETENTION_SCHEDULE_CRON", "30 4 * * 1-5")
    monkeypatch.setenv("RETENTION_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/abc")
    s = Settings.from_env()
    assert (s.as_of_date, s.shop_timezone, s.churn_after_days) == (date(2024, 2, 29), "Europe/Berlin", 90)
    assert s.schedule_cron == "30 4 * * 1-5" and s.webhook_url.endswith("/abc")


def test_a_bad_webhook_url_is_reported_without_its_secret(monkeypatch):
    _clean(monkeypatch)
    monkeypatch.setenv("RETENTION_WEBHOOK_URL", "htps://user:pw@hooks.example.com/services/T0/B0/s3cr3tT0ken?sig=abc")
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    message = str(err.value)
    assert "RETENTION_WEBHOOK_URL='htps://hooks.example.com/…'" in message
    for secret in ("s3cr3tT0ken", "sig=abc", "user", "pw@"):
        assert secret not in message


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://hooks.example.com/services/T0/B0/s3cr3t", "https://hooks.example.com/…"),
        ("https://bot:s3cr3t@chat.example.com:8443/hook?token=s3cr3t", "https://chat.example.com:8443/…"),
        ("http://localhost:9000", "http://localhost:9000"),
        ("not a url s3cr3t", "<not a URL>"),
    ],
)
def test_redact_url_keeps_scheme_and_host_only(url, shown):
    assert redact_url(url) == shown


def test_definitions_refuse_to_load_with_bad_settings(tmp_path):
    env = {**os.environ, "RETENTION_CHURN_AFTER_DAYS": "0", "RETENTION_SHOP_TIMEZONE": "localtime"}
    out = subprocess.run(
        [sys.executable, "-c", "import orchestration.definitions"], env=env, capture_output=True, text=True,
        cwd=PROJECT_ROOT,
    )
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("assets.settings.SettingsError: invalid configuration: ")
    assert "RETENTION_CHURN_AFTER_DAYS='0'" in last and "RETENTION_SHOP_TIMEZONE='localtime'" in last


def test_shop_name_reaches_the_report_resource(monkeypatch):
    from assets.resources import resources_from_settings

    monkeypatch.setenv("RETENTION_SHOP_NAME", "Vinyl Corner")
    assert resources_from_settings(Settings.from_env())["shop_source"].display_name == "Vinyl Corner"
    monkeypatch.delenv("RETENTION_SHOP_NAME")
    assert resources_from_settings(Settings.from_env())["shop_source"].display_name == "Sample shop"


def test_the_configuration_check_prints_one_line_and_fails():
    env = {**os.environ, "RETENTION_AS_OF_DATE": "2025-13-45"}
    out = subprocess.run(
        [sys.executable, "-m", "assets.settings"], env=env, capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "SettingsError: invalid configuration: RETENTION_AS_OF_DATE='2025-13-45': expected a real calendar date YYYY-MM-DD"
    ]
    env["RETENTION_AS_OF_DATE"] = "2025-12-31"
    assert subprocess.run([sys.executable, "-m", "assets.settings"], env=env, cwd=PROJECT_ROOT).returncode == 0


def test_retention_rules_reach_the_assets_through_the_shop_source_resource(monkeypatch, tmp_path):
    from assets.resources import resources_from_settings

    monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_AS_OF_DATE", "2025-06-30")
    monkeypatch.setenv("RETENTION_ACTIVE_WINDOW_DAYS", "90")
    monkeypatch.setenv("RETENTION_CHURN_AFTER_DAYS", "60")
    shop = resources_from_settings(Settings.from_env())["shop_source"]
    assert (shop.as_of(), shop.active_window_days, shop.churn_after_days) == (date(2025, 6, 30), 90, 60)


def test_shop_source_rules_default_to_the_settings_defaults():
    from assets.resources import ShopSourceResource

    shop = ShopSourceResource()
    assert shop.as_of() is None
    assert str(shop.active_window_days) == ENV_VARS["RETENTION_ACTIVE_WINDOW_DAYS"][0]
    assert str(shop.churn_after_days) == ENV_VARS["RETENTION_CHURN_AFTER_DAYS"][0]


def test_the_duckdb_memory_limit_reaches_every_warehouse_connection(monkeypatch, tmp_path):
    from assets.resources import resources_from_settings

    _clean(monkeypatch)
    monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_DUCKDB_MEMORY_LIMIT", "512MB")
    warehouse = resources_from_settings(Settings.from_env())["warehouse"]
    con = warehouse.connect()
    try:
        limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()
    # DuckDB reports the limit in its own units (512MB = 488.2 MiB).
    assert limit.replace(" ", "") in ("488.2MiB", "512.0MB", "512MB"), limit
