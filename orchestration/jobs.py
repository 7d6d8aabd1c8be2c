"""Jobs: the nightly run and the backfill / re-extract run.

Both select every asset (extraction -> dbt, predictions included -> checks ->
publish / exports / report) and run in ONE process, one step after another
(the in-process executor: DuckDB allows one writer per file). They differ
in their extraction config:

- `nightly_job`: the schedule sets `until` = end of the previous shop day;
  `since` stays empty, so extraction continues from its high-water mark and
  reads only what changed since the last run (one new day, normally);
- `backfill_job`: you give `since` and `until` (ISO dates or date-times,
  naive UTC) to re-extract a range; upserts are idempotent. See
  docs/serving.md for the command.

Retries: the extraction asset carries its own `EXTRACTION_RETRY_POLICY`
(2 retries, 30 s then 60 s): a source that times out is worth another try.
dbt (predictions included), checks and serving fail fast; the jobs set no
`op_retry_policy` so nothing else retries by accident.
"""

from __future__ import annotations

import dagster as dg

from assets.extraction.assets import ExtractConfig

EXTRACT_OP = "extract_shop"



def extract_run_config(since: str | None = None, until: str | None = None, full_refresh: bool = False) -> dg.RunConfig:
    """Run config of the extraction step (the other steps keep their defaults)."""
    return dg.RunConfig(ops={EXTRACT_OP: ExtractConfig(since=since, until=until, full_refresh=full_refresh)})


def make_pipeline_job(
    name: str,
    description: str,
    retry_policy: dg.RetryPolicy | None = None,
    selection: dg.AssetSelection | None = None,
    tags: dict[str, str] | None = None,
) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=name,
        selection=selection if selection is not None else dg.AssetSelection.all(),
        description=description,
        executor_def=dg.in_process_executor,
        op_retry_policy=retry_policy,
        tags=tags or {},
    )


nightly_job = make_pipeline_job(
    "nightly_job",
    "Nightly: extract up to the end of the previous shop day, rebuild marts, run checks, "
    "then publish the analysts' warehouse, the Parquet exports and the HTML report.",
    tags={"retention/kind": "nightly"},
)

backfill_job = make_pipeline_job(
    "backfill_job",
    "Re-extract a date range (set ops.extract_shop.config.since / until, ISO, naive UTC) "
    "and rebuild everything downstream, like the nightly run.",
    tags={"retention/kind": "backfill"},
)

jobs = [nightly_job, backfill_job]
