"""The dbt step on DuckDB (the default engine): one `dbt build` in the build warehouse.

The predictions are a dbt Python model there (mart_customer_predictions.py,
calling models.predictions), so the marts that read them build in the same
invocation and one dbt process does the whole step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TextIO

import dagster as dg

from assets.dbt.cli import dbt_build_args
from assets.dbt.console import DbtProgressFilter
from assets.dbt.engine import BuildRequest, DbtEvent
from assets.settings import PROJECT_ROOT


class DuckDbEngine:
    name = "duckdb"

    def console(self, stream: TextIO) -> TextIO:
        return DbtProgressFilter(stream)

    def build(self, context: dg.AssetExecutionContext, request: BuildRequest) -> Iterator[DbtEvent]:
        # The Python model mart_customer_predictions imports this repository's
        # `models` package (profiles.yml `module_paths`).
        os.environ["RETENTION_CODE_DIR"] = str(PROJECT_ROOT)
        args = dbt_build_args(request.vars, request.full_refresh)
        yield from request.dbt.cli(args, context=context, target_path=request.target_path).stream()
