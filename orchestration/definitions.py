"""The one Definitions object: `dagster dev` (workspace.yaml) and `dagster -m` load it."""

from __future__ import annotations

import os

# dbt and Great Expectations phone home unless told not to; the network is closed.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import dagster as dg  # noqa: E402

from assets.extraction.assets import extract_shop  # noqa: E402

from assets.resources import resources_from_settings  # noqa: E402
from assets.settings import Settings  # noqa: E402

# Every RETENTION_* variable is checked here, before any work: a bad value
# stops the load with one SettingsError line naming it.
settings = Settings.from_env()
# dbt_project/profiles.yml reads the build warehouse path from here.
os.environ.setdefault("RETENTION_BUILD_DB", str(settings.layout.build_db))

# Needs the dbt manifest (`make manifest` runs `dbt parse`; `dagster dev` re-parses).
from assets.dbt import build_dbt_assets, dbt_resource  # noqa: E402
from assets.predictions import mart_customer_predictions  # noqa: E402

all_assets: list = [extract_shop, build_dbt_assets(), mart_customer_predictions]
all_asset_checks: list = []
all_jobs: list = []
all_schedules: list = []
all_sensors: list = []

# Quality gates: GX suites as blocking asset checks on the raw/* and
# marts/* assets registered above (GX itself is imported only when a check runs).
from assets.quality import quality_checks_for  # noqa: E402

all_asset_checks += quality_checks_for(all_assets)

# Serving -- keep this block LAST before `defs`: publish, exports and report
# depend on every `marts/*` asset registered above; the build switch on those three.
from assets.serving import build_serving_assets, mart_asset_keys  # noqa: E402

from .jobs import jobs as pipeline_jobs, nightly_job  # noqa: E402
from .schedules import nightly_schedule_from_settings  # noqa: E402
from .sensors import sensors as alert_sensors  # noqa: E402

all_assets += build_serving_assets(mart_asset_keys(all_assets))
all_jobs += pipeline_jobs
all_schedules.append(
    nightly_schedule_from_settings(nightly_job, settings, resources_from_settings(settings)["shop_source"].shop_timezone)
)
all_sensors += alert_sensors

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_asset_checks,
    jobs=all_jobs,
    schedules=all_schedules,
    sensors=all_sensors,
    resources={**resources_from_settings(settings), "dbt": dbt_resource()},
    # One DuckDB writer at a time: steps run one after another in one process
    # (see docs/architecture.md).
    executor=dg.in_process_executor,
)
