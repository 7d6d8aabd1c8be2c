"""The dbt command lines of the dbt step, and the `dbt` resource (pure functions, unit-tested)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib.metadata import version as installed_version
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version

from assets.dbt.project import dbt_project
from assets.dbt_runs import dbt_executable
from assets.settings import DBT_PROJECT_DIR


def dbt_build_args(vars_: Mapping[str, Any], full_refresh: bool = False, target: str | None = None) -> list[str]:
    """Arguments of the `dbt build` invocation (pure, unit-tested).

    Unit tests pin SQL logic on fixed inputs, so they cannot fail on a night's
    data: they run where the SQL changes (`make test`, tests/integration/dbt), not in every
    nightly build, where they cost 10-15 node-seconds. `target` None is the
    profile's default (DuckDB).
    """
    args = ["build", "--vars", json.dumps(dict(vars_), sort_keys=True), "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    if target:
        args += ["--target", target]
    return args


def dbt_test_args(vars_: Mapping[str, Any], excluded: Iterable[str]) -> list[str]:
    """Arguments of a `dbt test` of the selection less the `excluded` models, on the default target (pure, unit-tested).

    Excluding a model excludes every data test that reads it, so what runs is
    the tests of the models left and nothing else.
    """
    args = ["test", "--vars", json.dumps(dict(vars_), sort_keys=True), "--exclude-resource-type", "unit_test"]
    excluded = sorted(set(excluded))
    if excluded:
        # One value: dagster-dbt reads a single argument after --exclude.
        args += ["--exclude", " ".join(excluded)]
    return args


class DbtCli(DbtCliResource):
    """dagster-dbt's resource without two steps it takes before every dbt command, which this project never uses.

    Before each command DbtCliResource asks the dbt executable for its version
    (`dbt --version`, a second dbt process, ~1.5 s) and builds a dbt adapter in
    this process (~2.2 s), which only its `fetch_row_counts()` and
    `fetch_column_metadata()` need. The row counts here come from the
    warehouse after the build (`assets/dbt/metadata.py`) and the column
    metadata from the manifest, so both are skipped: the version is the
    installed dbt-core's, and no adapter is built. `tests/unit/dbt/test_dbt_cli.py`
    fails if dagster-dbt renames either hook.
    """

    @property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None


def dbt_resource() -> DbtCliResource:
    """The `dbt` resource for Definitions (the warehouse path comes from RETENTION_BUILD_DB)."""
    return DbtCli(
        project_dir=dbt_project(),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )
