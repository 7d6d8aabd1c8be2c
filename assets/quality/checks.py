"""The expectation suites as Dagster asset checks, one per guarded asset.

Every check is `blocking=True`: when an ERROR expectation fails, the check
reports AssetCheckSeverity.ERROR and Dagster does not start the assets
downstream of the guarded one (dbt models after a raw check, exports and
publish after a mart check). When only WARN expectations fail, the check
reports AssetCheckSeverity.WARN and the run goes on.

Register in `orchestration/definitions.py`:

    from assets.quality import quality_checks
    all_asset_checks += quality_checks

Great Expectations is not imported by this module; the engine imports it
inside the check function.
"""

from datetime import date, datetime
from pathlib import Path

import dagster as dg

from assets.extraction.contract import ENTITIES
from assets.user_config import section, source_of
from assets.resources import ShopSourceResource, WarehouseResource
from assets.run_state import parse_bound  # the extraction reads `until` the same way
from assets.shop_profile import history_end as recorded_history_end, shop_currency, shop_timezone

from .config import DEFAULT_CONFIG, ERROR, QualityConfig
from .freshness import judge_quiet_night, reference_date
from .results import failure_text
from .shop_config import quality_config
from .suites import REQUIRED_MARTS, raw_suites, suite_named

# A suite's check is named after it: unique over all checks (the asset key is not shown everywhere the
# name is), and short (the longest suite name gives 27 characters; Dagster's sidebar cuts at ~40).
SUITE_CHECK_PREFIX = "gx_"
MAX_CHECK_NAME = 40


def check_name(suite_name: str) -> str:
    return SUITE_CHECK_PREFIX + suite_name


def is_suite_check(name: str) -> bool:
    return name.startswith(SUITE_CHECK_PREFIX)


def run_check(
    context: dg.AssetCheckExecutionContext | None,
    suite_name: str,
    warehouse: WarehouseResource,
    shop_source: ShopSourceResource | None = None,
    config: QualityConfig = DEFAULT_CONFIG,
    run_id: str | None = None,
) -> dg.AssetCheckResult:
    from .engine import docs_index, run_suite  # noqa: PLC0415 - imports Great Expectations

    con = warehouse.connect()
    try:
        # The shop's currency and time zone as the extraction resolved them (assets/shop_profile.py).
        currency, timezone, history_end = "USD", "UTC", None
        if shop_source is not None:
            if config is DEFAULT_CONFIG:
                config = config_for_shop(shop_source.user_config())
            where = str(warehouse.build_db)
            currency = shop_currency(con, shop_source, where)
            timezone = shop_timezone(con, shop_source, where)
            history_end = recorded_history_end(con)
        suite = suite_named(suite_name, config, currency, timezone)
        run_id = run_id or (context.run.run_id if context is not None else "manual")
        log = context.log.info if context is not None else print
        as_of = None
        if shop_source is not None:
            as_of = run_as_of(shop_source, history_end, context.run.run_config if context is not None else None)
        run = run_suite(con, suite, run_id, config, as_of_setting=as_of, docs_root=warehouse.quality_dir, log_fn=log)
    finally:
        con.close()
    for line in run.history_lines():
        (context.log.info if context is not None else print)(line)
    for severity, line in run.failure_lines():
        if context is None:
            print(line)
        else:
            (context.log.error if severity == ERROR else context.log.warning)(line)
    return check_result(run, docs_index(warehouse.quality_dir))


def run_as_of(shop_source: ShopSourceResource, history_end: datetime | None, run_config) -> date:
    """The date a raw suite judges freshness against: RETENTION_AS_OF_DATE, else the run's `until`, else today.

    `history_end`: the end of a generated history (the sample shop's), never passed.
    """
    until = (((run_config or {}).get("ops") or {}).get("extract_shop") or {}).get("config", {}).get("until")
    return reference_date(shop_source.as_of(), parse_bound(until, end_of_day=True), history_end)


def quiet_night_freshness(context, warehouse: WarehouseResource, shop_source: ShopSourceResource, source,
                          until: datetime | None) -> None:
    """A night without new data: judge and record freshness, and fail the night (no retry) when too old.

    Called by the extraction step (the pipeline wires it in: orchestration/extraction.py), the only step
    that runs on such a night.
    """
    history_end = source.history_end() if hasattr(source, "history_end") else None
    as_of = reference_date(shop_source.as_of(), until, history_end)
    con = warehouse.connect()
    try:
        errors = judge_quiet_night(con, config_for_shop(shop_source.user_config()), as_of, context.run.run_id,
                                   context.log.error, context.log.warning, context.log.info, source.timezone)
    finally:
        con.close()
    if errors:
        raise dg.Failure(description="no new data, and the newest is too old: " + "; ".join(errors),
                         allow_retries=False)


def config_for_shop(user_config: dict) -> QualityConfig:
    """DEFAULT_CONFIG with section `quality` of the shop's retention.yml applied."""
    return quality_config(section(user_config, "quality"), source_of(user_config))


def check_result(run, index: Path | None = None) -> dg.AssetCheckResult:
    if run.note:
        return dg.AssetCheckResult(
            passed=True,
            metadata={"tracked": False, "note": run.note, "row_count": 0},
            description=f"{run.suite.name}: {run.note}",
        )
    failed_error = run.failed(ERROR)
    failed = run.failed()
    metadata: dict[str, object] = {
        "failed_expectations": dg.MetadataValue.md(run.failures_markdown()),
        # one line per failed expectation (rule id, severity, counts, examples): what the failure alert quotes
        "failed_rules": dg.MetadataValue.text("\n".join(failed_rule_lines(run))) if failed else None,
        "expectations": len(run.results),
        "failed_error": len(failed_error),
        "failed_warn": len(failed) - len(failed_error),
        "row_count": run.row_count,
        "rows_validated": run.rows_validated,
        "row_rules": run.row_rules_text,
        "chunks": run.chunks,
        "seconds": run.seconds,
        "as_of_date": str(run.as_of) if run.as_of else None,
        "audit": dg.MetadataValue.text(
            f"SELECT * FROM audit.validation_results WHERE run_id = '{run.run_id}' AND suite = '{run.suite.name}'"
        ),
    }
    if run.data_docs:
        metadata["data_docs"] = dg.MetadataValue.url(run.data_docs)
    if index is not None and index.exists():
        metadata["data_docs_index"] = dg.MetadataValue.path(str(index))
    description = (
        f"{len(run.results) - len(failed)}/{len(run.results)} expectations passed"
        + (f"; failed: {', '.join(r.rule_id for r in failed[:8])}" if failed else "")
    )
    lines = [line for _, line in run.failure_lines()]
    if lines:
        # what the console printed, in the check's own record (the Dagster UI, the event log)
        description += "\n" + "\n".join(lines[:10]) + (f"\n... {len(lines) - 10} more" if len(lines) > 10 else "")
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if failed_error or not failed else dg.AssetCheckSeverity.WARN,
        metadata={k: v for k, v in metadata.items() if v is not None},
        description=description,
    )


def failed_rule_lines(run) -> list[str]:
    """The first console line of each failed rule, ERROR first (`results.failure_text`)."""
    failed = sorted(run.failed(), key=lambda r: (r.severity != ERROR, r.kind, r.rule_id))
    return [failure_text(run.suite.name, r)[0] for r in failed]


def build_check(suite_name: str, asset_key: dg.AssetKey, description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name=check_name(suite_name),
        blocking=True,
        description=description,
    )
    def _check(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        shop_source: ShopSourceResource,
    ) -> dg.AssetCheckResult:
        return run_check(context, suite_name, warehouse, shop_source)

    return _check


def _describe(suite_name: str) -> str:
    settings = ("Thresholds and severities: assets/quality/config.py, overridden in section `quality` of the "
                "shop's retention.yml.")
    raw = {s.name: s for s in raw_suites()}
    if suite_name not in raw:
        # (mart suites are built from the dbt manifest, which is not read when the checks are defined)
        return (f"Great Expectations suite `{suite_name}`: the mart's rules its dbt tests do not check (ranges, "
                f"reconciliation with staging, volume); columns and dbt-tested rules come from the dbt manifest. "
                + settings)
    suite = raw[suite_name]
    kinds = sorted({r.kind for r in suite.rules})
    return (f"Great Expectations suite `{suite_name}` ({len(suite.rules)} expectations: {', '.join(kinds)}). "
            f"{suite.description} " + settings)


raw_quality_checks = [
    build_check(f"raw_{e}", dg.AssetKey(["raw", e]), _describe(f"raw_{e}")) for e in ENTITIES
]
mart_quality_checks = [
    build_check(m, dg.AssetKey(["marts", m]), _describe(m)) for m in REQUIRED_MARTS
]
quality_checks = raw_quality_checks + mart_quality_checks


def quality_checks_for(assets) -> list[dg.AssetChecksDefinition]:
    """The checks whose guarded asset is among `assets` (so the mart checks join when dbt does)."""
    keys: set[dg.AssetKey] = set()
    for a in assets:
        keys |= set(getattr(a, "keys", ()) or ())
        if isinstance(a, dg.AssetSpec):
            keys.add(a.key)
    return [c for c in quality_checks if all(k.asset_key in keys for k in c.check_keys)]
