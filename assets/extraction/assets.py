"""Dagster extraction assets: one asset per entity in schema `raw`.

They are one multi-asset because the sample shop draws every entity in the
same pass; the multi-asset is subsettable, so materializing `raw/orders`
alone reads only orders.

When a run changes nothing in `raw` and the build settings are those of the
last published build, the multi-asset materializes nothing (its specs are
skippable), so Dagster skips everything downstream: the marts are current.
"""


from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

import dagster as dg

from assets.user_config import UserConfigError
from assets.warehouse import quote_literal
from assets.resources import ShopSourceResource, WarehouseResource
from assets.run_state import build_settings, parse_bound, unchanged_since_publish

from .builders import build_source
from .contract import ENTITIES, RAW_SCHEMA
from .extract import ExtractRequest, run_extraction, stats_metadata
from .load import LoadStats, MissingColumnsError
from .sources import LandingSource, Source, SourceFileError


# A source that times out or a landing folder still being written is worth a
# second try; the other steps (dbt, checks, exports) fail fast instead.
# Contract errors (CONTRACT_ERRORS) are not retried: the same file fails the
# same way until a person fixes it.
EXTRACTION_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2,
    delay=30,
    backoff=dg.Backoff.EXPONENTIAL,  # 30 s, then 60 s
    jitter=dg.Jitter.PLUS_MINUS,
)


# A file or a configuration a person must fix: retrying cannot help.
CONTRACT_ERRORS = (SourceFileError, MissingColumnsError, UserConfigError)


def contract_failure(exc: Exception) -> dg.Failure:
    """A one-line, non-retried failure naming the file (or setting) and the problem."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return dg.Failure(description=line, allow_retries=False)


def quarantine_query(run_id: str, entity: str | None = None) -> str:
    """Ready-to-paste SQL listing a run's quarantined rows."""
    where = f"run_id = {quote_literal(run_id)}"
    if entity:
        where += f" AND entity = '{entity}'"
    return (
        f"SELECT entity, reason, source_file, row_number, record FROM {RAW_SCHEMA}.quarantine "
        f"WHERE {where} ORDER BY entity, source_file, row_number;"
    )


def _summary_rows(totals: Mapping[str, LoadStats], not_tracked: Mapping[str, Path]):
    """(entity, kind, label, rows) for each line of the quarantine summary, in one place."""
    for name, stats in totals.items():
        if name in not_tracked:
            yield name, "status", f"not tracked (no files in {not_tracked[name]})", None
        elif not stats.quarantined:
            yield name, "status", "nothing quarantined", 0
        else:
            yield name, "total", "row quarantined" if stats.quarantined == 1 else "rows quarantined", stats.quarantined
            for reason, n in sorted(stats.reasons.items()):
                yield name, "reason", reason, n


def quarantine_summary(
    totals: Mapping[str, LoadStats],
    run_id: str,
    build_db: Path | str,
    not_tracked: Mapping[str, Path] | None = None,
    markdown: bool = False,
) -> str:
    """Per entity and reason, the rows this run quarantined, and where to read them.

    A row breaking several rules counts once per reason, so reasons may add
    up to more than the entity's rows.
    """
    rows = list(_summary_rows(totals, not_tracked or {}))
    query = quarantine_query(run_id, next(iter(totals)) if len(totals) == 1 else None)
    where = None
    if any(s.quarantined for s in totals.values()):
        where = f"Rows are in {RAW_SCHEMA}.quarantine of {build_db}:"
    if markdown:
        lines = [f"Quarantine of run `{run_id}`", "", "| entity | reason | rows |", "|---|---|---|"]
        for name, kind, label, n in rows:
            label = {"total": "**all reasons**", "reason": f"`{label}`"}.get(kind, label)
            lines.append(f"| {name} | {label} | {'' if n is None else f'{n:,}'} |")
        if where:
            lines += ["", where, "", "```sql", query, "```"]
        return "\n".join(lines)
    lines = [f"Quarantine summary of run {run_id}:"]
    for name, kind, label, n in rows:
        if kind == "status":
            lines.append(f"  {name}: {label}")
        elif kind == "total":
            lines.append(f"  {name}: {n:,} {label}")
        else:
            lines.append(f"    {label}: {n:,}")
    if where:
        lines += [where, f"  {query}"]
    return "\n".join(lines)


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", entity])


class ExtractConfig(dg.Config):
    """Run-time switches. Leave empty for the normal incremental run."""

    since: Optional[str] = None
    """Re-extract records updated after this date/time (ISO). Needs no state; upserts are idempotent."""
    until: Optional[str] = None
    """Read changes up to this date/time (ISO; a date means the end of that day). Default: now."""
    full_refresh: bool = False
    """Ignore the high-water mark / ingested-file list and read everything again."""


def quiet_since(
    con, shop_source: ShopSourceResource, run_config: Mapping | None, shop_timezone: str, engine: str = "duckdb"
) -> datetime | None:
    """When the last published build was made from this `raw` with this run's settings; else None.

    A dbt full refresh asks for a rebuild. Settings that cannot be worked out
    (a malformed as-of date) never skip: the dbt step reports them.
    """
    try:
        settings = build_settings(shop_source, run_config, shop_timezone, engine)
    except (ValueError, TypeError, UserConfigError):
        return None
    if settings["dbt_full_refresh"]:
        return None
    return unchanged_since_publish(con, settings)


# What a quiet night runs instead of the skipped checks: (context, warehouse, shop_source, source, until) -> None,
# raising dg.Failure to stop the night. The pipeline wires the quality area's freshness judgement in
# (orchestration/extraction.py); this area does not import it.
QuietNightJudge = Callable[[dg.AssetExecutionContext, WarehouseResource, ShopSourceResource, object,
                            Optional[datetime]], None]


def build_extract_asset(retry_policy: dg.RetryPolicy | None = EXTRACTION_RETRY_POLICY,
                        quiet_night: QuietNightJudge | None = None) -> dg.AssetsDefinition:
    """The extraction multi-asset (a factory so tests can use a retry policy without waits).

    `quiet_night`: called when nothing changed since the last published build
    (every later step, the checks included, is skipped); without it such a
    night says, as a warning, that nothing judged its freshness.
    """

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                raw_key(name),
                description=entity.description,
                group_name="extraction",
                kinds={"duckdb", "python"},
                metadata={"primary_key": ", ".join(entity.primary_key)},
                # Not materialized when nothing changed since the last published
                # build: Dagster then skips every step downstream (dbt, checks, publish).
                skippable=True,
            )
            for name, entity in ENTITIES.items()
        ],
        can_subset=True,
        name="extract_shop",
        retry_policy=retry_policy,
    )
    def extract_shop(
        context: dg.AssetExecutionContext,
        config: ExtractConfig,
        warehouse: WarehouseResource,
        shop_source: ShopSourceResource,
    ):
        run = extract_selected(context, config, warehouse, shop_source)
        if run.unchanged_since is not None:
            report_quiet_night(context, run, warehouse, shop_source, quiet_night)
            return
        yield from extraction_results(context, run, warehouse.build_db)

    return extract_shop


@dataclass(frozen=True)
class ExtractionRun:
    """What one run of the extraction asset did (`unchanged_since`: set when nothing changed since publishing)."""

    selected: tuple[str, ...]
    request: ExtractRequest
    source: Source
    not_tracked: Mapping[str, Path]
    totals: Mapping[str, LoadStats]
    unchanged_since: datetime | None


def extract_selected(context: dg.AssetExecutionContext, config: ExtractConfig, warehouse: WarehouseResource,
                     shop_source: ShopSourceResource) -> ExtractionRun:
    """Extract the selected entities into `raw`; a contract problem fails as one clear Dagster failure."""
    # Contract order: orders load before the order lines that may borrow their dates.
    selected = tuple(e for e in ENTITIES if raw_key(e) in context.selected_asset_keys)
    request = ExtractRequest(
        entities=selected,
        since=parse_bound(config.since, end_of_day=False),
        until=parse_bound(config.until, end_of_day=True),
        full_refresh=config.full_refresh,
    )
    try:
        source = build_source(shop_source)
        if isinstance(source, LandingSource):
            # Its mapping queries run in a DuckDB of their own, capped like the warehouse's.
            source.memory_limit = warehouse.memory_limit
        not_tracked = source.not_tracked(selected) if hasattr(source, "not_tracked") else {}
        context.log.info(
            f"extracting {', '.join(selected)} from {source.name} into {warehouse.build_db} "
            f"(since={request.since}, until={request.until}, full_refresh={request.full_refresh})"
        )
        con = warehouse.connect()
        try:
            totals = run_extraction(con, source, request, context.run.run_id, log=context.log.info)
            # A run that wrote to `raw` cannot match the published state: skip
            # the state query and the code hash on an ordinary night.
            wrote = any(t.inserted or t.updated or t.quarantined for t in totals.values())
            current_since = None if wrote or request.is_range or request.full_refresh else quiet_since(
                con, shop_source, context.run.run_config, source.timezone, warehouse.engine
            )
        finally:
            con.close()
        for name, folder in not_tracked.items():
            context.log.info(f"{name}: not tracked (no files in {folder})")
    except CONTRACT_ERRORS as exc:
        # `from None`: the description already says it all, once.
        raise contract_failure(exc) from None
    return ExtractionRun(selected, request, source, not_tracked, totals, current_since)


def report_quiet_night(context: dg.AssetExecutionContext, run: ExtractionRun, warehouse: WarehouseResource,
                       shop_source: ShopSourceResource, quiet_night: QuietNightJudge | None) -> None:
    context.log.info(
        f"no new data since the last published build ({run.unchanged_since:%Y-%m-%d %H:%M:%S} UTC); "
        "marts are current"
    )
    # The checks downstream are skipped too: a run of quiet nights is judged here.
    if quiet_night is not None:
        quiet_night(context, warehouse, shop_source, run.source, run.request.until)
    else:
        context.log.warning("freshness not judged on this quiet night: this extraction asset has no "
                            "quiet-night judge (the pipeline's, orchestration/extraction.py, has)")


def extraction_results(context: dg.AssetExecutionContext, run: ExtractionRun,
                       build_db: Path) -> Iterator[dg.MaterializeResult]:
    """One materialization per selected entity, with its load statistics and quarantine summary."""
    run_id = context.run.run_id
    context.log.info(quarantine_summary(run.totals, run_id, build_db, run.not_tracked))
    for name in run.selected:
        md = stats_metadata(run.totals[name])
        md["source"] = run.source.name
        md["tracked"] = name not in run.not_tracked
        md["quarantine_reasons"] = dg.MetadataValue.json(md["quarantine_reasons"])
        md["quarantine_summary"] = dg.MetadataValue.md(
            quarantine_summary({name: run.totals[name]}, run_id, build_db, run.not_tracked, markdown=True)
        )
        yield dg.MaterializeResult(asset_key=raw_key(name), metadata=md)


extract_shop = build_extract_asset()
