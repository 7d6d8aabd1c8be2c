"""The dbt step on Apache Spark (`RETENTION_ENGINE=spark`, docs/spark.md).

Extraction (contract checks, quarantine, newest-version-wins upsert) has
already run in the DuckDB build file. This engine

1. exports every `raw` table to <data>/spark/raw/<table>/ as Parquet, the
   files the Spark `raw` database is registered over (macros/spark_tables.sql);
2. runs `dbt build --target spark` for every selected model that does not
   read the predictions (spark_plan.py), through a launcher script in a
   scratch folder, so the JVM's files stay out of the source tree;
3. calls `models.predictions.predictions_night` (the way in every engine
   takes) on the orders Spark just built, read from Spark's Parquet files by
   DuckDB: one row per order of three columns, which fits one machine long
   after the history no longer does; writes the mart as Parquet;
4. runs a second `dbt build --target spark` for the marts that read the
   predictions, with the fit registered as `marts.mart_customer_predictions`;
5. copies every table Spark built, and the predictions, into the build file,
   with `models.predictions.store_night` (fit history, the night's metadata)
   in the same transaction, so the quality checks, publish, exports and
   report after this step run unchanged;
6. runs the predictions' dbt data tests through dbt, `dbt test` on the
   DuckDB target over that copy: the Spark target disables the Python model
   and so its tests, and this way the same tests gate publishing on both
   engines.

dbt-spark's `session` method runs no dbt Python models, which is why the fit
runs between two dbt invocations instead of inside dbt as on DuckDB.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from assets.dbt.cli import DbtCli, dbt_build_args, dbt_test_args
from assets.dbt.console import SparkProgressFilter
from assets.dbt.engine import BuildRequest, DbtEvent, built_tables
from assets.dbt.engines.spark_plan import FIT_INPUTS, SparkPlan, check_links, spark_plan
from assets.dbt.project import PREDICTIONS_KEY
from assets.dbt_runs import dbt_runs_dir, seed_partial_parse
from assets.extraction.contract import RAW_SCHEMA
from assets.resources import WarehouseResource
from assets.warehouse import quote_ident, quote_literal
from models.predictions import Night, predictions_night, store_night
from models.refit import policy_from_vars, read_last_fit

SPARK_ENGINE = "spark"


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


def fit_predictions(paths: SparkPaths, vars_: Mapping[str, object], warehouse: WarehouseResource) -> Night:
    """Tonight's predictions (models.predictions.predictions_night) on Spark's int_customer_orders.

    The stored fit is read from the build warehouse; the mart goes to
    `paths.predictions` as Parquet. Nothing is stored yet: the copy back
    stores the night (`store_night`) in the same transaction as the tables.
    """
    files = {name: paths.table_files(*table) for name, table in FIT_INPUTS.items()}
    missing = [str(f.parent) for f in files.values() if not any(f.parent.glob(f.name))]
    if missing:
        raise FileNotFoundError(
            f"the predictions read {', '.join(missing)}: no Parquet files there; "
            "expected the Spark build of int_customer_orders and int_as_of_date (select them, or run the whole job)"
        )
    con = warehouse.connect(read_only=True)
    try:
        last = read_last_fit(con)
    finally:
        con.close()
    con = duckdb.connect()
    try:
        orders, as_of = (con.read_parquet(str(files[name])) for name in ("orders", "as_of"))
        night = predictions_night(orders, as_of, last, policy_from_vars(dict(vars_)))
    finally:
        con.close()
    shutil.rmtree(paths.predictions, ignore_errors=True)
    paths.predictions.mkdir(parents=True)
    night.frame.write_parquet(paths.predictions / "part-0.parquet")
    return night


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
                         night: Night | None) -> None:
    """Spark's tables into the build warehouse, in one transaction; with `night`, the predictions and their record."""
    # The predictions are never a Spark table: they come from the fit's own folder.
    copies = [(schema, table, paths.table_files(schema, table)) for schema, table in tables
              if (schema, table) != tuple(PREDICTIONS_KEY.path)]
    if night is not None:
        copies.append((*PREDICTIONS_KEY.path, paths.predictions / "*.parquet"))
    con = warehouse.connect()
    try:
        con.execute("BEGIN")
        for sql in copy_back_sql(copies):
            con.execute(sql)
        if night is not None:
            store_night(con, night)
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


def refuse_without_spark() -> None:
    """Fail the step, no retry, before anything is exported when this machine cannot run Spark."""
    problem = spark_unavailable(
        shutil.which("java"), os.environ.get("JAVA_HOME"),
        importlib.util.find_spec("pyspark") is not None and importlib.util.find_spec("dbt.adapters.spark") is not None,
    )
    if problem:
        raise dg.Failure(description=problem, allow_retries=False)


def spark_dbt_resource(dbt: DbtCliResource, paths: SparkPaths, phase: int, with_predictions: bool) -> DbtCliResource:
    """`dbt` running through this phase's launcher script (spark_launcher_script)."""
    launcher = paths.launcher(phase)
    launcher.write_text(spark_launcher_script(
        dbt.dbt_executable, paths.work, spark_dbt_env(paths, with_predictions=with_predictions)
    ))
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    return DbtCli(
        project_dir=dbt.project_dir,
        profiles_dir=dbt.profiles_dir,
        profile=dbt.profile,
        global_config_flags=dbt.global_config_flags,
        dbt_executable=str(launcher),
    )


class SparkEngine:
    """The `Engine` of RETENTION_ENGINE=spark (assets/dbt/engine.py)."""

    name = SPARK_ENGINE

    def console(self, stream: TextIO) -> TextIO:
        return SparkProgressFilter(stream)

    def build(self, context: dg.AssetExecutionContext, request: BuildRequest) -> Iterator[DbtEvent]:
        refuse_without_spark()
        yield from SparkStep(context, request).run()


@dataclass
class SparkStep:
    """One Spark dbt step (the module docstring's six parts); `run` yields the events of all of them.

    After a failure the tables already built are copied back before the
    error is raised, as a failed DuckDB build keeps what it finished.
    """

    context: dg.AssetExecutionContext
    request: BuildRequest
    events: list = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    night: Night | None = None

    @property
    def paths(self) -> SparkPaths:
        return SparkPaths.under(self.request.warehouse.root)

    def run(self) -> Iterator[DbtEvent]:
        context, warehouse = self.context, self.request.warehouse
        plan = spark_plan(context.selected_asset_keys, context.assets_def.asset_deps, check_links(context.assets_def))
        for link in plan.unplanned_checks:
            context.log.warning(
                f"a dbt test reads {', '.join(link)}: some are built before the predictions fit and some after it, "
                "so neither Spark build runs it (it runs on the DuckDB engine)"
            )
        with timed(self.seconds, "export_raw"):
            tables = export_raw_for_spark(warehouse, self.paths)
        context.log.info(f"exported raw ({', '.join(tables)}) to {self.paths.raw} for Spark")
        self.paths.work.mkdir(parents=True, exist_ok=True)
        try:
            yield from self.builds(plan)
        except BaseException:
            copy_back_from_spark(warehouse, self.paths, built_tables(self.events, context.asset_key_for_output),
                                 self.night)
            raise
        built = built_tables(self.events, context.asset_key_for_output)
        with timed(self.seconds, "copy_back"):
            copy_back_from_spark(warehouse, self.paths, built, self.night)
        context.log.info(f"copied {len(built)} Spark tables into {warehouse.build_db}")
        if self.night is not None:
            with timed(self.seconds, "predictions_tests"):
                yield from self.test_predictions()
        context.log.info(f"spark step seconds: {json.dumps(self.seconds)}")

    def builds(self, plan: SparkPlan) -> Iterator[DbtEvent]:
        """The first Spark build, the fit, the second Spark build, as the plan has them."""
        # Both builds name what they leave out: dagster-dbt adds a --select to the
        # run's own selection instead of narrowing it, but honours --exclude.
        models = {k.path[-1] for k in self.context.assets_def.keys} - {PREDICTIONS_KEY.path[-1]}
        if plan.first:
            yield from self.dbt_build(1, plan.second, with_predictions=False)
        if plan.fit:
            yield self.fit()
        if plan.second:
            if self.night is None and not any(self.paths.predictions.glob("*.parquet")):
                raise FileNotFoundError(
                    f"{', '.join(plan.second)} read the predictions, but {self.paths.predictions} has none; "
                    "select mart_customer_predictions too"
                )
            yield from self.dbt_build(2, models - set(plan.second), with_predictions=True)

    def dbt_build(self, phase: int, excluded: Iterable[str], with_predictions: bool) -> Iterator[DbtEvent]:
        request = self.request
        spark_dbt = spark_dbt_resource(request.dbt, self.paths, phase, with_predictions)
        args = dbt_build_args(request.vars, request.full_refresh, target=SPARK_ENGINE)
        if excluded:
            # One value: dagster-dbt reads a single argument after --exclude.
            args += ["--exclude", " ".join(sorted(excluded))]
        target = request.target_path
        if phase > 1:
            target = target.with_name(f"{target.name}-{phase}")
            # The newest parse is the first build's: same project, vars and profile.
            seed_partial_parse(dbt_runs_dir(request.warehouse.root), target)
        with timed(self.seconds, f"dbt_phase_{phase}"):
            for event in spark_dbt.cli(args, context=self.context, target_path=target).stream():
                self.events.append(event)
                yield event

    def fit(self) -> dg.Output:
        with timed(self.seconds, "fit"):
            self.night = fit_predictions(self.paths, self.request.vars, self.request.warehouse)
        meta = self.night.run.meta
        self.context.log.info(
            f"predictions {'refitted' if meta.get('refit') else 'scored'} for {self.night.run.scores.height} customers "
            f"from Spark's int_customer_orders ({meta.get('refit_reason')})"
            + (f" ({self.night.run.note})" if self.night.run.note else "")
        )
        output = dg.Output(
            None,
            output_name=self.context.assets_def.get_output_name_for_asset_key(PREDICTIONS_KEY),
            metadata={"engine": SPARK_ENGINE},
        )
        self.events.append(output)
        return output

    def test_predictions(self) -> Iterator[DbtEvent]:
        """The predictions' dbt data tests, run by dbt on the DuckDB target over the build file's copy of the fit."""
        others = {k.path[-1] for k in self.context.assets_def.keys} - {PREDICTIONS_KEY.path[-1]}
        args = dbt_test_args(self.request.vars, excluded=others)
        target = self.request.target_path.with_name(f"{self.request.target_path.name}-predictions-tests")
        yield from self.request.dbt.cli(args, context=self.context, target_path=target).stream()
