"""End to end: extraction -> dbt -> serving, twice, while an analyst process keeps querying.

Marked slow: one pipeline run after the shared first night (tests/e2e/conftest.py). Builds its own Definitions
from the real assets so it does not depend on how definitions.py is wired.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import textwrap

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import FIRST_NIGHT_GROUP, FIRST_NIGHT_ORDERS

# The first night (3,000 orders up to 31 March) is the one tests/e2e/conftest.py builds once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(FIRST_NIGHT_GROUP)]

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


EMAIL_TOKEN = re.compile(rb"[A-Za-z0-9._%+\-]*@[A-Za-z0-9.\-]*")
INJECTED = {"email": "injected.person@example.org", "billing_name": "Zebulon Quartermaine", "billing_phone": "+1-555-0199-7731"}


def inject_quarantined_order(build_db, landing):
    """An orders export with extra personal columns and one bad row, extracted into the build file."""
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.extraction.sources import LandingSource

    (landing / "orders").mkdir(parents=True)
    from assets.extraction.contract import ORDERS

    # A complete order but for its creation time, which no parser accepts.
    typical = {"money": "0.00", "timestamp": "2025-03-01 10:00:00", "integer": "0", "boolean": "false"}
    row = {c.name: (c.allowed[0] if c.allowed else typical.get(c.kind, "x")) for c in ORDERS.columns}
    row.update(order_id="BAD-1", created_at="not a date", currency="USD", **INJECTED)
    pl.DataFrame([row]).write_csv(landing / "orders" / "orders.csv")
    con = duckdb.connect(str(build_db))
    try:
        stats = run_extraction(con, LandingSource(landing), ExtractRequest(("orders",)), "inject", log=lambda _: None)
    finally:
        con.close()
    assert stats["orders"].quarantined == 1


def personal_hits(path, emails: set[bytes], values: list[bytes]) -> list[str]:
    data = path.read_bytes()
    hits = [v.decode() for v in values if v in data]
    tokens = set(EMAIL_TOKEN.findall(data))
    return hits + sorted({e.decode() for e in emails for t in tokens if e in t})


def test_analyst_session_survives_a_full_run_and_exports_match(tmp_path, after_first_night, pipeline_job):
    job, data = pipeline_job("e2e_nightly", FIRST_NIGHT_ORDERS)
    assert data == after_first_night  # night one, up to 31 March, succeeded
    inject_quarantined_order(data / "build" / "warehouse.duckdb", tmp_path / "landing")
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
    # Self-describing: a SQL client sees every mart and column described, and so does a Parquet reader.
    con = duckdb.connect(str(published), read_only=True)
    try:
        bare = con.execute(
            "SELECT table_name || '.' || column_name FROM duckdb_columns() "
            "WHERE schema_name IN ('marts', 'intermediate') AND coalesce(comment, '') = ''").fetchall()
        bare += con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' AND coalesce(comment, '') = ''"
        ).fetchall()
        mart_columns = con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'marts'").fetchall()
    finally:
        con.close()
    assert not bare, f"published without a description: {bare}"
    for table, column, comment in mart_columns:
        schema = pq.read_schema(next((exports / table).rglob("*.parquet")))
        assert schema.field(column).metadata[b"description"].decode() == comment, (table, column)
        assert schema.metadata[b"description"], table
        described = {c["name"]: c.get("description") for c in manifest["marts"][table]["schema"]}
        assert described[column] == comment, (table, column)

    html = (data / "report" / "index.html").read_text()
    assert "30 June 2025" in html and "<script" not in html

    # Not a byte of personal data in what analysts and BI can open.
    build = duckdb.connect(str(data / "build" / "warehouse.duckdb"), read_only=True)
    try:
        emails = {r[0].encode() for r in build.execute("SELECT email FROM raw.customers WHERE email LIKE '%@%'").fetchall()}
        assert build.execute("SELECT count(*) FROM raw.quarantine WHERE record LIKE '%Zebulon%'").fetchone()[0] == 1
    finally:
        build.close()
    assert emails
    values = [v.encode() for v in INJECTED.values()]
    build_db = data / "build" / "warehouse.duckdb"
    assert stat.S_IMODE(build_db.stat().st_mode) == 0o600 and stat.S_IMODE(build_db.parent.stat().st_mode) == 0o700
    # The grep does find them where they are (DuckDB compresses most e-mails, not the injected values).
    assert personal_hits(data / "build" / "warehouse.duckdb", emails, values)
    published_files = [published.resolve(), *(p.resolve() for p in exports.rglob("*") if p.resolve().is_file())]
    assert len(published_files) > len(marts)
    for f in published_files:
        assert personal_hits(f, emails, values) == [], f
    pub = duckdb.connect(str(published), read_only=True)
    try:
        record = pub.execute("SELECT record FROM raw.quarantine WHERE entity = 'orders' AND source_file LIKE '%orders.csv'").fetchone()[0]
    finally:
        pub.close()
    assert '"order_id":"BAD-1"' in record.replace(" ", "")
