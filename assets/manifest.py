"""The dbt manifest, read once for every area: models, their data tests, their contract.

`dbt parse` (`make manifest`) writes dbt_project/target/manifest.json without
a database. The extraction, dbt, quality and serving areas all read what dbt
states about a model here (never from each other): the marts registry
(assets/marts.py), the data tests the Dagster checks describe, the columns
and types the quality suites take. The file is read once per process and
again when it changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from assets.settings import DBT_PROJECT_DIR

MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"

# dbt's type names -> DuckDB's information_schema spelling
_TYPE_ALIASES = {"STRING": "VARCHAR", "TEXT": "VARCHAR", "INT": "INTEGER", "INT4": "INTEGER", "INT8": "BIGINT",
                 "FLOAT8": "DOUBLE", "FLOAT": "FLOAT", "BOOL": "BOOLEAN", "NUMERIC": "DECIMAL"}


@dataclass(frozen=True)
class DbtTest:
    name: str
    kind: str  # the generic test: not_null, unique, accepted_values, accepted_range, ...
    column: str | None
    kwargs: Mapping[str, Any]
    severity: str  # "error" or "warn"
    filtered: bool  # a `where` config: the test sees only part of the rows

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> "DbtTest":
        """One data test as its manifest node states it; a singular test has kind ''."""
        meta = node.get("test_metadata") or {}
        kwargs = meta.get("kwargs") or {}
        cfg = node.get("config") or {}
        return cls(
            name=node.get("name", ""), kind=meta.get("name") or "",
            column=node.get("column_name") or kwargs.get("column_name"),
            kwargs=kwargs, severity=str(cfg.get("severity") or "error").lower(), filtered=bool(cfg.get("where")),
        )


@dataclass(frozen=True)
class MartContract:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, DuckDB type), in the yml's order
    enforced: bool
    tests: tuple[DbtTest, ...]

    @property
    def column_names(self) -> set[str]:
        return {c for c, _ in self.columns}


_CACHE: dict[str, tuple[float, dict]] = {}


def load_manifest(path: Path = MANIFEST_PATH) -> dict:
    """The parsed manifest at `path` (cached while the file is unchanged)."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: dbt manifest not found; expected the file `make manifest` (dbt parse) writes, "
            "from which the marts registry, the mart suites and the dbt checks are read") from None
    key = str(path)
    if key not in _CACHE or _CACHE[key][0] != mtime:
        _CACHE[key] = (mtime, json.loads(path.read_text()))
    return _CACHE[key][1]


def documented_schemas(manifest: Mapping[str, Any]) -> set[str]:
    """The schemas dbt's docs catalog reads: those of the project's relations and of its sources."""
    relations = [n for n in (manifest.get("nodes") or {}).values()
                 if n.get("resource_type") in ("model", "seed", "snapshot")]
    return {n["schema"] for n in [*relations, *(manifest.get("sources") or {}).values()] if n.get("schema")}


def models(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Enabled model nodes by name."""
    return {n["name"]: n for n in (manifest.get("nodes") or {}).values() if n.get("resource_type") == "model"}


def duckdb_type(dbt_type: str | None) -> str:
    t = (dbt_type or "").strip().upper()
    base, _, rest = t.partition("(")
    base = _TYPE_ALIASES.get(base, base)
    return base + ("(" + rest.replace(" ", "") if rest else "")


def mart_contract(manifest: dict, model: str) -> MartContract:
    nodes = [n for n in manifest.get("nodes", {}).values()
             if n.get("resource_type") == "model" and n.get("name") == model]
    if not nodes:
        raise KeyError(f"dbt manifest: no model {model!r}; expected a mart with that name in dbt_project/models")
    node = nodes[0]
    columns = tuple((c, duckdb_type(v.get("data_type"))) for c, v in node.get("columns", {}).items())
    enforced = bool((node.get("config", {}).get("contract") or {}).get("enforced"))
    tests = []
    for t in manifest.get("nodes", {}).values():
        if t.get("resource_type") != "test" or t.get("attached_node") != node["unique_id"]:
            continue
        if not t.get("test_metadata") or (t.get("config") or {}).get("enabled") is False:
            continue
        tests.append(DbtTest.from_node(t))
    return MartContract(model, columns, enforced, tuple(tests))
