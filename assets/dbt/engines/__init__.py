"""The engines of the dbt step, by their RETENTION_ENGINE name; `engine_for` is the one place that picks."""

from __future__ import annotations

from assets.dbt.engine import Engine
from assets.dbt.engines.duckdb import DuckDbEngine
from assets.dbt.engines.spark import SparkEngine
from assets.settings import ENGINES

ENGINE_TYPES: dict[str, type] = {DuckDbEngine.name: DuckDbEngine, SparkEngine.name: SparkEngine}


def engine_for(name: str) -> Engine:
    """The engine the `warehouse` resource names; one line naming the choices for any other."""
    if name not in ENGINES or name not in ENGINE_TYPES:
        raise ValueError(f"warehouse.engine={name!r}: expected one of {', '.join(ENGINES)} (RETENTION_ENGINE)")
    return ENGINE_TYPES[name]()
