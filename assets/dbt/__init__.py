"""The dbt step: dbt models as Dagster assets, built by one of the engines behind `Engine`.

    project.py      the dbt project, asset keys, check names and descriptions
    cli.py          dbt's command lines, the `dbt` resource
    console.py      what the console shows of a build
    engine.py       the `Engine` interface and what a build reports
    engines/        duckdb.py (default), spark.py (+ spark_plan.py); `engine_for` picks one
    metadata.py     row counts and the predictions' fit, after a build
    assets.py       `build_dbt_assets`, the multi-asset that runs the step
Run folders and partial parse live in the shared core (assets/dbt_runs.py):
the dbt docs asset uses them too. Only the names other packages use are
exported here; importing this package reads no manifest.
"""

from assets.dbt.assets import build_dbt_assets
from assets.dbt.cli import dbt_build_args, dbt_resource
from assets.dbt.console import DbtProgressFilter, is_dbt_progress_line
from assets.dbt.engine import built_tables
from assets.dbt.metadata import fit_metadata_values, row_count_sql
from assets.dbt.project import PREDICTIONS_KEY, dbt_project, describe_dbt_test
from assets.dbt_runs import (
    KEEP_DBT_RUNS,
    PARTIAL_PARSE_FILE,
    dbt_executable,
    dbt_runs_dir,
    latest_partial_parse,
    prune_dbt_runs,
    seed_partial_parse,
)

__all__ = [
    "KEEP_DBT_RUNS", "PARTIAL_PARSE_FILE", "PREDICTIONS_KEY", "DbtProgressFilter", "build_dbt_assets", "built_tables",
    "dbt_build_args", "dbt_executable", "dbt_project", "dbt_resource", "dbt_runs_dir", "describe_dbt_test",
    "fit_metadata_values", "is_dbt_progress_line", "latest_partial_parse", "prune_dbt_runs", "row_count_sql",
    "seed_partial_parse",
]


def __getattr__(name: str):
    # `from assets.dbt import retention_dbt_assets` builds the assets (reads the
    # manifest) on first use, not when the package is imported.
    if name == "retention_dbt_assets":
        return build_dbt_assets()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
