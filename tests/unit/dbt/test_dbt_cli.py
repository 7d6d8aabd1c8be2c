"""The project's dbt resource skips dagster-dbt's `dbt --version` call and in-process adapter before each command."""

from __future__ import annotations

from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from dagster_dbt.core import resource as dagster_dbt_resource

from assets.dbt.cli import DbtCli, dbt_resource


def test_the_hooks_it_overrides_still_exist_in_dagster_dbt():
    # DbtCli replaces two private members; an upgrade that renames them would silently bring the costs back.
    assert "_cli_version" in DbtCliResource.__dict__
    assert callable(DbtCliResource.__dict__.get("_initialize_dbt_core_adapter"))
    source = open(dagster_dbt_resource.__file__, encoding="utf-8").read()
    assert "self._cli_version" in source and "self._initialize_dbt_core_adapter(" in source


def test_the_version_is_the_installed_dbt_core_without_a_dbt_process(monkeypatch):
    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", no_process)
    resource = dbt_resource()
    assert isinstance(resource, DbtCli)
    assert str(resource._cli_version) == installed_version("dbt-core")


def test_no_adapter_is_built_in_process():
    assert dbt_resource()._initialize_dbt_core_adapter(["build"]) is None
