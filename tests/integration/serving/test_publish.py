"""Publishing: atomic replace, readers never blocked, failures leave the published file alone."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from assets.serving import publish
from assets.serving.publish import PublishError, publish_database


PY = sys.executable


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def add_customers(build_db: Path, n: int) -> None:
    con = duckdb.connect(str(build_db))
    con.execute(
        f"INSERT INTO marts.mart_customer_churn (customer_id, orders_count, is_churned) "
        f"SELECT 'new' || i, 1, false FROM range({n}) t(i)"
    )
    con.close()


def test_publish_writes_the_marts_and_leaves_no_temp(build_db, tmp_path):
    published = tmp_path / "data" / "warehouse.duckdb"
    res = publish_database(build_db, published, tag="run1")
    assert published.exists() and res.sha256 == sha(published)
    assert "mart_customer_churn" in res.mart_tables
    assert [p.name for p in published.parent.iterdir() if p.name.startswith(".publish-")] == []
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()[0] == 50
    con.close()


def test_publish_includes_writes_still_in_the_wal(build_db, tmp_path):
    """Committed rows not yet checkpointed (an open writer in this process) are published."""
    writer = duckdb.connect(str(build_db))
    writer.execute("INSERT INTO marts.mart_customer_churn (customer_id, orders_count, is_churned) VALUES ('late', 1, false)")
    published = tmp_path / "pub.duckdb"
    publish_database(build_db, published)
    writer.close()
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.mart_customer_churn WHERE customer_id = 'late'").fetchone()[0] == 1
    con.close()


def test_reader_in_this_process_keeps_old_snapshot_until_reconnect(build_db, tmp_path):
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published, tag="r1")
    reader = duckdb.connect(str(published), read_only=True)
    assert reader.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()[0] == 50

    add_customers(build_db, 25)
    publish_database(build_db, published, tag="r2")  # no error although a reader holds the file

    # Still the old snapshot, and still fully readable (every table, every row).
    assert reader.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()[0] == 50
    assert reader.execute("SELECT sum(orders) FROM marts.mart_aov_by_device").fetchone()[0] > 0
    reader.close()
    reader = duckdb.connect(str(published), read_only=True)
    assert reader.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()[0] == 75
    reader.close()


ANALYST = textwrap.dedent(
    """
    import sys, time, duckdb
    from pathlib import Path
    db, go = sys.argv[1], Path(sys.argv[2])
    con = duckdb.connect(db, read_only=True)
    q = "SELECT count(*) FROM marts.mart_customer_churn"
    print("before", con.execute(q).fetchone()[0], flush=True)
    while not go.exists():
        time.sleep(0.05)
    print("held", con.execute(q).fetchone()[0], flush=True)
    con.close()
    con = duckdb.connect(db, read_only=True)
    print("reconnected", con.execute(q).fetchone()[0], flush=True)
    """
)


def test_analyst_process_is_never_blocked(build_db, tmp_path):
    """A separate analyst process holds a read-only session across a publish."""
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published, tag="r1")
    go = tmp_path / "go"
    analyst = subprocess.Popen([PY, "-c", ANALYST, str(published), str(go)], stdout=subprocess.PIPE, text=True)
    try:
        assert analyst.stdout.readline().split() == ["before", "50"]
        # The pipeline writes its build file and publishes while the analyst is connected.
        add_customers(build_db, 10)
        publish_database(build_db, published, tag="r2")
        go.touch()
        out, _ = analyst.communicate(timeout=30)
    finally:
        analyst.kill()
    assert analyst.returncode == 0
    assert out.split("\n")[:2] == ["held 50", "reconnected 60"]


def test_failure_mid_write_leaves_published_untouched(build_db, tmp_path, monkeypatch):
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published, tag="r1")
    before = sha(published)
    add_customers(build_db, 10)

    real_write = publish.write_analyst_database

    def half_write(src, dst, docs=None):
        with open(src, "rb") as f, open(dst, "wb") as out:
            out.write(f.read(4096))
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(publish, "write_analyst_database", half_write)
    with pytest.raises(OSError, match="simulated"):
        publish_database(build_db, published, tag="r2")
    assert sha(published) == before
    assert [p for p in published.parent.iterdir() if p.name.startswith(".publish-")] == []

    def fail_replace(*a, **k):
        raise OSError("replace failed (simulated)")

    monkeypatch.setattr(publish, "write_analyst_database", real_write)
    monkeypatch.setattr(publish.os, "replace", fail_replace)
    with pytest.raises(OSError, match="simulated"):
        publish_database(build_db, published, tag="r3")
    assert sha(published) == before


KILLED_PUBLISH = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from assets.serving import publish
    build, pub, marker = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    def slow_write(src, dst, docs=None):
        with open(src, "rb") as f, open(dst, "wb") as out:
            out.write(f.read(4096)); out.flush()
        marker.touch()
        time.sleep(60)
    publish.write_analyst_database = slow_write
    publish.publish_database(build, pub, tag="killed")
    """
)


def test_killed_publish_leaves_published_untouched(build_db, tmp_path):
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published, tag="r1")
    before = sha(published)
    add_customers(build_db, 10)
    marker = tmp_path / "copying"
    proc = subprocess.Popen([PY, "-c", KILLED_PUBLISH, str(build_db), str(published), str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the publish subprocess never started copying"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert sha(published) == before
    leftovers = [p for p in published.parent.iterdir() if p.name.startswith(".publish-")]
    assert leftovers, "expected the killed run's half-written temp file"
    # The next publish cleans up and succeeds.
    publish_database(build_db, published, tag="r3")
    assert [p for p in published.parent.iterdir() if p.name.startswith(".publish-")] == []
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()[0] == 60
    con.close()


def test_refuses_to_publish_without_marts(tmp_path):
    build = tmp_path / "build.duckdb"
    duckdb.connect(str(build)).close()
    published = tmp_path / "warehouse.duckdb"
    published.write_bytes(b"old")
    with pytest.raises(PublishError, match="no tables in schema `marts`"):
        publish_database(build, published)
    assert published.read_bytes() == b"old"
    with pytest.raises(PublishError, match="no build warehouse"):
        publish_database(tmp_path / "missing.duckdb", published)


def test_stale_wal_next_to_published_file_is_removed(build_db, tmp_path):
    published = tmp_path / "warehouse.duckdb"
    publish_database(build_db, published)
    wal = Path(str(published) + ".wal")
    wal.write_bytes(b"stale")
    publish_database(build_db, published)
    assert not wal.exists()
    duckdb.connect(str(published), read_only=True).close()


def _quarantine(build_db: Path, rows: list[tuple[str, dict]]) -> None:
    from assets.extraction.contract import create_raw_schema

    con = duckdb.connect(str(build_db))
    con.execute("DROP TABLE IF EXISTS raw.customers")
    create_raw_schema(con)
    con.execute("INSERT INTO raw.customers (customer_id, email, created_at, updated_at) "
                "VALUES ('C1', 'ann@example.com', now(), now())")
    for i, (entity, record) in enumerate(rows):
        con.execute(
            "INSERT INTO raw.quarantine VALUES (?, 'bad_date', 'orders.csv', ?, to_json(?::JSON), 'r', now())",
            [entity, i + 2, json.dumps(record)],
        )
    con.close()


def test_published_file_holds_no_raw_table_but_the_redacted_quarantine(build_db, tmp_path):
    _quarantine(build_db, [
        ("customers", {"customer_id": "C9", "email": "bob@example.com", "country": "FR"}),
        ("orders", {"order_id": "O1", "Email": "eve@example.com", "Billing Name": "Eve Smith", "Billing Phone": "+1 555"}),
        ("mystery", {"x": "mallory@example.com"}),
    ])
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published, tag="pii")
    pub = duckdb.connect(str(published), read_only=True)
    raw_tables = [r[0] for r in pub.execute(
        "select table_name from duckdb_tables() where schema_name = 'raw' order by 1").fetchall()]
    rows = pub.execute("select entity, reason, source_file, row_number, record from raw.quarantine order by row_number").fetchall()
    pub.close()
    assert raw_tables == ["quarantine"]
    records = {entity: json.loads(record) if record else None for entity, _, _, _, record in rows}
    assert records["customers"]["customer_id"] == "C9" and records["customers"]["country"] == "FR"
    assert "email" not in records["customers"]
    assert records["orders"]["order_id"] == "O1"
    assert not {"Email", "Billing Name", "Billing Phone"} & set(records["orders"])
    assert records["mystery"] is None
    assert [r[1:4] for r in rows] == [("bad_date", "orders.csv", n) for n in (2, 3, 4)]
    data = published.read_bytes()
    for secret in (b"ann@example.com", b"bob@example.com", b"eve@example.com", b"Eve Smith", b"mallory@"):
        assert secret not in data, secret
    build = duckdb.connect(str(build_db), read_only=True)
    assert build.execute("select email from raw.customers").fetchone()[0] == "ann@example.com"
    build.close()


def test_build_file_is_owner_only_and_published_file_read_only(build_db, tmp_path):
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published)
    assert stat.S_IMODE(build_db.stat().st_mode) == 0o600
    assert stat.S_IMODE(build_db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(published.stat().st_mode) & 0o222 == 0


def test_audit_results_are_published_without_values_of_personal_columns(build_db, tmp_path):
    con = duckdb.connect(str(build_db))
    con.execute("CREATE SCHEMA audit")
    con.execute(
        "CREATE TABLE audit.validation_results (rule_id VARCHAR, column_name VARCHAR, success BOOLEAN, "
        "observed_value VARCHAR, unexpected_examples VARCHAR, exception VARCHAR)"
    )
    con.execute(
        "INSERT INTO audit.validation_results VALUES "
        "('email_format', 'email', false, '2 bad', '[\"x@leak.example\"]', 'x@leak.example'), "
        "('no_empty_day', 'created_at', false, '1 day', '[\"2025-02-12\"]', NULL)"
    )
    con.execute("CREATE TABLE audit.suite_runs AS SELECT 'raw_orders' AS suite, true AS success")
    con.close()
    published = tmp_path / "warehouse.duckdb"
    publish_database(build_db, published)
    pub = duckdb.connect(str(published), read_only=True)
    rows = pub.execute("SELECT rule_id, observed_value, unexpected_examples, exception FROM audit.validation_results ORDER BY rule_id").fetchall()
    runs = pub.execute("SELECT count(*) FROM audit.suite_runs").fetchone()[0]
    pub.close()
    assert rows == [("email_format", None, None, None), ("no_empty_day", "1 day", '["2025-02-12"]', None)]
    assert runs == 1
    assert b"leak.example" not in published.read_bytes()
