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
        # The Python models' fits call BLAS on vectors of one weight per
        # distinct customer history. OpenBLAS threads there busy-wait against
        # DuckDB's threads and the other dbt node: at 1M orders the backtest's
        # six fits took 17.6 CPU-s with them and 3.5 with one thread, and the
        # sums no longer depend on the machine's core count. Set before the
        # dbt process imports numpy; an operator's own value is kept.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        args = dbt_build_args(request.vars, request.full_refresh)
        yield from request.dbt.cli(args, context=context, target_path=request.target_path).stream()
