"""End to end: extraction -> dbt -> serving, twice, while an analyst process keeps querying.

Marked slow (about a minute: two small dbt builds). Builds its own Definitions
from the real assets so it does not depend on how definitions.py is wired.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

ANALYST = textwrap.dedent(
    """
    import sys, time, duckdb
    from pathlib import Path
    db, stop = sys.argv[1], Path(sys.argv[2])
    con = duckdb.connect(db, read_only=True)
    q = "SELECT count(*), max(as_of_date) FROM marts.mart_customer_churn"
    j = '''SELECT count(*) FROM marts.mart_customer_clv c JOIN marts.mart_customer_segments s USING (customer_id)'''
    first = con.execute(q).fetchone()
    print("before", first[0], first[1], flush=True)
    n = errors = 0
    while not stop.exists():
        try:
            assert con.execute(q).fetchone() == first
            con.execute(j).fetchone()
            n += 1
        except Exception as exc:
            errors += 1
            print("error", repr(exc), flush=True)
        time.sleep(0.02)
    print("held", n, errors, *con.execute(q).fetchone(), flush=True)
    con.close()
    con = duckdb.connect(db, read_only=True)
    print("reconnected", *con.execute(q).fetchone(), flush=True)
    """
)


def _run(job, until: str):
    from orchestration.jobs import extract_run_config

    result = job.execute_in_process(run_config=extract_run_config(until=until), raise_on_error=False)
    failures = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, failures
    return result


def test_analyst_session_survives_a_full_run_and_exports_match(tmp_path, pipeline_job):
    job, data = pipeline_job("e2e_nightly", 3_000)
    _run(job, "2025-03-31")
    published = data / "warehouse.duckdb"
    assert published.exists() and (data / "report" / "index.html").exists()

    stop = tmp_path / "stop"
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(published), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        first = analyst.stdout.readline().split()
        # As-of = the newest order's shop-local (New York) date; extraction stops
        # at midnight UTC, i.e. 20:00 in New York, so it may be the day before.
        assert first[0] == "before" and first[2] in ("2025-03-30", "2025-03-31")
        _run(job, "2025-06-30")  # the whole pipeline again, while the analyst keeps querying
        stop.touch()
        out, _ = analyst.communicate(timeout=60)
    finally:
        analyst.kill()
    assert analyst.returncode == 0, out
    held = re.search(r"^held (\d+) (\d+) (\d+) (\S+)$", out, re.M)
    assert held and int(held.group(1)) > 0 and held.group(2) == "0", out
    assert held.group(3) == first[1] and held.group(4) == first[2]  # still the old snapshot
    reconnected = re.search(r"^reconnected (\d+) (\S+)$", out, re.M)
    assert reconnected and reconnected.group(2) in ("2025-06-29", "2025-06-30")
    assert int(reconnected.group(1)) > int(first[1])

    # Every export equals the published warehouse, read three ways; no personal column anywhere.
    exports = data / "exports"
    con = duckdb.connect(str(published), read_only=True)
    try:
        marts = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name='marts'").fetchall()]
        assert marts
        from assets.serving.exports import is_personal_column, read_manifest

        manifest = read_manifest(exports)
        assert set(manifest["marts"]) == set(marts) and manifest["as_of_date"] == reconnected.group(2)
        for m in marts:
            expected = con.sql(f"SELECT * FROM marts.{m}").pl()
            cols = expected.columns
            assert not [c for c, t in expected.schema.items() if is_personal_column(c, str(t))], m
            readers = {
                "duckdb": duckdb.sql(f"SELECT * FROM read_parquet('{exports / m}/**/*.parquet')").pl(),
                "polars": pl.read_parquet(f"{exports / m}/**/*.parquet"),
                "pyarrow": pl.from_arrow(pq.read_table(exports / m, partitioning=None)),
            }
            for name, got in readers.items():
                got = got.select(cols)
                assert got.schema == expected.schema, (m, name)
                assert got.sort(cols, nulls_last=True).equals(expected.sort(cols, nulls_last=True)), (m, name)
    finally:
        con.close()
    html = (data / "report" / "index.html").read_text()
    assert "30 June 2025" in html and "<script" not in html
