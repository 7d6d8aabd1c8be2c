"""The dbt step on Apache Spark (`RETENTION_ENGINE=spark`, docs/spark.md).

Extraction (contract checks, quarantine, newest-version-wins upsert) has
already run in the DuckDB build file. This step

1. exports every `raw` table to <data>/spark/raw/<table>/ as Parquet, the
   files the Spark `raw` database is registered over (macros/spark_tables.sql);
2. runs `dbt build --target spark` for every selected model that does not
   read the predictions, through a launcher script in a scratch folder, so
   the JVM's files stay out of the source tree;
3. scores the predictions in this process (BG/NBD + Gamma-Gamma, the
   `models` package), refitting them when models/refit.py says the stored
   fit is due, on the orders Spark just built, read from Spark's Parquet
   files: one row per order of three columns, which fits one machine long
   after the history no longer does, and writes them as Parquet;
4. runs a second `dbt build --target spark` for the marts that read the
   predictions, with the fit registered as `marts.mart_customer_predictions`;
5. copies every table Spark built, and the predictions with their fit
   metadata (and a refit's row of the fit history), into the build file, so the quality checks, publish, exports
   and report after this step run unchanged.

dbt-spark's `session` method runs no dbt Python models, which is why the fit
runs between two dbt invocations instead of inside dbt as on DuckDB. The
inputs are selected with the same SQL as the Python model's, so both engines
fit the same frame.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from dagster_dbt.asset_utils import DAGSTER_DBT_UNIQUE_ID_METADATA_KEY as DAGSTER_DBT_UNIQUE_ID

from assets.dbt import (
    PREDICTIONS_KEY,
    DbtProgressFilter,
    built_tables,
    dbt_build_args,
    dbt_project,
    dbt_runs_dir,
    is_dbt_progress_line,
    seed_partial_parse,
    with_row_counts,
)
from assets.extraction.contract import RAW_SCHEMA
from assets.manifest import DbtTest
from assets.resources import WarehouseResource
from assets.warehouse import quote_ident, quote_literal
from models.predictions import FIT_METADATA_TABLE, FORMER_FIT_METADATA_TABLE, nightly_predictions, published_frame, run_metadata
from models.refit import RefitPolicy, StoredFit, append_fit, policy_from_vars, read_last_fit

SPARK_ENGINE = "spark"

# The tables the predictions are fitted from, as Spark writes them (schema, table).
FIT_INPUTS = {"orders": ("intermediate", "int_customer_orders"), "as_of": ("intermediate", "int_as_of_date")}


@dataclass(frozen=True)
class SparkPaths:
    """Where a Spark build keeps its files: <data>/spark (absolute: dbt-spark resolves against its cwd)."""

    root: Path

    @classmethod
    def under(cls, data_dir: Path | str) -> "SparkPaths":
        return cls(Path(data_dir).resolve() / "spark")

    @property
    def raw(self) -> Path:
        """`raw` as Parquet, one folder per table: RETENTION_SPARK_RAW_PARQUET."""
        return self.root / "raw"

    @property
    def warehouse(self) -> Path:
        """Spark's tables, <schema>.db/<table>/*.parquet (spark.sql.warehouse.dir in profiles.yml)."""
        return self.root / "warehouse"

    @property
    def predictions(self) -> Path:
        """The fitted predictions as Parquet: RETENTION_SPARK_PREDICTIONS_PARQUET of the second dbt build."""
        return self.root / "predictions" / PREDICTIONS_KEY.path[-1]

    @property
    def work(self) -> Path:
        """The dbt process's working folder: Spark and Derby leave derby.log and scratch folders there."""
        return self.root / "work"

    def launcher(self, phase: int) -> Path:
        return self.work / f"dbt-spark-{phase}.sh"

    def table_files(self, schema: str, table: str) -> Path:
        """The glob of one Spark table's Parquet files."""
        return self.warehouse / f"{schema}.db" / table / "*.parquet"


def spark_unavailable(java: str | None, java_home: str | None, has_adapter: bool) -> str | None:
    """Why this machine cannot run the Spark build, in one line, or None (pure, unit-tested).

    Without these the failure surfaces deep in dbt's log as a JVM gateway
    error or an unknown adapter type, after extraction and the raw checks.
    """
    if not has_adapter:
        return ("RETENTION_ENGINE=spark needs dbt-spark and PySpark, which are not installed: "
                "install the `spark` extra (`pip install -c constraints.txt -e '.[spark]'`, as `make setup-spark` does)")
    if not java and not java_home:
        return ("RETENTION_ENGINE=spark needs a Java runtime (17 or 21) for PySpark: "
                "no `java` on PATH and JAVA_HOME is not set")
    return None


def spark_dbt_env(paths: SparkPaths, with_predictions: bool = False) -> dict[str, str]:
    """The variables profiles.yml's `spark` target and the Spark hooks read (pure, unit-tested).

    `with_predictions` adds the fitted predictions' folder: only the second
    build, which runs after the fit, registers it.
    """
    env = {"RETENTION_SPARK_DIR": str(paths.root), "RETENTION_SPARK_RAW_PARQUET": str(paths.raw)}
    if with_predictions:
        env["RETENTION_SPARK_PREDICTIONS_PARQUET"] = str(paths.predictions)
    return env


def spark_launcher_script(dbt_executable: str, workdir: Path, env: Mapping[str, str]) -> str:
    """A shell script that runs dbt in `workdir` with `env` added (pure, unit-tested).

    dagster-dbt starts dbt in the project folder, and the JVM dbt-spark starts
    inherits that folder: derby.log and spark-warehouse/ would land in the
    source tree. The Spark build's dbt resource runs this script instead of dbt.
    """
    lines = ["#!/bin/sh", f"cd {shlex.quote(str(workdir))} || exit 1"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    lines.append(f'exec {shlex.quote(dbt_executable)} "$@"')
    return "\n".join(lines) + "\n"


def raw_export_sql(tables: Sequence[str], raw_dir: Path) -> list[str]:
    """One COPY per `raw` table to <raw_dir>/<table>/part-0.parquet (pure, unit-tested)."""
    return [
        f"COPY {RAW_SCHEMA}.{quote_ident(t)} TO {quote_literal(Path(raw_dir) / t / 'part-0.parquet')} (FORMAT parquet)"
        for t in tables
    ]


def copy_back_sql(tables: Iterable[tuple[str, str, Path]]) -> list[str]:
    """Statements replacing each (schema, table) of the build warehouse by the Parquet files of `glob` (pure, unit-tested)."""
    tables = list(tables)
    out = [f"CREATE SCHEMA IF NOT EXISTS {quote_ident(s)}" for s in dict.fromkeys(s for s, _, _ in tables)]
    out += [
        f"CREATE OR REPLACE TABLE {quote_ident(schema)}.{quote_ident(table)} AS "
        f"SELECT * FROM read_parquet({quote_literal(files)})"
        for schema, table, files in tables
    ]
    return out


def downstream_of(deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]], keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """Every asset downstream of any of `keys` in `deps` ({asset: its upstream assets}; pure, unit-tested)."""
    roots = set(keys)
    downstream: set[dg.AssetKey] = set()
    grew = True
    while grew:
        grew = False
        for asset, upstream in deps.items():
            if asset not in downstream and (roots | downstream) & set(upstream):
                downstream.add(asset)
                grew = True
    return downstream


@dataclass(frozen=True)
class SparkPlan:
    """What one Spark dbt step runs: the models of the first build, the fit, the models of the second."""

    first: tuple[str, ...]
    fit: bool
    second: tuple[str, ...]
    # Checks that read a model of each build: neither build can run them (see spark_plan).
    unplanned_checks: tuple[tuple[str, ...], ...] = ()


def spark_plan(selected: Iterable[dg.AssetKey], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]],
               test_links: Iterable[Iterable[dg.AssetKey]] = ()) -> SparkPlan:
    """Split the selected dbt models around the predictions fit (pure, unit-tested).

    The second build takes the models that read the predictions, and with
    them every model a data test ties to one of those (`test_links`: the
    assets each test reads), and everything downstream: a test runs in one
    dbt build, after all the tables it reads. The first build takes the
    rest. The predictions model itself is the fit, never a dbt node on Spark.
    The fit's own inputs and everything upstream of them stay in the first
    build whatever a test ties them to (the fit reads them): a test that
    reads one of those and a model of the second build is returned in
    `unplanned_checks`, for the step to name, since neither build runs it.
    """
    selected = set(selected)
    links = [set(link) for link in test_links]
    fit_inputs = {k for k in deps if k.path[-1] in {table for _, table in FIT_INPUTS.values()}}
    pinned = fit_inputs | upstream_of(deps, fit_inputs)
    after = downstream_of(deps, [PREDICTIONS_KEY])
    grew = True
    while grew:
        tied = set().union(*(link for link in links if link & after)) - {PREDICTIONS_KEY} - pinned
        wider = after | tied | downstream_of(deps, tied)
        grew, after = wider != after, wider
    names = lambda keys: tuple(sorted(k.path[-1] for k in keys))  # noqa: E731
    return SparkPlan(
        first=names(selected - after - {PREDICTIONS_KEY}),
        fit=PREDICTIONS_KEY in selected,
        second=names(selected & after),
        unplanned_checks=tuple(sorted({names(link) for link in links if link & after and link & pinned})),
    )


def upstream_of(deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]], keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """Every asset upstream of any of `keys` in `deps` (pure)."""
    upstream: set[dg.AssetKey] = set()
    todo = list(keys)
    while todo:
        for parent in deps.get(todo.pop(), ()):
            if parent not in upstream:
                upstream.add(parent)
                todo.append(parent)
    return upstream


def check_links(assets_def: dg.AssetsDefinition) -> list[set[dg.AssetKey]]:
    """The assets each of a multi-asset's checks reads: its target and its additional dependencies."""
    return [{spec.asset_key, *(dep.asset_key for dep in spec.additional_deps)} for spec in assets_def.check_specs]


def fit_input_sql(orders_files: Path, as_of_files: Path) -> tuple[str, str]:
    """The fit's two queries over Spark's Parquet files (pure, unit-tested).

    The same columns, casts and order as the dbt Python model's, so a Spark
    build fits the frame a DuckDB build would: the fit sums floats in order.
    """
    transactions = (
        "select customer_id, order_date, cast(net_revenue as double) as amount "
        f"from read_parquet({quote_literal(orders_files)}) order by customer_id, order_date, amount"
    )
    as_of = f"select as_of_date from read_parquet({quote_literal(as_of_files)})"
    return transactions, as_of


def fit_predictions(paths: SparkPaths, policy: RefitPolicy, last: StoredFit | None) -> tuple[dict[str, Any], dict | None]:
    """Refit or score (models/refit.py) on Spark's int_customer_orders, write the mart to `paths.predictions`.

    Returns the night's metadata and, after a refit, the `append_fit` arguments
    of the fit to store (None on a scoring night): the copy back stores it in
    the same transaction as the predictions.
    """
    files = {name: paths.table_files(*table) for name, table in FIT_INPUTS.items()}
    missing = [str(f.parent) for f in files.values() if not any(f.parent.glob(f.name))]
    if missing:
        raise FileNotFoundError(
            f"the predictions read {', '.join(missing)}: no Parquet files there; "
            "expected the Spark build of int_customer_orders and int_as_of_date (select them, or run the whole job)"
        )
    transactions_sql, as_of_sql = fit_input_sql(files["orders"], files["as_of"])
    con = duckdb.connect()
    try:
        transactions = con.sql(transactions_sql).pl()
        as_of = con.execute(as_of_sql).fetchone()[0]
    finally:
        con.close()
    night = nightly_predictions(transactions, as_of, last, policy)
    run = night.run
    shutil.rmtree(paths.predictions, ignore_errors=True)
    paths.predictions.mkdir(parents=True)
    published_frame(run, as_of).write_parquet(paths.predictions / "part-0.parquet")
    pending = None
    if night.fit_record is not None:
        pending = dict(fitted_at=run.meta["last_fitted_at"], as_of=as_of, customers=run.scores.height,
                       fitted=run.skipped is None, reason=night.decision.reason, record=night.fit_record)
    return run_metadata(run), pending


def failing_rows_sql(node: Mapping[str, Any], model: str, relation: str) -> str | None:
    """A query counting the failing rows of one dbt data test of `model`, read as `relation` (pure, unit-tested).

    For the tests of a model dbt does not build on Spark (the predictions),
    evaluated on the build file's copy. Generic `unique`, `not_null` and
    `accepted_values` tests, with dbt's semantics (nulls are neither
    duplicates nor unaccepted values), and singular tests whose only Jinja is
    their `config(...)` and `ref`s of the model; None for anything else.
    """
    test = DbtTest.from_node(node)
    kind, kwargs, column = test.kind, test.kwargs, test.column
    if kind == "unique" and column:
        col = quote_ident(column)
        return f"select count(*) from (select {col} from {relation} where {col} is not null group by {col} having count(*) > 1)"
    if kind == "not_null" and column:
        return f"select count(*) from {relation} where {quote_ident(column)} is null"
    if kind == "accepted_values" and column and kwargs.get("values"):
        values = ", ".join(quote_literal(v) for v in kwargs["values"])
        return f"select count(*) from {relation} where {quote_ident(column)} not in ({values})"
    if kind or not node.get("raw_code"):
        return None
    sql = re.sub(r"\{\{\s*config\([^}]*\)\s*\}\}", "", node["raw_code"])
    sql = re.sub(r"\{\{\s*ref\(\s*['\"]" + re.escape(model) + r"['\"]\s*\)\s*\}\}", lambda _: relation, sql)
    if "{{" in sql or "{%" in sql:
        return None
    return f"select count(*) from (\n{sql}\n) as failures"


def predictions_check_results(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                              manifest: Mapping[str, Any]) -> list[dg.AssetCheckResult]:
    """The predictions' dbt tests, evaluated on the build file's copy of the fit (dbt does not run them on Spark).

    Without results their blocking checks would not gate publishing, and
    Dagster would say so once per downstream step.
    """
    # A check names its dbt test by unique id (its name is a short one, assets/dbt.py).
    nodes = manifest.get("nodes") or {}
    selected = context.selected_asset_check_keys
    relation = ".".join(quote_ident(part) for part in PREDICTIONS_KEY.path)
    results: list[dg.AssetCheckResult] = []
    con = warehouse.connect(read_only=True)
    try:
        for spec in context.assets_def.check_specs:
            node = nodes.get((spec.metadata or {}).get(DAGSTER_DBT_UNIQUE_ID))
            sql = failing_rows_sql(node, PREDICTIONS_KEY.path[-1], relation) if node and spec.asset_key == PREDICTIONS_KEY else None
            if sql is None or spec.key not in selected:
                continue
            failures = con.execute(sql).fetchone()[0]
            warn = DbtTest.from_node(node).severity == "warn"
            results.append(dg.AssetCheckResult(
                asset_key=PREDICTIONS_KEY, check_name=spec.name, passed=failures == 0,
                severity=dg.AssetCheckSeverity.WARN if warn else dg.AssetCheckSeverity.ERROR,
                metadata={"failing_rows": failures, "evaluated_on": "the build file's copy of the Spark run's fit"},
            ))
    finally:
        con.close()
    return results


def export_raw_for_spark(warehouse: WarehouseResource, paths: SparkPaths) -> list[str]:
    """Every `raw` table of the build warehouse to <spark>/raw/<table>/ (overwritten); returns the tables.

    Extraction's bookkeeping tables (`_`-prefixed) stay behind: Spark reads only data.
    """
    con = warehouse.connect()
    try:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND NOT starts_with(table_name, '_') "
            "ORDER BY table_name", [RAW_SCHEMA]
        ).fetchall()]
        for table in tables:
            shutil.rmtree(paths.raw / table, ignore_errors=True)
            (paths.raw / table).mkdir(parents=True)
        for sql in raw_export_sql(tables, paths.raw):
            con.execute(sql)
    finally:
        con.close()
    return tables


def copy_back_from_spark(warehouse: WarehouseResource, paths: SparkPaths, tables: list[tuple[str, str]],
                         fit: Mapping[str, Any] | None, new_fit: Mapping[str, Any] | None = None) -> None:
    """Spark's tables into the build warehouse, in one transaction; with `fit`, the predictions and their metadata.

    `new_fit` (the `append_fit` arguments of a refit) is added to the fit history in the same transaction.
    """
    # The predictions are never a Spark table: they come from the fit's own folder.
    copies = [(schema, table, paths.table_files(schema, table)) for schema, table in tables
              if (schema, table) != tuple(PREDICTIONS_KEY.path)]
    if fit is not None:
        copies.append((*PREDICTIONS_KEY.path, paths.predictions / "*.parquet"))
    con = warehouse.connect()
    try:
        con.execute("BEGIN")
        for sql in copy_back_sql(copies):
            con.execute(sql)
        if fit is not None:
            if new_fit is not None:
                fit = {**fit, "fit_id": append_fit(con, **new_fit)}
            schema, table = FIT_METADATA_TABLE
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            con.execute(
                f"CREATE OR REPLACE TABLE {quote_ident(schema)}.{quote_ident(table)} AS "
                "SELECT CAST(? AS VARCHAR) AS metadata", [json.dumps(fit, default=str)]
            )
            con.execute("DROP TABLE IF EXISTS {}.{}".format(*map(quote_ident, FORMER_FIT_METADATA_TABLE)))
        con.execute("COMMIT")
    finally:
        con.close()


@contextlib.contextmanager
def timed(seconds: dict[str, float], part: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[part] = round(time.perf_counter() - start, 1)


def run_spark_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                    vars_: Mapping[str, Any], full_refresh: bool, target_path: Path):
    """The dbt step on Spark (module docstring); yields the events of both builds and the predictions' output.

    After a failure the tables already built are copied back before the
    error is raised, as a failed DuckDB build keeps what it finished.
    """
    problem = spark_unavailable(
        shutil.which("java"), os.environ.get("JAVA_HOME"),
        importlib.util.find_spec("pyspark") is not None and importlib.util.find_spec("dbt.adapters.spark") is not None,
    )
    if problem:
        raise dg.Failure(description=problem, allow_retries=False)
    paths = SparkPaths.under(warehouse.root)
    plan = spark_plan(context.selected_asset_keys, context.assets_def.asset_deps, check_links(context.assets_def))
    for link in plan.unplanned_checks:
        context.log.warning(
            f"a dbt test reads {', '.join(link)}: some are built before the predictions fit and some after it, "
            "so neither Spark build runs it (it runs on the DuckDB engine)"
        )
    # Both builds name what they leave out: dagster-dbt adds a --select to the
    # run's own selection instead of narrowing it, but honours --exclude.
    models = {k.path[-1] for k in context.assets_def.keys} - {PREDICTIONS_KEY.path[-1]}
    seconds: dict[str, float] = {}
    with timed(seconds, "export_raw"):
        tables = export_raw_for_spark(warehouse, paths)
    context.log.info(f"exported raw ({', '.join(tables)}) to {paths.raw} for Spark")
    paths.work.mkdir(parents=True, exist_ok=True)
    events: list = []
    fit: dict[str, Any] | None = None
    new_fit: dict[str, Any] | None = None

    def build(phase: int, excluded: Iterable[str], with_predictions: bool) -> None:
        launcher = paths.launcher(phase)
        launcher.write_text(spark_launcher_script(
            dbt.dbt_executable, paths.work, spark_dbt_env(paths, with_predictions=with_predictions)
        ))
        launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
        spark_dbt = DbtCliResource(
            project_dir=dbt.project_dir,
            profiles_dir=dbt.profiles_dir,
            profile=dbt.profile,
            global_config_flags=dbt.global_config_flags,
            dbt_executable=str(launcher),
        )
        args = dbt_build_args(vars_, full_refresh, target=SPARK_ENGINE)
        if excluded:
            # One value: dagster-dbt reads a single argument after --exclude.
            args += ["--exclude", " ".join(sorted(excluded))]
        phase_target = target_path if phase == 1 else target_path.with_name(f"{target_path.name}-{phase}")
        if phase > 1:
            # The newest parse is the first build's: same project, vars and profile.
            seed_partial_parse(dbt_runs_dir(warehouse.root), phase_target)
        with timed(seconds, f"dbt_phase_{phase}"), contextlib.redirect_stdout(SparkProgressFilter(sys.stdout)):
            events.extend(spark_dbt.cli(args, context=context, target_path=phase_target).stream())

    try:
        if plan.first:
            build(1, plan.second, with_predictions=False)
        if plan.fit:
            con = warehouse.connect(read_only=True)
            try:
                last = read_last_fit(con)
            finally:
                con.close()
            with timed(seconds, "fit"):
                fit, new_fit = fit_predictions(paths, policy_from_vars(dict(vars_)), last)
            context.log.info(
                f"predictions {'refitted' if fit.get('refit') else 'scored'} for {fit.get('customers', 0)} customers "
                f"from Spark's int_customer_orders ({fit.get('refit_reason')})"
                + (f" ({fit['prediction_note']})" if fit.get("prediction_note") else "")
            )
            events.append(dg.Output(
                None,
                output_name=context.assets_def.get_output_name_for_asset_key(PREDICTIONS_KEY),
                metadata={"engine": SPARK_ENGINE},
            ))
        if plan.second:
            if fit is None and not any(paths.predictions.glob("*.parquet")):
                raise FileNotFoundError(
                    f"{', '.join(plan.second)} read the predictions, but {paths.predictions} has none; "
                    "select mart_customer_predictions too"
                )
            build(2, models - set(plan.second), with_predictions=True)
    except BaseException:
        copy_back_from_spark(warehouse, paths, built_tables(events, context.asset_key_for_output), fit, new_fit)
        yield from events
        raise
    built = built_tables(events, context.asset_key_for_output)
    with timed(seconds, "copy_back"):
        copy_back_from_spark(warehouse, paths, built, fit, new_fit)
    context.log.info(f"copied {len(built)} Spark tables into {warehouse.build_db}")
    context.log.info(f"spark step seconds: {json.dumps(seconds)}")
    if fit is not None:
        events += predictions_check_results(context, warehouse, json.loads(dbt_project().manifest_path.read_text()))
    yield from with_row_counts(events, context.asset_key_for_output, warehouse, context.log)


# What the JVM under dbt-spark prints besides dbt's own lines: log4j WARN/INFO
# lines (one "Using an existing Spark session" per model unless
# spark.log.level is raised), the start-up banner and PySpark's
# pandas-version warning. Spark's ERROR lines stay.
_SPARK_CHATTER = re.compile(
    r"^(?:\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (?:WARN|INFO) "
    r"|Setting default log level to|To adjust logging level use sc\.setLogLevel|Setting Spark log level to"
    r"|Using Spark's default log4j profile|WARNING: Using incubator modules"
    r"|.*FutureWarning: PySpark does not yet fully support pandas|\s*require_minimum_pandas_version\(\))"
)


def is_spark_chatter_line(line: str) -> bool:
    """True for a console line of the Spark JVM that is not an error (pure, unit-tested)."""
    return bool(_SPARK_CHATTER.match(re.sub(r"\x1b\[[0-9;]*m", "", line)))


class SparkProgressFilter(DbtProgressFilter):
    """DbtProgressFilter that also drops the Spark JVM's warnings and banner."""

    def is_noise(self, line: str) -> bool:
        return is_dbt_progress_line(line) or is_spark_chatter_line(line)
