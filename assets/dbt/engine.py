"""The one interface every engine of the dbt step implements, and what a build reports.

An engine builds the dbt models a run selected in the build warehouse and
yields dagster-dbt's events: one `Output` per table it built (its report of
what was built: `built_tables`), one `AssetCheckResult` per data test dbt
ran. The asset factory (assets/dbt/assets.py) picks the engine from the
`warehouse` resource (`engine_for`, assets/dbt/engines/__init__.py), wraps
stdout in the engine's console filter, holds the events until the build is
over and adds each table's row count; it knows nothing else of the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO, Union

import dagster as dg
from dagster_dbt import DbtCliResource

from assets.dbt.project import DBT_LAYERS
from assets.resources import WarehouseResource

# What dagster-dbt's stream yields inside a multi-asset.
DbtEvent = Union[dg.Output, dg.AssetMaterialization, dg.AssetCheckResult, dg.AssetObservation]


@dataclass(frozen=True)
class BuildRequest:
    """What one run asks of the engine, besides the selection (the context's)."""

    dbt: DbtCliResource
    warehouse: WarehouseResource
    vars: Mapping[str, Any]  # dbt --vars (assets.run_state.dbt_vars)
    full_refresh: bool
    # This step's folder under the run folders (assets/dbt_runs.py): dbt's target path.
    target_path: Path


class Engine(Protocol):
    """An engine of the dbt step (RETENTION_ENGINE)."""

    name: str

    def console(self, stream: TextIO) -> TextIO:
        """`stream` less the lines of dbt (and of the engine) that only report progress."""
        ...

    def build(self, context: dg.AssetExecutionContext, request: BuildRequest) -> Iterator[DbtEvent]:
        """Build and test the context's selected models in `request.warehouse.build_db`, yielding their events.

        Every table built ends up in the build warehouse, in its layer's
        schema, before the last event; a failure raises after yielding the
        events of what was built.
        """
        ...


def built_outputs(events: Iterable, key_for_output) -> dict[str, dg.AssetKey]:
    """{output name: <layer>/<model> key} of every table a dbt build reported as built, in build order."""
    keys = {
        ev.output_name: key_for_output(ev.output_name)
        for ev in events
        if isinstance(ev, dg.Output) and str(getattr(ev.metadata.get("status"), "value", "")).lower() != "error"
    }
    return {name: key for name, key in keys.items() if len(key.path) == 2 and key.path[0] in DBT_LAYERS}


def built_tables(events: Iterable, key_for_output) -> list[tuple[str, str]]:
    """(layer, model) of every table a dbt build reported as built, in build order."""
    return list(dict.fromkeys(tuple(k.path) for k in built_outputs(events, key_for_output).values()))
