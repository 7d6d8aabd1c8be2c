"""Section `audiences` of retention.yml: thresholds checked in one line, passed to dbt as vars."""

from __future__ import annotations

import pytest

from assets.audiences import AUDIENCES, THRESHOLDS, audience_vars, default_vars, var_name
from assets.run_state import DbtBuildConfig, dbt_vars
from assets.resources import ShopSourceResource
from assets.settings import PROJECT_ROOT
from assets.user_config import UserConfigError, load_user_config


def config(tmp_path, text: str) -> dict:
    path = tmp_path / "retention.yml"
    path.write_text(text)
    return load_user_config(path)


def test_every_threshold_has_a_default_in_dbt_project_within_its_range():
    defaults = default_vars()
    assert set(defaults) == {var_name(a, k) for a, k in THRESHOLDS}
    for (audience, key), threshold in THRESHOLDS.items():
        assert threshold.problem(defaults[var_name(audience, key)]) is None, (audience, key)
    assert {a for a, _ in THRESHOLDS} == set(AUDIENCES)


def test_a_shop_override_reaches_the_dbt_vars(tmp_path):
    cfg = config(tmp_path, "audiences:\n  win_back:\n    max_p_alive: 0.25\n  cart_recovery:\n    within_hours: 48\n")
    vars_ = dbt_vars(ShopSourceResource(), None, DbtBuildConfig(), audience_vars(cfg))
    assert vars_["audience_win_back__max_p_alive"] == 0.25
    assert vars_["audience_cart_recovery__within_hours"] == 48
    assert "audience_vip_at_risk__top_share" not in vars_  # dbt_project.yml's default applies
    assert audience_vars({}) == {}


@pytest.mark.parametrize(("text", "message"), [
    ("audiences:\n  win_bak:\n    max_p_alive: 0.2\n", "audiences.win_bak: unknown audience"),
    ("audiences:\n  win_back:\n    max_palive: 0.2\n", "audiences.win_back.max_palive: unknown threshold"),
    ("audiences:\n  win_back:\n    max_p_alive: 2\n", "audiences.win_back.max_p_alive: expected 0..1"),
    ("audiences:\n  win_back:\n    max_p_alive: high\n", "audiences.win_back.max_p_alive: expected a number"),
    ("audiences:\n  due_for_next_order:\n    within_days: 7.5\n", "within_days: expected a whole number"),
    ("audiences:\n  second_order_nudge:\n    window_low_percentile: 0.9\n", "must be below window_high_percentile"),
    ("audiences:\n  vip_at_risk: 0.2\n", "audiences.vip_at_risk: expected a mapping"),
])
def test_a_bad_threshold_is_one_line_naming_the_file_and_key(tmp_path, text, message):
    with pytest.raises(UserConfigError) as exc:
        audience_vars(config(tmp_path, text))
    assert message in str(exc.value) and "retention.yml" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_python_list_of_audiences_is_the_dbt_one():
    import re

    macro = (PROJECT_ROOT / "dbt_project" / "macros" / "audience_list.sql").read_text()
    assert tuple(re.findall(r"\('(\w+)', ", macro)) == AUDIENCES
