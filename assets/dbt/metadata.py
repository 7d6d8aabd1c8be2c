"""What Dagster shows with each dbt table: its row count, and the predictions' fit.

Read after the engine's build is over (the dbt process holds the
warehouse's write lock while it runs; dagster-dbt's fetch_row_counts() would
query during it), from the build warehouse, whichever engine built it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg

from assets.dbt.engine import built_outputs
from assets.dbt.project import PREDICTIONS_KEY
from assets.resources import WarehouseResource
from models.predictions import FIT_METADATA_TABLE


def row_count_sql(keys: list[dg.AssetKey]) -> str:
    """One query counting the rows of each <layer>/<model> asset's table (schema = layer; pure, unit-tested)."""
    parts = [
        f"select '{key.to_user_string()}' as asset, count(*) as row_count from \"{key.path[0]}\".\"{key.path[-1]}\""
        for key in keys
    ]
    return "\nunion all\n".join(parts)


def with_row_counts(events: list, key_for_output, warehouse: WarehouseResource, log) -> list:
    """The dbt events, each model's Output with `dagster/row_count` of the table it built.

    `key_for_output` maps an Output's name to its asset key.
    """
    keys = built_outputs(events, key_for_output)
    if not keys:
        return events
    try:
        con = warehouse.connect(read_only=True)
        try:
            counts = dict(con.execute(row_count_sql(list(keys.values()))).fetchall())
            fit = _fit_metadata(con) if PREDICTIONS_KEY in keys.values() else {}
        finally:
            con.close()
    except Exception as exc:  # metadata is a nicety: never fail the build over it
        log.warning(f"dbt row counts skipped: {exc}")
        return events
    out = []
    for ev in events:
        key = keys.get(ev.output_name) if isinstance(ev, dg.Output) else None
        extra = {**(fit if key == PREDICTIONS_KEY else {})}
        if key and counts.get(key.to_user_string()) is not None:
            extra["dagster/row_count"] = counts[key.to_user_string()]
        out.append(ev.with_metadata({**ev.metadata, **extra}) if extra else ev)
    return out


def _fit_metadata(con) -> dict:
    schema, table = FIT_METADATA_TABLE
    found = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?", [schema, table]
    ).fetchone()[0]
    if not found:
        return {}
    return fit_metadata_values(json.loads(con.execute(f'select metadata from "{schema}"."{table}"').fetchone()[0]))


def fit_metadata_values(fit: Mapping[str, Any]) -> dict[str, Any]:
    """The predictions fit's JSON (models.predictions.run_metadata) as Dagster metadata (pure, unit-tested)."""
    md: dict[str, Any] = {}
    for name, value in fit.items():
        if name == "holdout_by_frequency":
            md[name] = dg.MetadataValue.md(_markdown_rows(value))
        elif isinstance(value, (dict, list)):
            md[name] = dg.MetadataValue.json(value)
        else:
            md[name] = value
    return md


def _markdown_rows(rows: list[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = ["| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in columns) + " |"
            for r in rows]
    return head + "\n".join(body)
