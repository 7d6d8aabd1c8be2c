"""The shop's configuration file: found in a fixed order, unknown sections refused."""

import pytest

from assets.user_config import UserConfigError, find_config_file, load_user_config, section


def test_explicit_file_wins_and_a_missing_one_is_named(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "retention.yml").write_text("quality: {}\n")
    explicit = tmp_path / "mine.yml"
    explicit.write_text("landing: {}\n")
    assert find_config_file(explicit, landing_dir=landing) == explicit.resolve()
    assert find_config_file(None, landing_dir=landing, project_dir=None) == (landing / "retention.yml").resolve()
    with pytest.raises(UserConfigError, match="nope.yml"):
        find_config_file(tmp_path / "nope.yml")


def test_no_file_means_no_settings(tmp_path):
    assert find_config_file(None, landing_dir=tmp_path, data_dir=tmp_path, project_dir=None) is None
    assert load_user_config(None) == {}


def test_unknown_section_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "retention.yml"
    path.write_text("qualty:\n  x: 1\n")
    with pytest.raises(UserConfigError, match=r"retention.yml: unknown section\(s\) qualty"):
        load_user_config(path)


def test_sections_are_read(tmp_path):
    path = tmp_path / "retention.yml"
    path.write_text("quality:\n  closed_days: ['2025-12-25']\n")
    cfg = load_user_config(path)
    assert section(cfg, "quality") == {"closed_days": ["2025-12-25"]}
    assert section(cfg, "landing") == {}
