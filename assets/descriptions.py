"""What each published table and column means, as the dbt project documents it.

The analysts' file is written with CREATE TABLE AS, which carries no
comments, and the Parquet exports are read from the build file: both take
their descriptions from here, at publish time, so one source (the dbt yml,
doc blocks rendered by `dbt parse` into `target/manifest.json`) describes
every engine's build (a Spark build's tables are copied back without
comments) and a build file made before a description changed.

`table_docs(manifest)` is pure; `load_table_docs(path)` reads the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from assets.manifest import MANIFEST_PATH
from models.predictions import FIT_METADATA_TABLE

DBT_MANIFEST = MANIFEST_PATH


@dataclass(frozen=True)
class TableDoc:
    description: str
    columns: Mapping[str, str] = field(default_factory=dict)


# Tables the pipeline writes outside dbt's models, described here once.
OTHER_TABLE_DOCS: dict[tuple[str, str], TableDoc] = {
    FIT_METADATA_TABLE: TableDoc(
        "The last predictions fit, one row: BG/NBD and Gamma-Gamma parameters, holdout check, counts, "
        "or why nothing was fitted (written by the dbt Python model mart_customer_predictions).",
        {"metadata": "The fit's numbers as JSON (models.predictions.run_metadata)."},
    ),
    ("raw", "quarantine"): TableDoc(
        "Rows extraction refused, with the reason and where they came from. Personal fields are removed "
        "from `record`.",
        {
            "entity": "Source entity the row belongs to (orders, carts, ...).",
            "reason": "Why the row was not loaded (which contract rule it breaks).",
            "source_file": "File (or query) the row came from.",
            "row_number": "Row number within source_file.",
            "quarantined_at": "When the row was quarantined (UTC).",
            "record": "The row's contract fields as JSON, personal fields left out.",
        },
    ),
    ("audit", "suite_runs"): TableDoc(
        "One row per expectation suite validated in a run: rows validated, ERROR and WARN failures, "
        "Data Docs page (docs/quality.md)."
    ),
    ("audit", "validation_results"): TableDoc(
        "One row per expectation per run: outcome, severity, observed value, unexpected counts and examples "
        "(blanked for personal columns; docs/quality.md)."
    ),
}


_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1", re.S)
# A line that starts a list item or a table row keeps its line break.
_BLOCK_START = re.compile(r"^\s*(?:[-*+]\s|\d+\.\s|\|)")


def plain_text(markdown: object) -> str:
    """A dbt description as plain text (pure): no emphasis markers (`**bold**`, `__bold__`),
    the lines of a wrapped paragraph joined, paragraphs, list items and table rows kept apart."""
    text = _EMPHASIS.sub(r"\2", str(markdown or "")).strip()
    out: list[str] = []
    for line in text.splitlines():
        if out and line.strip() and out[-1].strip() and not _BLOCK_START.match(line):
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def _text(value: object) -> str:
    return plain_text(value)


def table_docs(manifest: Mapping) -> dict[tuple[str, str], TableDoc]:
    """(schema, table) -> description and column descriptions of every dbt model, plus OTHER_TABLE_DOCS."""
    out = dict(OTHER_TABLE_DOCS)
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        columns = {name: _text(col.get("description")) for name, col in (node.get("columns") or {}).items()}
        key = (node["schema"], node.get("alias") or node["name"])
        out[key] = TableDoc(_text(node.get("description")), {c: d for c, d in columns.items() if d})
    return out


def load_table_docs(path: Path = DBT_MANIFEST) -> dict[tuple[str, str], TableDoc]:
    """table_docs of the manifest at `path`; a missing manifest is an error naming it (run `make manifest`)."""
    try:
        manifest = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no dbt manifest, so no table descriptions; run `make manifest`") from None
    return table_docs(manifest)
