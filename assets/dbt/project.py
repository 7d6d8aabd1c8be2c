"""dbt models as Dagster assets: staging -> intermediate -> marts, downstream of extraction.

The manifest is read when the assets are first built (`build_dbt_assets()`,
called by the Definitions; importing this module does no work), so `dbt parse`
(no database needed) must have run first: `dagster dev` does it through
`prepare_if_dev()`, `make manifest`, tests and CI run it explicitly. Every
model, the predictions included (a dbt Python model), is one multi-asset, so
a run calls `dbt build` once. dbt data tests become asset checks
(dagster-dbt's default), each described by `describe_dbt_test`; unit tests
run inside `dbt build` before the model they cover. After dbt exits, each
table's row count (and the predictions' fit metadata) is added to its
materialization.

The run-time knobs reach dbt as `--vars`, built by the pure function
`dbt_vars` from the `shop_source` resource (as-of date, windows), the resolved
shop time zone and the run's config. The warehouse file reaches dbt through
the RETENTION_BUILD_DB environment variable, read by `dbt_project/profiles.yml`;
RETENTION_CODE_DIR puts this repository's `models` package on the dbt
process's path for the Python model. Each run starts from the previous run's
partial parse (`seed_partial_parse`).
With `RETENTION_ENGINE=spark` (the `warehouse` resource's `engine`), the
same build runs on Spark instead (`assets/spark.py`, docs/spark.md).
Each run's artefacts and dbt.log go under the data folder (`dbt_runs_dir`),
the last KEEP_DBT_RUNS runs kept; the console gets dbt's failures, warnings
and tally, not its per-model progress lines.

No `from __future__ import annotations` here: Dagster resolves the asset
function's `config: DbtBuildConfig` annotation at definition time.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from assets.audiences import audience_vars
from assets.manifest import DbtTest
from assets.resources import ShopSourceResource, WarehouseResource
from assets.run_state import DbtBuildConfig, dbt_vars
from assets.descriptions import plain_text
from assets.settings import DBT_PROJECT_DIR, ENGINES, PROJECT_ROOT
from models.predictions import FIT_METADATA_TABLE


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


def dbt_build_args(vars_: Mapping[str, Any], full_refresh: bool = False, target: str | None = None) -> list[str]:
    """Arguments of the `dbt build` invocation (pure, unit-tested).

    Unit tests pin SQL logic on fixed inputs, so they cannot fail on a night's
    data: they run where the SQL changes (`make test`, tests/integration/dbt), not in every
    nightly build, where they cost 10-15 node-seconds. `target` None is the
    profile's default (DuckDB).
    """
    args = ["build", "--vars", json.dumps(dict(vars_), sort_keys=True), "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    if target:
        args += ["--target", target]
    return args


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


@lru_cache(maxsize=1)
def build_dbt_assets() -> dg.AssetsDefinition:
    """The dbt models as one multi-asset; reads the manifest, so built on first use, not at import."""
    project = dbt_project()
    manifest = with_short_test_names(json.loads(Path(project.manifest_path).read_text()))

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=retention_dbt_translator,
        name="retention_dbt",
    )
    def retention_dbt_assets(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        shop_source: ShopSourceResource,
        warehouse: WarehouseResource,
        config: DbtBuildConfig,
    ):
        """Build (run + test) the selected dbt models; tests report as asset checks."""
        # The dbt subprocess inherits the environment: point its profile at this
        # run's build warehouse (tests and other data dirs differ from the default).
        warehouse.build_db.parent.mkdir(parents=True, exist_ok=True)
        os.environ["RETENTION_BUILD_DB"] = str(warehouse.build_db)
        os.environ["RETENTION_DUCKDB_MEMORY_LIMIT"] = warehouse.memory_limit
        # The Python model mart_customer_predictions imports this repository's
        # `models` package (profiles.yml `module_paths`).
        os.environ["RETENTION_CODE_DIR"] = str(PROJECT_ROOT)
        vars_ = dbt_vars(shop_source, shop_source.shop_timezone, config, audience_vars(shop_source.user_config()))
        context.log.info(f"dbt vars: {vars_}")
        # dbt's artefacts and its log file go under the data folder, one folder per
        # run, not into the source tree; dagster-dbt points DBT_LOG_PATH at it too.
        # One sub-folder per step (a run that selects dbt models with a gap
        # between them would call dbt more than once).
        runs_root = dbt_runs_dir(warehouse.root)
        target = runs_root / context.run.run_id / context.op_execution_context.op.name
        reused = seed_partial_parse(runs_root, target)
        if reused:
            context.log.debug(f"dbt partial parsing from {reused}")
        try:
            if warehouse.engine not in ENGINES:
                raise ValueError(
                    f"warehouse.engine={warehouse.engine!r}: expected one of {', '.join(ENGINES)} (RETENTION_ENGINE)"
                )
            if warehouse.engine == "spark":
                # Imported here: assets.spark builds on this module's functions.
                from assets.spark import run_spark_build

                yield from run_spark_build(context, dbt, warehouse, vars_, config.full_refresh, target)
                return
            # dagster-dbt echoes every dbt line to stdout; keep the console to
            # the outcome (dbt.log in the run folder has every line).
            # Events are held until dbt exits: the dbt process holds the
            # warehouse's write lock while it runs, and the row counts are read
            # after it (dagster-dbt's fetch_row_counts() would query during it).
            events = []
            try:
                with contextlib.redirect_stdout(DbtProgressFilter(sys.stdout)):
                    events.extend(dbt.cli(
                        dbt_build_args(vars_, config.full_refresh), context=context, target_path=target
                    ).stream())
            except BaseException:
                yield from events
                raise
            yield from with_row_counts(events, context.asset_key_for_output, warehouse, context.log)
        finally:
            removed = prune_dbt_runs(runs_root, KEEP_DBT_RUNS)
            if removed:
                context.log.debug(f"removed {len(removed)} old dbt run folder(s) under {runs_root}")

    return retention_dbt_assets


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


PREDICTIONS_KEY = dg.AssetKey(["marts", "mart_customer_predictions"])


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


def __getattr__(name: str):
    # `from assets.dbt import retention_dbt_assets` keeps working without
    # reading the manifest when the module is merely imported.
    if name == "retention_dbt_assets":
        return build_dbt_assets()
    if name == "retention_dbt_project":
        return dbt_project()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# dbt's per-node progress lines ("12 of 191 START ...", "... PASS ...", "... OK ...")
# and its start-up chatter; failures, warnings and the final tally stay.
_DBT_NOISE = re.compile(
    r"^(?:\d+ of \d+ (?:START|PASS|OK|NO-OP)\b"
    r"|Running with dbt=|Registered adapter:|Unable to do partial parsing|Found \d+ models|Concurrency: "
    r"|\s*$)"
)


def is_dbt_progress_line(line: str) -> bool:
    """True for a dbt console line that only reports progress (pure, unit-tested)."""
    return bool(_DBT_NOISE.match(re.sub(r"\x1b\[[0-9;]*m", "", line)))


class DbtProgressFilter:
    """A text stream that passes whole lines on to `stream`, except dbt's progress lines."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._pending = ""

    def is_noise(self, line: str) -> bool:
        return is_dbt_progress_line(line)

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if not self.is_noise(line):
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending and not self.is_noise(self._pending):
            self.stream.write(self._pending)
        self._pending = ""
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


# Enough to compare a failed run with the last good ones; each run folder is ~13 MB.
KEEP_DBT_RUNS = 5


def dbt_runs_dir(data_dir: Path) -> Path:
    """Where dbt keeps each run's artefacts (run_results.json, compiled SQL) and dbt.log: <run id>/<step>/."""
    return Path(data_dir) / "dbt" / "runs"


def prune_dbt_runs(runs_root: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` most recently modified run folders; return the deleted ones."""
    if keep < 1:
        raise ValueError(f"prune_dbt_runs keep={keep}: expected at least 1 (the run just made)")
    if not runs_root.is_dir():
        return []
    runs = sorted((p for p in runs_root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    old = runs[keep:]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def latest_partial_parse(runs_root: Path, exclude: Path | None = None) -> Path | None:
    """The newest dbt partial-parse file left by a previous run under `runs_root` (<run>/<step>/), or None."""
    if not Path(runs_root).is_dir():
        return None
    found = [p for p in Path(runs_root).glob(f"*/*/{PARTIAL_PARSE_FILE}") if exclude is None or exclude not in p.parents]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def seed_partial_parse(runs_root: Path, target: Path) -> Path | None:
    """Copy the last run's partial-parse file into `target`; return the file copied, if any.

    dagster-dbt otherwise seeds each run's fresh target folder from
    dbt_project/target, written by `dbt parse` without this run's --vars and
    profile, so dbt would re-parse the whole project (~8 s on 2 cores) every
    night. The previous run parsed with the same vars and profile unless
    the settings changed; dbt re-checks both and every file's hash, so a
    stale file costs only that full parse.
    """
    source = latest_partial_parse(runs_root, exclude=target)
    destination = Path(target) / PARTIAL_PARSE_FILE
    if source is None or destination.exists():
        return None
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return source


def dbt_executable() -> str:
    """The dbt CLI next to this interpreter (a venv that is not activated), else the one on PATH."""
    # sys.prefix is the venv even when the interpreter path was resolved past
    # the venv's symlink (dagster dev's code server does that).
    for candidate in (Path(sys.prefix) / "bin" / "dbt", Path(sys.executable).parent / "dbt"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def dbt_resource() -> DbtCliResource:
    """The `dbt` resource for Definitions (the warehouse path comes from RETENTION_BUILD_DB)."""
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )
