"""Section `quality` of retention.yml -> QualityConfig: pure, no warehouse, no Great Expectations."""

from datetime import date

import pytest

from assets.quality.checks import config_for_shop
from assets.quality.config import DEFAULT_CONFIG, ERROR, RULE_KINDS, USER_KEYS, WARN
from assets.quality.shop_config import quality_config
from assets.quality.suites import all_suites
from assets.user_config import UserConfigError, load_user_config

RULES = {f"{s.name}.{r.id}": r.kind for s in all_suites().values() for r in s.rules}


def severity(config, key: str) -> str:
    suite, rule_id = key.split(".", 1)
    return config.severity(suite, rule_id, RULES[key])


def test_empty_section_is_the_default_config():
    assert quality_config({}) == DEFAULT_CONFIG
    assert quality_config(None) == DEFAULT_CONFIG


def test_every_rule_kind_has_a_default_severity():
    assert set(DEFAULT_CONFIG.default_severity) == set(RULE_KINDS)
    assert set(RULES.values()) <= set(RULE_KINDS)


def test_severity_by_kind_rule_id_and_suite_rule():
    config = quality_config({"severity": {"volume": "WARN", "raw_orders.no_empty_day": "error",
                                          "subtotal_matches_lines": "ERROR"}})
    assert severity(DEFAULT_CONFIG, "raw_orders.no_empty_run") == ERROR
    assert severity(config, "raw_orders.no_empty_run") == WARN  # the kind
    assert severity(config, "raw_carts.no_empty_run") == WARN
    assert severity(config, "raw_orders.no_empty_day") == ERROR  # the named rule beats its kind
    assert severity(config, "raw_carts.no_empty_day") == WARN
    assert severity(config, "raw_orders.subtotal_matches_lines") == ERROR


def test_a_kind_set_by_the_user_covers_the_built_in_rule_defaults_of_that_kind():
    assert severity(DEFAULT_CONFIG, "raw_customers.freshness") == WARN
    config = quality_config({"severity": {"volume": "ERROR"}})
    assert severity(config, "raw_orders.daily_volume_spike") == ERROR
    assert severity(config, "raw_customers.freshness") == WARN  # another kind keeps its defaults


def test_thresholds_and_closed_days():
    config = quality_config({
        "freshness_lag_days": {"carts": 7},
        "closed_weekdays": ["sat", "Sunday"],
        "closed_days": ["2025-12-25", date(2025, 12, 26)],
        "quarantine_rate": {"warn": 0.02, "error": 0.2},
        "daily_spike_factor": 4,
        "empty_run_days": 2,
        "subtotal_tolerance": 0.5,
    })
    assert config.freshness_lag_days["carts"] == 7
    assert config.freshness_lag_days["orders"] == DEFAULT_CONFIG.freshness_lag_days["orders"]
    assert config.closed_weekdays == ("sat", "sun") and config.closed_isodows == (6, 7)
    assert config.closed_days == (date(2025, 12, 25), date(2025, 12, 26))
    assert (config.quarantine_rate_warn, config.quarantine_rate_error) == (0.02, 0.2)
    assert config.daily_spike_factor == 4.0 and config.empty_run_days == 2 and config.subtotal_tolerance == 0.5
    suite = all_suites(config)["raw_orders"]
    assert suite.rule("daily_volume_spike").kwargs["max_ratio"] == 4.0
    assert suite.rule("no_empty_run").kwargs["min_run_days"] == 2
    assert suite.rule("quarantine_rate_warn").kwargs["max_rate"] == 0.02
    assert suite.rule("quarantine_rate").kwargs == {"max_rate": 0.2, "min_quarantined_rows": 10}
    assert "DATE '2025-12-25'" in suite.frames["daily"] and "isodow(days.day) in (6, 7)" in suite.frames["daily"]


@pytest.mark.parametrize("section, key", [
    ({"daily_spike_factr": 4}, "quality.daily_spike_factr"),
    ({"severity": {"freshnes": "WARN"}}, "quality.severity.freshnes"),
    ({"severity": {"raw_orders.freshness": "FATAL"}}, "quality.severity.raw_orders.freshness"),
    ({"freshness_lag_days": {"basket": 2}}, "quality.freshness_lag_days.basket"),
    ({"freshness_lag_days": {"carts": -1}}, "quality.freshness_lag_days.carts"),
    ({"closed_weekdays": ["funday"]}, "quality.closed_weekdays"),
    ({"closed_weekdays": ["saturnday"]}, "quality.closed_weekdays"),
    ({"daily_min_typical_records": 0}, "quality.daily_min_typical_records"),
    ({"closed_days": ["25/12/2025"]}, "quality.closed_days"),
    ({"quarantine_rate": {"warn": 0.5, "error": 0.1}}, "quality.quarantine_rate"),
    ({"quarantine_rate": {"warn": 2}}, "quality.quarantine_rate.warn"),
    ({"daily_spike_factor": 1}, "quality.daily_spike_factor"),
    ({"daily_spike_factor": "4"}, "quality.daily_spike_factor"),
    ({"raw_volume_band": [3, 1]}, "quality.raw_volume_band"),
])
def test_bad_key_or_value_names_the_file_and_the_key(section, key):
    with pytest.raises(UserConfigError) as err:
        quality_config(section, "/shop/retention.yml", known_rules=RULES)
    message = str(err.value)
    assert message.startswith(f"/shop/retention.yml: {key}")
    assert "\n" not in message


def test_every_documented_key_is_a_user_key():
    from assets.settings import PROJECT_ROOT

    doc = (PROJECT_ROOT / "docs" / "quality.md").read_text()
    missing = [k for k in USER_KEYS if f"`{k}`" not in doc]
    assert missing == []


def test_shop_config_file_reaches_the_quality_config(tmp_path):
    path = tmp_path / "retention.yml"
    path.write_text("quality:\n  severity: {freshness: WARN}\n  freshness_lag_days: {carts: 7}\n")
    config = config_for_shop(load_user_config(path))
    assert severity(config, "raw_orders.freshness") == WARN
    assert config.freshness_lag_days["carts"] == 7
    path.write_text("quality:\n  closed_weekday: [sat]\n")
    with pytest.raises(UserConfigError, match=f"^{path}: quality.closed_weekday: unknown key"):
        config_for_shop(load_user_config(path))
    assert config_for_shop({}) == DEFAULT_CONFIG
