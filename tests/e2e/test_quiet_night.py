"""A night with nothing new stops after extraction; a night after a failed build does not.

Marked slow: three small pipeline runs with dbt and the quality checks (the sample shop, 3,000 orders)
after the first night tests/e2e/conftest.py builds once for this module and test_serving_e2e.py.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from tests.e2e.conftest import FIRST_NIGHT_GROUP, FIRST_NIGHT_ORDERS, FIRST_NIGHT_UNTIL, QUIET

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(FIRST_NIGHT_GROUP)]


def run(job, instance, until: str, dbt_as_of: str | None = None):
    config = {"ops": {"extract_shop": {"config": {"until": until}}}}
    if dbt_as_of is not None:
        config["ops"]["retention_dbt"] = {"config": {"as_of_date": dbt_as_of}}
    return job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)


def outcomes(result) -> dict[str, str]:
    out = {}
    for e in result.all_events:
        if e.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            out[e.step_key] = e.event_type_value
    return out


def logged(instance, result, text: str) -> bool:
    return any(text in (r.user_message or "") for r in instance.all_logs(result.run_id))


def current_build(data) -> str:
    return (data / "current").readlink().name


def test_a_quiet_night_skips_the_build_and_a_night_after_a_failed_build_rebuilds(after_first_night, pipeline_job):
    from assets.quality import quality_checks

    # after_first_night: night one (up to 31 March, checks on) succeeded and was not quiet
    job, data = pipeline_job("quiet_night", FIRST_NIGHT_ORDERS, asset_checks=quality_checks)
    assert data == after_first_night
    instance = dg.DagsterInstance.ephemeral()
    published = current_build(data)

    quiet = run(job, instance, FIRST_NIGHT_UNTIL)  # the same night again: nothing past the high-water mark
    steps = outcomes(quiet)
    assert quiet.success, steps
    assert steps.pop("extract_shop") == "STEP_SUCCESS"
    assert steps and set(steps.values()) == {"STEP_SKIPPED"}, steps
    assert logged(instance, quiet, QUIET)
    assert not quiet.get_asset_materialization_events()
    assert current_build(data) == published

    # New rows load, then the dbt step fails (a malformed as-of date): nothing is published.
    failed = run(job, instance, "2025-04-30", dbt_as_of="30/04/2025")
    assert not failed.success and outcomes(failed)["retention_dbt"] == "STEP_FAILURE"
    assert current_build(data) == published

    # Nothing new since the failed run, but raw differs from the published build: rebuild.
    after = run(job, instance, "2025-04-30")
    assert after.success and not logged(instance, after, QUIET)
    assert "STEP_SKIPPED" not in outcomes(after).values()
    assert current_build(data) != published
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        assert str(con.execute("SELECT max(as_of_date) FROM marts.mart_customer_churn").fetchone()[0]) >= "2025-04-29"
    finally:
        con.close()
