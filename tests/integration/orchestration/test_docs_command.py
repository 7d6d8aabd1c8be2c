"""`make docs` (orchestration.docs): the data folder RETENTION_DATA_DIR names, with its shop's time zone."""

from __future__ import annotations

import os

import pytest

import orchestration.docs as docs_command


@pytest.fixture
def captured(monkeypatch, tmp_path):
    calls = {}

    def fake_build(build_db, docs_dir, vars_, **kwargs):
        calls.update(build_db=build_db, docs_dir=docs_dir, vars=vars_)
        return docs_dir / "index.html"

    for name in [n for n in list(os.environ) if n.startswith("RETENTION_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(docs_command, "build_dbt_docs", fake_build)
    monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path / "shop"))
    return calls


def test_docs_read_this_data_folders_build_with_the_configured_time_zone(captured, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RETENTION_SHOP_TIMEZONE", "Europe/Berlin")
    assert docs_command.main() == 0
    assert captured["build_db"] == tmp_path / "shop" / "build" / "warehouse.duckdb"
    assert captured["docs_dir"] == tmp_path / "shop" / "dbt_docs"
    assert captured["vars"]["shop_timezone"] == "Europe/Berlin"
    assert "shop time zone Europe/Berlin" in capsys.readouterr().out


def test_without_a_setting_the_sources_own_time_zone_is_used(captured, monkeypatch, tmp_path):
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    monkeypatch.setenv("RETENTION_SOURCE", "landing")
    monkeypatch.setenv("RETENTION_LANDING_DIR", str(landing))
    assert docs_command.main() == 0
    assert captured["vars"]["shop_timezone"] == "UTC"  # the landing source's default, not New York
