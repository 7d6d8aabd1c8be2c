"""The one Definitions object: `dagster dev` (workspace.yaml) and `dagster -m` load it.

This module only assembles: the assets and their resources come from
`assets/`, the jobs, schedule and sensors from this package. Loading it reads
the settings once and the dbt manifest once (`make manifest` runs `dbt parse`;
`dagster dev` re-parses); importing the asset modules does no work.
"""

from __future__ import annotations

import os
import warnings

# dbt and Great Expectations phone home unless told not to; the network is closed.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import dagster as dg  # noqa: E402

from assets.dbt import build_dbt_assets, dbt_resource  # noqa: E402
from assets.extraction.builders import build_source  # noqa: E402
from assets.ownership import DATA_TEAM  # noqa: E402
from assets.quality import quality_checks_for  # noqa: E402
from assets.resources import resources_from_settings  # noqa: E402
from assets.serving import build_serving_assets, mart_asset_keys  # noqa: E402
from assets.settings import Settings  # noqa: E402

from .extraction import extract_shop  # noqa: E402 - with the quality area's quiet-night freshness
from .jobs import jobs as pipeline_jobs, nightly_job  # noqa: E402
from .schedules import nightly_schedule_from_settings  # noqa: E402
from .sensors import sensors as alert_sensors  # noqa: E402


def owned_and_referenced(assets: list) -> list:
    """The assets with an owner (DATA_TEAM unless one is set) and a reference to their code.

    Code references are local file paths (the function that builds each
    asset; dbt models also point to their SQL file, set by the translator),
    so the UI opens the source without a network or a git remote.
    """
    owned = dg.map_asset_specs(
        lambda spec: spec if spec.owners else spec.replace_attributes(owners=[DATA_TEAM]), assets
    )
    # Code references are a beta API; its warning would open every `make run` console.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return list(dg.with_source_code_references(owned))


def pipeline_definitions(settings: Settings) -> dg.Definitions:
    """Extraction -> dbt (predictions included), the quality gates on them, then serving, with their resources."""
    # dbt_project/profiles.yml reads the build warehouse path from here.
    os.environ.setdefault("RETENTION_BUILD_DB", str(settings.layout.build_db))
    built = [extract_shop, build_dbt_assets()]
    return dg.Definitions(
        # Publish, exports and report depend on every `marts/*` asset above.
        assets=owned_and_referenced([*built, *build_serving_assets(mart_asset_keys(built, settings.engine))]),
        # GX suites as blocking checks on the raw/* and marts/* assets (GX is imported when a check runs).
        asset_checks=quality_checks_for(built),
        resources={**resources_from_settings(settings), "dbt": dbt_resource()},
    )


def operations_definitions(settings: Settings) -> dg.Definitions:
    """When and how the pipeline runs: jobs, the nightly schedule, failure alerts."""
    # The schedule's day is the shop's: the source's time zone unless the settings name one.
    shop_timezone = build_source(resources_from_settings(settings)["shop_source"]).timezone
    return dg.Definitions(
        jobs=pipeline_jobs,
        schedules=[nightly_schedule_from_settings(nightly_job, settings, shop_timezone)],
        sensors=alert_sensors,
        # One DuckDB writer at a time: steps run one after another in one process
        # (see docs/architecture.md).
        executor=dg.in_process_executor,
    )


# Every RETENTION_* variable is checked here, before any work: a bad value
# stops the load with one SettingsError line naming it.
settings = Settings.from_env()
defs = dg.Definitions.merge(pipeline_definitions(settings), operations_definitions(settings))
