"""The extraction asset as the pipeline runs it: a quiet night's freshness judged by the quality area.

On a night whose extraction finds nothing new, every later step (dbt, the
checks, publish) is skipped, so the extraction step itself judges freshness
(`assets.quality.checks.quiet_night_freshness`: recorded in
`audit.validation_results`, an ERROR failure stops the night without a
retry). The extraction area does not import the quality area; it is wired
here.
"""

from __future__ import annotations

import dagster as dg

from assets.extraction.assets import EXTRACTION_RETRY_POLICY, build_extract_asset
from assets.quality.checks import quiet_night_freshness


def pipeline_extract_asset(retry_policy: dg.RetryPolicy | None = EXTRACTION_RETRY_POLICY) -> dg.AssetsDefinition:
    return build_extract_asset(retry_policy, quiet_night=quiet_night_freshness)


extract_shop = pipeline_extract_asset()
