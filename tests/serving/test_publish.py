"""Publishing: atomic replace, readers never blocked, failures leave the published file alone."""

from __future__ import annotations

import hashlib
import os
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


def test_publish_copies_build_and_leaves_no_temp(build_db, tmp_path):
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


def test_failure_mid_copy_leaves_published_untouched(build_db, tmp_path, monkeypatch):
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published, tag="r1")
    before = sha(published)
    add_customers(build_db, 10)

    real_copy = publish.copy_file

    def half_copy(src, dst, chunk=publish.COPY_CHUNK):
        with open(src, "rb") as f, open(dst, "wb") as out:
            out.write(f.read(4096))
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(publish, "copy_file", half_copy)
    with pytest.raises(OSError, match="simulated"):
        publish_database(build_db, published, tag="r2")
    assert sha(published) == before
    assert [p for p in published.parent.iterdir() if p.name.startswith(".publish-")] == []

    def fail_replace(*a, **k):
        raise OSError("replace failed (simulated)")

    monkeypatch.setattr(publish, "copy_file", real_copy)
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
    real = publish.copy_file
    def slow_copy(src, dst, chunk=publish.COPY_CHUNK):
        with open(src, "rb") as f, open(dst, "wb") as out:
            out.write(f.read(4096)); out.flush()
        marker.touch()
        time.sleep(60)
    publish.copy_file = slow_copy
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


def test_published_copy_carries_no_email_but_the_build_file_keeps_it(build_db, tmp_path):
    con = duckdb.connect(str(build_db))
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE OR REPLACE TABLE raw.customers (customer_id VARCHAR, email VARCHAR)")
    con.execute("INSERT INTO raw.customers VALUES ('C1', 'ann@example.com')")
    con.execute("CREATE OR REPLACE TABLE raw.quarantine (entity VARCHAR, record VARCHAR)")
    con.execute("INSERT INTO raw.quarantine VALUES ('customers', '{\"email\": \"bob@example.com\"}'), ('orders', '{}')")
    con.close()
    published = tmp_path / "data" / "warehouse.duckdb"
    publish_database(build_db, published, tag="pii")
    pub = duckdb.connect(str(published), read_only=True)
    cols = [r[0] for r in pub.execute(
        "select column_name from information_schema.columns where table_schema='raw' and table_name='customers'"
    ).fetchall()]
    assert cols == ["customer_id"]
    assert pub.execute("select count(*) from raw.quarantine where record like '%@%'").fetchone()[0] == 0
    pub.close()
    build = duckdb.connect(str(build_db), read_only=True)
    assert build.execute("select email from raw.customers").fetchone()[0] == "ann@example.com"
    build.close()
