"""End to end: a bad batch stops the pipeline before the Parquet export; the last publish stays.

Marked slow (two small dbt builds, ~1-2 min). Builds its own Definitions from
the real assets (extraction -> dbt -> quality checks -> serving), like
tests/e2e/test_serving_e2e.py.

Night 1 extracts up to 2025-03-31 and publishes. Night 2 brings April-June,
but three busy weekdays of it (Tue 2025-04-08 to Thu 04-10, the shop's days)
are lost on the way (its extraction is run ahead and the days deleted from `raw.orders`; the
night itself then finds nothing newer and validates what it holds). The
raw/orders suite fails `no_empty_run` (ERROR, blocking) on those new days:
dbt, exports and publish do not run, the published warehouse and exports
still answer as of 2025-03-31, and `audit.validation_results` says why.
"""

import json

import duckdb
import pytest

pytestmark = pytest.mark.slow


def _run(job, until):
    from orchestration.jobs import extract_run_config

    return job.execute_in_process(run_config=extract_run_config(until=until), raise_on_error=False)


def _published_state(data):
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        as_of = con.execute("SELECT max(as_of_date) FROM marts.mart_customer_churn").fetchone()[0]
        cohorts = con.execute("SELECT count(*), sum(net_revenue) FROM marts.mart_cohort_retention").fetchone()
    finally:
        con.close()
    manifest = (data / "exports" / "_manifest.json").read_text()
    return str(as_of), cohorts, json.loads(manifest)


def test_bad_batch_stops_before_export_and_keeps_the_published_marts(tmp_path, pipeline_job):
    from assets.quality import quality_checks

    job, data = pipeline_job("e2e_gate", 40_000, asset_checks=quality_checks)
    night1 = _run(job, "2025-03-31")
    failures = [e.message for e in night1.all_events if e.event_type_value == "STEP_FAILURE"]
    assert night1.success, failures
    before = _published_state(data)
    assert before[0] == "2025-03-31"

    # the injected bad batch: night 2's rows, Tuesday to Thursday of its orders lost
    from datetime import datetime

    from assets.extraction.contract import ENTITIES
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.quality.days import shop_time
    from assets.extraction.builders import build_source
    from assets.resources import ShopSourceResource

    source = build_source(ShopSourceResource(sample_orders=40_000, sample_end_date="2025-06-30"))
    con = duckdb.connect(str(data / "build" / "warehouse.duckdb"))
    try:
        request = ExtractRequest(entities=tuple(ENTITIES), until=datetime(2025, 6, 30, 23, 59, 59))
        run_extraction(con, source, request, "night-2-ahead", log=lambda m: None)
        # the shop's days (the gates count days in its time zone)
        local_day = f"{shop_time('created_at', source.timezone)}::date"
        con.execute(f"DELETE FROM raw.orders WHERE {local_day} BETWEEN DATE '2025-04-08' AND DATE '2025-04-10'")
    finally:
        con.close()

    night2 = _run(job, "2025-06-30")
    assert not night2.success
    materialized = {e.event_specific_data.materialization.asset_key.to_user_string()
                    for e in night2.get_asset_materialization_events()}
    assert "raw/orders" in materialized  # nothing newer to read, but raw differs from the published build
    assert not {"parquet_exports", "published_warehouse", "marts/mart_cohort_retention"} & materialized
    evals = {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.passed)
             for e in night2.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert ("raw/orders", False) in evals

    assert _published_state(data) == before  # analysts still see night 1

    con = duckdb.connect(str(data / "build" / "warehouse.duckdb"), read_only=True)
    try:
        why = con.execute(
            "SELECT suite, rule_id, severity, unexpected_examples FROM audit.validation_results "
            "WHERE run_id = ? AND NOT success", [night2.run_id]
        ).fetchall()
    finally:
        con.close()
    assert ("raw_orders", "no_empty_run", "ERROR") in {w[:3] for w in why}
    lost = next(w[3] for w in why if w[1] == "no_empty_run")
    assert all(d in lost for d in ("2025-04-08", "2025-04-09", "2025-04-10"))
