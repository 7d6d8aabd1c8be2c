"""Dagster assets of the serving layer: publish, Parquet exports, HTML report, and the switch.

The first three depend on every mart asset, so they run only after the marts
(and their blocking checks: a failed blocking check stops downstream assets)
in the same run. Each STAGES its output in the run's folder
`builds/.stage-<run id>/` (warehouse.duckdb, exports/, report/). The fourth,
`published_build`, depends on all three and flips the `current` symlink:
analysts, BI and the report switch to the new build together, or (a step
failed, the run was killed) not at all.

After the switch, `dbt_docs` rebuilds the dbt docs page of this data folder
(assets/serving/dbt_docs.py) that the report links to.

Paths in the metadata are `MetadataValue.path` (shown with a copy button):
a browser does not follow a `file://` link from a page served over http, so
a URL value would not open from the UI anyway.

`build_serving_assets(mart_keys)` makes them for whatever mart assets the
Definitions hold (dbt marts, the predictions mart); `mart_asset_keys(defs)`
picks those keys (asset keys `marts/<model>`).
"""


from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import dagster as dg
import duckdb

from assets.marts import marts_not_built_on
from assets.resources import ShopSourceResource, WarehouseResource
from assets.run_state import DbtBuildConfig, build_settings, dbt_vars, record_published_state
from assets.shop_profile import shop_currency, shop_timezone

from .audience_exports import write_audience_exports
from .dbt_docs import DOCS_PAGE, build_dbt_docs, docs_fingerprint, page_is_current
from assets.descriptions import load_table_docs
from .exports import DEFAULT_PARTITION_MIN_ROWS, KEEP_VERSIONS, read_as_of_date, write_exports
from .publish import (
    EXPORTS_FOLDER,
    REPORT_FOLDER,
    WAREHOUSE_FILE,
    current_build_dir,
    publish_database,
    switch_build,
)
from .report import build_report, load_report_frames, models_fitted_text, write_report

SERVING_GROUP = "serving"
MARTS_PREFIX = "marts"
PREDICTIONS_MART = dg.AssetKey([MARTS_PREFIX, "mart_customer_predictions"])
# Explicit "no retries": the nightly job's op_retry_policy is meant for
# extraction; serving steps are deterministic, a retry would only repeat the failure.
NO_RETRY = dg.RetryPolicy(max_retries=0)


def mart_asset_keys(assets: Iterable[object], engine: str = "duckdb") -> list[dg.AssetKey]:
    """Keys `marts/<model>` of the given asset definitions / specs that `engine` builds.

    A mart the engine does not build is never materialized on it, and Dagster
    skips a step whose upstream asset was not materialized in the run: the
    serving steps must not wait for it.
    """
    not_built = set(marts_not_built_on(engine))
    keys: set[dg.AssetKey] = set()
    for a in assets:
        if isinstance(a, dg.AssetsDefinition):
            keys.update(a.keys)
        elif isinstance(a, dg.AssetSpec):
            keys.add(a.key)
    return sorted((k for k in keys if len(k.path) == 2 and k.path[0] == MARTS_PREFIX and k.path[1] not in not_built),
                  key=lambda k: k.path)


class ExportConfig(dg.Config):
    partition_min_rows: int = DEFAULT_PARTITION_MIN_ROWS
    """A time-series mart with at least this many rows is hive-partitioned by month."""
    keep_versions: int = KEEP_VERSIONS
    """Export sets kept under a build's exports/.versions (each build folder holds its own one set;
    how many builds are kept is publish.KEEP_BUILDS)."""


def build_serving_assets(mart_keys: Sequence[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    # Declarations only: each asset's work is the module-level function it wraps.
    deps = list(dict.fromkeys(mart_keys))
    serving = dict(group_name=SERVING_GROUP, retry_policy=NO_RETRY)
    warehouse = dg.asset(
        name="published_warehouse", deps=deps, kinds={"duckdb"}, **serving,
        description=(
            "The analysts' warehouse, staged: marts, intermediate and the redacted quarantine written "
            "into a new read-only DuckDB file (never a copy of the build file), every table and column "
            "described (its dbt description as a comment). Visible as "
            "data/warehouse.duckdb after the build switch; open it read-only, reconnect to see a new build."
        ),
    )(stage_published_warehouse)
    exports = dg.asset(
        name="parquet_exports", deps=deps, kinds={"parquet"}, **serving,
        description=(
            "Every mart as zstd Parquet plus _manifest.json, staged; visible under "
            "data/exports/<mart>/ after the build switch. Each file and the manifest carry the mart's and "
            "its columns' dbt descriptions."
        ),
    )(stage_parquet_exports)
    report = dg.asset(
        name="retention_report", deps=deps, kinds={"html"}, **serving,
        description=(
            "Self-contained HTML report (inline SVG charts), staged; visible as data/report/index.html "
            "after the build switch. Opens from disk."
        ),
    )(stage_retention_report)
    staged = [warehouse, exports, report]
    switch = dg.asset(
        name="published_build", deps=[a.key for a in staged], kinds={"duckdb", "parquet", "html"}, **serving,
        description=(
            "The switch: flips data/current to this run's build folder, so data/warehouse.duckdb, "
            "data/exports/ and data/report/ change together. Keeps the previous build for open sessions."
        ),
    )(switch_published_build)
    docs = dg.asset(
        # Not "dbt": that kind marks the dbt models themselves.
        name="dbt_docs", deps=[switch.key], kinds={"html"}, **serving,
        description=(
            "The dbt docs (models, columns, tests, lineage, metric glossary) of this build as one static "
            "page that opens from disk: data/dbt_docs/index.html. The report links to it."
        ),
    )(refresh_dbt_docs)
    return [*staged, switch, docs]


def stage_published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    target = warehouse.layout.stage_dir(context.run.run_id) / WAREHOUSE_FILE
    result = publish_database(warehouse.build_db, target, tag=context.run.run_id, docs=load_table_docs())
    context.log.info(f"staged {result.published_db} ({result.bytes:,} bytes, {len(result.mart_tables)} marts)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse.published_db)),
            "staged_in": dg.MetadataValue.path(str(result.published_db)),
            "bytes": result.bytes,
            "sha256": result.sha256,
            "mart_tables": dg.MetadataValue.json(list(result.mart_tables)),
            "staged_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    )


def stage_parquet_exports(
    context: dg.AssetExecutionContext, config: ExportConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    exports_dir = warehouse.layout.stage_dir(context.run.run_id) / EXPORTS_FOLDER
    # The published build's exports: marts whose content did not change are hard-linked from there.
    published = current_build_dir(warehouse.layout)
    result = write_exports(
        warehouse.build_db,
        exports_dir,
        run_id=context.run.run_id,
        partition_min_rows=config.partition_min_rows,
        keep=config.keep_versions,
        docs=load_table_docs(),
        previous_exports=published / EXPORTS_FOLDER if published else None,
    )
    # The audiences' lists and their changes since the published build (assets/serving/audience_exports.py).
    audiences = write_audience_exports(warehouse.build_db, exports_dir, warehouse.exports_dir)
    if audiences is None:
        context.log.info("no mart_audience_members in this build (a Spark build): no audience lists exported")
    marts = result.manifest["marts"]
    carried = sorted(name for name, m in marts.items() if m.get("carried_from"))
    context.log.info(f"exported {len(marts)} marts as version {result.version}, {len(carried)} unchanged "
                     f"and hard-linked from the published build (pruned {list(result.pruned)})")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse.exports_dir)),
            "staged_in": dg.MetadataValue.path(str(exports_dir)),
            "version": result.version,
            "as_of_date": result.manifest["as_of_date"] or "unknown",
            "marts": dg.MetadataValue.md(exported_marts_table(marts)),
            "total_rows": sum(m["rows"] for m in marts.values()),
            "marts_carried": dg.MetadataValue.json(carried),
            "audiences": dg.MetadataValue.json(
                {a: {k: e[k] for k in ("members", "entered", "left")} for a, e in audiences["audiences"].items()}
                if audiences else {}
            ),
        }
    )


def exported_marts_table(marts: dict[str, dict]) -> str:
    """The exports manifest's marts as a Markdown table (rows, files, partitioning, written or carried)."""
    return "| mart | rows | files | partitioned by | carried |\n|---|---:|---:|---|---|\n" + "\n".join(
        f"| {name} | {m['rows']:,} | {len(m['files'])} | {m['partitioned_by'] or '–'} | "
        f"{'unchanged' if m.get('carried_from') else 'written'} |" for name, m in marts.items()
    )


def stage_retention_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, shop_source: ShopSourceResource
) -> dg.MaterializeResult:
    con = duckdb.connect(str(warehouse.build_db), read_only=True)
    try:
        frames = load_report_frames(con)
        as_of = read_as_of_date(con)
        fitted = models_fitted_text(con)
        currency = shop_currency(con, shop_source, str(warehouse.build_db))
    finally:
        con.close()
    html = build_report(
        frames,
        as_of_date=as_of,
        currency=currency,
        shop_name=shop_source.display_name,
        run_id=context.run.run_id,
        churn_after_days=shop_source.churn_after_days,
        links=report_links(warehouse.layout),
        models_fitted=fitted,
    )
    path = write_report(html, warehouse.layout.stage_dir(context.run.run_id) / REPORT_FOLDER)
    stable = warehouse.report_dir / path.name
    context.log.info(f"report staged at {path}; after the switch: file://{stable}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(stable)),
            "open": dg.MetadataValue.text(stable.absolute().as_uri()),
            "as_of_date": as_of.isoformat() if as_of else "unknown",
            "marts_shown": dg.MetadataValue.json(sorted(frames)),
            "bytes": path.stat().st_size,
        }
    )


def switch_published_build(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, shop_source: ShopSourceResource
) -> dg.MaterializeResult:
    result = switch_build(warehouse.layout, context.run.run_id)
    context.log.info(f"switched to build {result.build_id} (removed {list(result.removed)})")
    # After the switch: a night with nothing new may then stop after extraction.
    con = warehouse.connect()
    try:
        # The time zone the extraction resolved: the same settings it compares on a quiet night.
        shop_tz = shop_timezone(con, shop_source, str(warehouse.build_db))
        settings = build_settings(shop_source, context.run.run_config, shop_tz, engine=warehouse.engine)
        record_published_state(con, settings, context.run.run_id)
    finally:
        con.close()
    return dg.MaterializeResult(
        metadata={
            "build_id": result.build_id,
            "build_dir": dg.MetadataValue.path(str(result.build_dir)),
            "warehouse": dg.MetadataValue.path(str(warehouse.published_db)),
            "connect": dg.MetadataValue.md(f"`duckdb -readonly {warehouse.published_db}`"),
            "exports": dg.MetadataValue.path(str(warehouse.exports_dir)),
            "report": dg.MetadataValue.path(str(warehouse.report_dir / "index.html")),
            "switched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    )


def refresh_dbt_docs(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, shop_source: ShopSourceResource
) -> dg.MaterializeResult:
    from assets.dbt_runs import dbt_executable, dbt_runs_dir, latest_partial_parse

    with duckdb.connect(str(warehouse.build_db), read_only=True) as con:
        shop_tz = shop_timezone(con, shop_source, str(warehouse.build_db))
    vars_ = dbt_vars(shop_source, shop_tz, DbtBuildConfig())
    docs_dir = warehouse.layout.dbt_docs_dir
    # A night that changed no code, var or column would write the same page: keep it.
    fingerprint = docs_fingerprint(warehouse.build_db, vars_)
    rebuilt = not page_is_current(docs_dir, fingerprint)
    if rebuilt:
        page = build_dbt_docs(
            warehouse.build_db, docs_dir, vars_, dbt=dbt_executable(), memory_limit=warehouse.memory_limit,
            partial_parse=latest_partial_parse(dbt_runs_dir(warehouse.root)), fingerprint=fingerprint,
        )
        context.log.info(f"dbt docs at {page.as_uri()}")
    else:
        page = docs_dir / DOCS_PAGE
        context.log.info(f"dbt docs unchanged (same project, vars and columns), kept at {page.as_uri()}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(page)),
            "open": dg.MetadataValue.text(page.as_uri()),
            "shop_timezone": vars_["shop_timezone"],
            "bytes": page.stat().st_size,
            "rebuilt": rebuilt,
        }
    )


def report_links(layout) -> dict[str, str]:
    """Label -> file:// URL of the pages the report links to, at their stable paths in the data folder."""
    return {
        "Metric and column definitions (dbt docs)": (layout.dbt_docs_dir / "index.html").absolute().as_uri(),
        "Quality checks (Data Docs)": (layout.quality_dir / "data_docs" / "index.html").absolute().as_uri(),
    }
