"""dbt models as Dagster assets: staging -> intermediate -> marts, downstream of extraction.

The manifest is read when the assets are first built (`build_dbt_assets()`,
called by the Definitions; importing this module does no work), so `dbt parse`
(no database needed) must have run first: `dagster dev` does it through
`prepare_if_dev()`, `make manifest`, tests and CI run it explicitly. Every
model, the predictions included, is one multi-asset, so a run is one dbt step.
dbt data tests become asset checks (dagster-dbt's default), each described by
`describe_dbt_test`; unit tests run where the SQL changes, not nightly
(`dbt_build_args`). After the build, each table's row count (and the
predictions' fit metadata) is added to its materialization.

The engine that runs the build (`RETENTION_ENGINE`: DuckDB, or Spark) is
picked once per step by `engine_for` from the `warehouse` resource; this
module knows it only through the `Engine` interface (assets/dbt/engine.py).
The run-time knobs reach dbt as `--vars`, built by `dbt_vars` from the
`shop_source` resource (as-of date, windows), the resolved shop time zone and
the run's config. The warehouse file reaches dbt through the RETENTION_BUILD_DB
environment variable, read by `dbt_project/profiles.yml`. Each run's artefacts
and dbt.log go under the data folder (assets/dbt_runs.py), the last
KEEP_DBT_RUNS runs kept; each run starts from the previous run's partial parse.

No `from __future__ import annotations` here: Dagster resolves the asset
function's `config: DbtBuildConfig` annotation at definition time.
"""

import contextlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from assets.audiences import audience_vars
from assets.dbt.engine import BuildRequest
from assets.dbt.engines import engine_for
from assets.dbt.metadata import with_row_counts
from assets.dbt.project import dbt_project, retention_dbt_translator, with_short_test_names
from assets.dbt_runs import KEEP_DBT_RUNS, dbt_runs_dir, prune_dbt_runs, seed_partial_parse
from assets.resources import ShopSourceResource, WarehouseResource
from assets.run_state import DbtBuildConfig, dbt_vars
from assets.shop_profile import shop_timezone


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
        """Build (run + test) the selected dbt models on the configured engine; tests report as asset checks."""
        engine = engine_for(warehouse.engine)
        # The dbt subprocess inherits the environment: point its profile at this
        # run's build warehouse (tests and other data dirs differ from the default).
        warehouse.build_db.parent.mkdir(parents=True, exist_ok=True)
        os.environ["RETENTION_BUILD_DB"] = str(warehouse.build_db)
        os.environ["RETENTION_DUCKDB_MEMORY_LIMIT"] = warehouse.memory_limit
        # The time zone the extraction resolved (assets/shop_profile.py); dbt opens the file after.
        con = warehouse.connect()
        try:
            shop_tz = shop_timezone(con, shop_source, str(warehouse.build_db))
        finally:
            con.close()
        vars_ = dbt_vars(shop_source, shop_tz, config, audience_vars(shop_source.user_config()))
        context.log.info(f"dbt vars: {vars_}")
        # One folder per run and step (a run that selects dbt models with a gap
        # between them would call dbt more than once); dagster-dbt points DBT_LOG_PATH at it too.
        runs_root = dbt_runs_dir(warehouse.root)
        target = runs_root / context.run.run_id / context.op_execution_context.op.name
        reused = seed_partial_parse(runs_root, target)
        if reused:
            context.log.debug(f"dbt partial parsing from {reused}")
        request = BuildRequest(dbt=dbt, warehouse=warehouse, vars=vars_, full_refresh=config.full_refresh,
                               target_path=target)
        # Events are held until the build is over: the dbt process holds the
        # warehouse's write lock while it runs, and the row counts are read after it.
        events: list = []
        try:
            with contextlib.redirect_stdout(engine.console(sys.stdout)):
                events.extend(engine.build(context, request))
        except BaseException:
            yield from events
            raise
        finally:
            removed = prune_dbt_runs(runs_root, KEEP_DBT_RUNS)
            if removed:
                context.log.debug(f"removed {len(removed)} old dbt run folder(s) under {runs_root}")
        yield from with_row_counts(events, context.asset_key_for_output, warehouse, context.log)

    return retention_dbt_assets
