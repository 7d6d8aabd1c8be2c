"""The dbt project as Dagster sees it: the project, asset keys and groups, what each data test checks.

`dbt_project()` is the DbtProject, prepared once per process when the dbt
assets are first built (importing this module does no work). The translator
maps sources to the extraction assets (raw/<entity>) and models to
<layer>/<model>; every dbt data test becomes an asset check named for what it
checks in at most 40 characters (`short_check_name`), described in one line
(`describe_dbt_test`), dbt's own name kept in its metadata.
"""

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from assets.descriptions import plain_text
from assets.manifest import DbtTest
from assets.settings import DBT_PROJECT_DIR


@lru_cache(maxsize=1)
def dbt_project() -> DbtProject:
    """The dbt project, prepared once per process when the dbt assets are first built.

    Under `dagster dev` this re-parses the project so edits show up; elsewhere
    it reads the manifest `make manifest` (`dbt parse`) left in dbt_project/target.
    """
    # prepare_if_dev runs the `dbt` found on PATH; in a venv that is not
    # activated (`.venv/bin/dagster dev`) that must be the venv's own.
    venv_bin = Path(sys.prefix) / "bin"
    if shutil.which("dbt") is None and (venv_bin / "dbt").exists():
        os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


# Layers, in dbt folder order; each becomes the first part of the asset key and the group.
DBT_LAYERS = ("staging", "intermediate", "marts")


# The predictions: a dbt Python model on DuckDB, fitted between two builds on Spark.
PREDICTIONS_KEY = dg.AssetKey(["marts", "mart_customer_predictions"])


class RetentionDbtTranslator(DagsterDbtTranslator):
    """Sources map to the extraction assets (raw/<entity>); models to <layer>/<model>."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            meta = (dbt_resource_props.get("config") or {}).get("meta") or dbt_resource_props.get("meta") or {}
            configured = (meta.get("dagster") or {}).get("asset_key")
            return dg.AssetKey(configured or ["raw", dbt_resource_props["name"]])
        layer = _layer(dbt_resource_props)
        name = dbt_resource_props["name"]
        return dg.AssetKey([layer, name]) if layer else dg.AssetKey([name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return _layer(dbt_resource_props) or "dbt"

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # The catalog lists descriptions as plain text: no emphasis markers, and
        # no "Raw SQL" block (the asset links to its model file instead).
        text = dbt_resource_props.get("description") or (
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"
        )
        return plain_text(text)

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project) -> dg.AssetCheckSpec | None:
        # dagster-dbt describes a data test only from meta.description, so say
        # what the test checks; the name is the short one `with_short_test_names`
        # gave the node, dbt's own name stays in the metadata.
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        node = manifest["nodes"][unique_id]
        return dg.AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=describe_dbt_test(node),
            additional_deps=spec.additional_deps,
            metadata={**(spec.metadata or {}), "dbt_test": node.get(DBT_TEST_NAME_KEY, node["name"])},
            blocking=spec.blocking,
        )


def _ref_name(text: str) -> str:
    # "ref('int_orders')" -> "int_orders"
    match = re.search(r"""ref\(\s*['"]([^'"]+)['"]""", str(text))
    return match.group(1) if match else str(text)


def describe_dbt_test(node: Mapping[str, Any]) -> str:
    """One line saying what a dbt data test checks, from its manifest node (pure, unit-tested).

    The test's own `description:` wins; generic tests are described from
    their name and arguments; a test this function does not know keeps its
    dbt name.
    """
    if node.get("description"):
        return " ".join(plain_text(node["description"]).split())
    test = DbtTest.from_node(node)
    kind, kwargs, column = test.kind, test.kwargs, test.column
    if kind == "unique":
        text = f"{column} is unique"
    elif kind == "not_null":
        text = f"{column} is never null"
    elif kind == "accepted_values":
        text = f"{column} is one of: {', '.join(map(str, kwargs.get('values') or []))}"
    elif kind == "relationships":
        text = f"every {column} is a {kwargs.get('field')} of {_ref_name(kwargs.get('to', ''))}"
    elif kind == "accepted_range":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bounds = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else ""]
        text = f"{column} is {' and '.join(b for b in bounds if b)}"
    elif kind == "expression_is_true":
        text = f"every row satisfies: {kwargs.get('expression')}"
    elif kind == "unique_combination_of_columns":
        text = f"({', '.join(kwargs.get('combination_of_columns') or [])}) is unique"
    elif kind == "sums_match":
        text = (f"sum of {column} equals sum of {kwargs.get('compare_column')} in "
                f"{_ref_name(kwargs.get('compare_model', ''))}"
                + (f" where {kwargs['compare_where']}" if kwargs.get("compare_where") else ""))
    else:
        text = f"dbt test {node.get(DBT_TEST_NAME_KEY) or node.get('name')}"
    return text + (" (warns, never blocks)" if test.severity == "warn" else "")


# Dagster shows a check by its name in the asset's sidebar (cut at about 40
# characters) and in alerts. dbt names a generic test after its model and all
# its arguments (`accepted_range_mart_cohort_retention_retention_rate__1__0`),
# and two such names can share their first 40 characters.
MAX_CHECK_NAME = 40
# The dbt test's own name, kept on the renamed manifest node.
DBT_TEST_NAME_KEY = "dbt_test_name"
_CHECK_PREFIX = {
    "accepted_values": "values",
    "relationships": "references",
    "accepted_range": "range",
    "expression_is_true": "rule",
    "unique_combination_of_columns": "unique",
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _fit(name: str, unique_id: str, hashed: bool = False) -> str:
    """`name` cut to MAX_CHECK_NAME, with a short hash of the test's id when cut (or `hashed`)."""
    if len(name) <= MAX_CHECK_NAME and not hashed:
        return name
    digest = hashlib.sha1(unique_id.encode()).hexdigest()[:6]
    return f"{name[:MAX_CHECK_NAME - 7].rstrip('_')}_{digest}"


def short_check_name(node: Mapping[str, Any]) -> str:
    """A check name of at most 40 characters saying what a dbt data test checks (pure, unit-tested).

    The asset is already the model, so the name is the kind of test and its
    column(s): `not_null_customer_id`, `range_retention_rate`,
    `references_customer_id_in_int_customers`, `unique_order_month_device`.
    A singular test, or one the yml names itself (`name:`), keeps its name,
    less a leading model name. Too long: cut, plus a hash of the test's id.
    """
    test = DbtTest.from_node(node)
    kwargs, column = test.kwargs, test.column
    if not test.kind or not node["name"].startswith(test.kind):
        model = _attached_model(node)
        base = node["name"].removeprefix(f"{model}_") if model else node["name"]
    else:
        if test.kind == "unique_combination_of_columns":
            subject = "_".join(kwargs.get("combination_of_columns") or [])
        elif test.kind == "relationships":
            subject = f"{column}_in_{_ref_name(kwargs.get('to', ''))}"
        elif test.kind == "expression_is_true" and not column:
            subject = str(kwargs.get("expression") or "")
        else:
            subject = column or ""
        base = f"{_CHECK_PREFIX.get(test.kind, test.kind)}_{subject}"
    return _fit(_slug(base) or "dbt_test", node["unique_id"])


def _attached_model(node: Mapping[str, Any]) -> str | None:
    attached = node.get("attached_node") or ""
    return attached.rsplit(".", 1)[-1] if attached else None


def with_short_test_names(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest with every data test named by `short_check_name` (pure, unit-tested).

    dagster-dbt names a test's asset check, and the results of a build, after
    the node's `name`, so renaming the node here renames both; dbt itself
    selects tests by their unique id / fqn, which stay. Tests of one asset
    that would share a name all get a hash of their id.
    """
    nodes = dict(manifest["nodes"])
    names: dict[str, str] = {}
    by_owner: dict[tuple[str, str], list[str]] = {}
    for uid, node in nodes.items():
        if node.get("resource_type") != "test":
            continue
        names[uid] = short_check_name(node)
        owner = node.get("attached_node") or ",".join(sorted((node.get("depends_on") or {}).get("nodes") or []))
        by_owner.setdefault((owner, names[uid]), []).append(uid)
    for uids in by_owner.values():
        if len(uids) > 1:
            for uid in uids:
                names[uid] = _fit(names[uid], uid, hashed=True)
    for uid, name in names.items():
        nodes[uid] = {**nodes[uid], "name": name, DBT_TEST_NAME_KEY: nodes[uid]["name"]}
    return {**manifest, "nodes": nodes}


def _layer(dbt_resource_props: Mapping[str, Any]) -> str | None:
    # fqn: ["retention", "<folder>", ..., "<model>"]
    fqn = dbt_resource_props.get("fqn") or []
    return fqn[1] if len(fqn) > 2 and fqn[1] in DBT_LAYERS else None


retention_dbt_translator = RetentionDbtTranslator(
    # Code references: each dbt asset links to its model file in the UI.
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True)
)
