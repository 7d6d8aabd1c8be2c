"""The marts registry: what each mart is for, declared once, in the dbt project.

Every mart's yml carries `config: meta: retention:` with three keys
(docs/architecture.md, "Adding a mart"):

- `report`: the report parts that read the mart (names of
  assets/serving/report.py's `SECTIONS`); `[]` when the report does not read it.
- `quality_suite`: true when the mart has a GX suite of business rules
  (assets/quality/).
- `spark_parity_key`: the columns that identify a row when the DuckDB and
  Spark builds of the mart are compared cell by cell; null when not compared.
- `engines` (optional, default both): the engines that build the mart, for a
  mart its model disables on one (`enabled: "{{ target.type != 'spark' }}"`):
  the manifest is parsed for DuckDB, so only this says what Spark leaves out.

Everything that once kept its own list of marts (the report, the quality
suites, the Spark parity tests, the exposures, the docs) reads or is tested
against `marts()`. A mart whose meta is missing or misspelt fails here with
one line naming the yml file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from assets.manifest import load_manifest, models

MART_PREFIX = "mart_"
META_KEY = "retention"
# key -> what it must hold (for the error message)
META_FIELDS = {
    "report": "a list of report section names ([] when the report does not read the mart)",
    "quality_suite": "true or false",
    "spark_parity_key": "a list of key columns, or null when the engines' builds are not compared",
}
ENGINES = ("duckdb", "spark")
OPTIONAL_FIELDS = {"engines": f"a list of the engines that build the mart, of {', '.join(ENGINES)} (default: both)"}


class MartRegistryError(ValueError):
    """A mart's `meta.retention` in its yml is missing or malformed."""


@dataclass(frozen=True)
class Mart:
    name: str
    yml: str  # the properties file declaring it, relative to dbt_project/
    language: str  # "sql" or "python"
    report: tuple[str, ...]
    quality_suite: bool
    spark_parity_key: tuple[str, ...] | None
    engines: tuple[str, ...] = ENGINES


def _yml_of(node: Mapping[str, Any]) -> str:
    patch = node.get("patch_path") or ""
    return patch.split("://", 1)[-1] or node.get("original_file_path", "?")


def mart_from_node(node: Mapping[str, Any]) -> Mart:
    """The registry entry of one mart's manifest node; raises MartRegistryError naming the yml and key."""
    name, yml = node["name"], _yml_of(node)
    where = f"dbt_project/{yml}: {name}"
    meta = ((node.get("config") or {}).get("meta") or {}).get(META_KEY)
    if not isinstance(meta, Mapping):
        raise MartRegistryError(
            f"{where}: no `config: meta: {META_KEY}:` mapping; every mart declares {', '.join(META_FIELDS)}")
    missing = [k for k in META_FIELDS if k not in meta]
    unknown = sorted(set(meta) - set(META_FIELDS) - set(OPTIONAL_FIELDS))
    if missing or unknown:
        raise MartRegistryError(
            f"{where}: meta.{META_KEY} " + "; ".join(
                ([f"lacks {', '.join(missing)}"] if missing else []) + ([f"has unknown {', '.join(unknown)}"] if unknown else []))
            + f" (expected exactly {', '.join(META_FIELDS)})")
    report, suite, key = meta["report"], meta["quality_suite"], meta["spark_parity_key"]
    if not isinstance(report, list) or not all(isinstance(s, str) and s for s in report):
        raise MartRegistryError(f"{where}: meta.{META_KEY}.report is {report!r}; expected {META_FIELDS['report']}")
    if not isinstance(suite, bool):
        raise MartRegistryError(f"{where}: meta.{META_KEY}.quality_suite is {suite!r}; expected true or false")
    if key is not None and (not isinstance(key, list) or not key or not all(isinstance(c, str) for c in key)):
        raise MartRegistryError(
            f"{where}: meta.{META_KEY}.spark_parity_key is {key!r}; expected {META_FIELDS['spark_parity_key']}")
    columns = set(node.get("columns") or {})
    stray = [c for c in (key or []) if c not in columns]
    if stray:
        raise MartRegistryError(f"{where}: meta.{META_KEY}.spark_parity_key names {stray}, not columns of the mart")
    engines = meta.get("engines", list(ENGINES))
    if not isinstance(engines, list) or not engines or not set(engines) <= set(ENGINES):
        raise MartRegistryError(f"{where}: meta.{META_KEY}.engines is {engines!r}; expected {OPTIONAL_FIELDS['engines']}")
    return Mart(name, yml, node.get("language") or "sql", tuple(report), suite, tuple(key) if key else None,
                tuple(engines))


def marts(manifest: Mapping[str, Any] | None = None) -> dict[str, Mart]:
    """Every mart (model named `mart_*`) by name, in name order; `manifest` defaults to `make manifest`'s."""
    manifest = load_manifest() if manifest is None else manifest
    nodes = models(manifest)
    return {name: mart_from_node(nodes[name]) for name in sorted(nodes) if name.startswith(MART_PREFIX)}


def report_marts(manifest: Mapping[str, Any] | None = None) -> dict[str, tuple[str, ...]]:
    """Mart -> the report sections that read it, for the marts the report reads."""
    return {m.name: m.report for m in marts(manifest).values() if m.report}


def quality_suite_marts(manifest: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    return tuple(m.name for m in marts(manifest).values() if m.quality_suite)


def spark_parity_keys(manifest: Mapping[str, Any] | None = None) -> dict[str, tuple[str, ...]]:
    """Mart -> the columns identifying a row, for the marts both engines must build alike."""
    return {m.name: m.spark_parity_key for m in marts(manifest).values() if m.spark_parity_key}


def marts_not_built_on(engine: str, manifest: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The marts `engine` does not build (their models are disabled on it)."""
    return tuple(m.name for m in marts(manifest).values() if engine not in m.engines)
