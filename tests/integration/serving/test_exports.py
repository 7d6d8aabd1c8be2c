"""Parquet exports: round trip with three readers, manifest, atomic swap, PII refusal."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from assets.serving.exports import (
    EMAIL_VALUE_REGEX,
    PersonalDataError,
    is_personal_column,
    read_manifest,
    write_exports,
)

PY = sys.executable


def warehouse_frame(db: Path, table: str) -> pl.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(f"SELECT * FROM marts.{table}").pl()
    finally:
        con.close()


def canon(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    df = df.select(columns)
    return df.sort(columns, nulls_last=True)


def read_three_ways(exports: Path, mart: str) -> dict[str, pl.DataFrame]:
    """How docs/serving.md tells BI / analysts to read an export."""
    folder = exports / mart
    con = duckdb.connect()
    try:
        via_duckdb = con.sql(f"SELECT * FROM read_parquet('{folder}/**/*.parquet')").pl()
    finally:
        con.close()
    via_polars = pl.read_parquet(f"{folder}/**/*.parquet")
    via_pyarrow = pl.from_arrow(pq.read_table(folder, partitioning=None))
    return {"duckdb": via_duckdb, "polars": via_polars, "pyarrow": via_pyarrow}


def test_round_trip_every_mart_three_readers(build_db, tmp_path):
    exports = tmp_path / "data" / "exports"
    # partition_min_rows=20: mart_aov_by_device (36 rows, order_month) is partitioned,
    # mart_customer_churn (customer grain) never is, mart_retention_rate (12 rows) is not.
    res = write_exports(build_db, exports, run_id="run-0001", partition_min_rows=20)
    manifest = read_manifest(exports)
    assert manifest == res.manifest
    assert manifest["run_id"] == "run-0001" and manifest["as_of_date"] == "2025-06-30"
    assert set(manifest["marts"]) == {"mart_customer_churn", "mart_aov_by_device", "mart_retention_rate"}
    assert manifest["marts"]["mart_aov_by_device"]["partitioned_by"] == "order_month"
    assert manifest["marts"]["mart_customer_churn"]["partitioned_by"] is None
    assert len(manifest["marts"]["mart_aov_by_device"]["files"]) == 12
    assert (exports / "mart_aov_by_device" / "order_month=2024-07-01").is_dir()

    for mart, info in manifest["marts"].items():
        expected = warehouse_frame(build_db, mart)
        cols = expected.columns
        assert [c["name"] for c in info["schema"]] == cols
        assert info["rows"] == expected.height
        for reader, got in read_three_ways(exports, mart).items():
            assert sorted(got.columns) == sorted(cols), (mart, reader)
            got = got.select(cols)
            assert got.schema == expected.schema, (mart, reader)
            assert canon(got, cols).equals(canon(expected, cols)), (mart, reader)
        for f in info["files"]:
            p = exports / "current" / f["path"]
            assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"]
            assert p.stat().st_size == f["bytes"]
            assert pq.ParquetFile(p).metadata.row_group(0).column(0).compression == "ZSTD"


def test_pii_scan_of_every_exported_column(build_db, tmp_path):
    """No exported file has a personal column name or an e-mail-looking value."""
    exports = tmp_path / "exports"
    write_exports(build_db, exports, run_id="r", partition_min_rows=20)
    files = sorted((exports / "current").rglob("*.parquet"))
    assert files
    email = re.compile(EMAIL_VALUE_REGEX)
    for f in files:
        table = pq.read_table(f)
        for name, typ in zip(table.column_names, table.schema.types):
            assert not is_personal_column(name, str(typ)), f"{f}: {name}"
            assert "email" != name.lower()
            col = table.column(name)
            if str(col.type) in ("string", "large_string"):
                assert not any(email.search(v) for v in col.to_pylist() if v), f"{f}: {name} holds e-mails"
    # raw.customers in the same build file has e-mails: they were never exported.
    assert not any("customers" == p.name for p in (exports / "current").iterdir())


@pytest.mark.parametrize(
    "name,dtype,personal",
    [
        # the name alone is enough, whatever the type
        ("email", "VARCHAR", True), ("customer_email", "VARCHAR", True), ("E_Mail", None, True),
        ("email_address", "VARCHAR", True), ("phone", "BIGINT", True), ("phone_number", "VARCHAR", True),
        ("first_name", "VARCHAR", True), ("last_name", "VARCHAR", True), ("name", "VARCHAR", True),
        ("customer_name", "VARCHAR", True), ("street_address", "VARCHAR", True), ("postal_code", "INTEGER", True),
        ("date_of_birth", "DATE", True), ("ip_address", "VARCHAR", True),
        # a personal suffix on a text column
        ("backup_email", "VARCHAR", True), ("address_line1", "VARCHAR", True), ("billing_zip", "string", True),
        ("recovered_after_second_email", None, True),  # type unknown: refuse to be safe
        # not personal
        ("recovered_after_second_email", "BIGINT", False), ("first_recovery_email_at", "TIMESTAMP", False),
        ("customer_id", "VARCHAR", False), ("email_recovery_rate", "DOUBLE", False),
        ("first_recovery_emails_sent", "BIGINT", False), ("email_sha256", "VARCHAR", False),
        ("device", "VARCHAR", False), ("loyalty_tier", "VARCHAR", False), ("cohort_month", "DATE", False),
        ("device_name", "VARCHAR", False),
    ],
)
def test_personal_column_names(name, dtype, personal):
    assert is_personal_column(name, dtype) is personal


@pytest.mark.parametrize(
    "sql,match",
    [
        ("CREATE TABLE marts.mart_leak AS SELECT customer_id, email FROM raw.customers", "personal column"),
        ("CREATE TABLE marts.mart_leak2 AS SELECT customer_id, email AS contact FROM raw.customers", "e-mail addresses"),
    ],
)
def test_personal_data_refused_and_nothing_swapped(make_db, digest, tmp_path, sql, match):
    db = make_db(tmp_path / "build.duckdb")
    exports = tmp_path / "exports"
    write_exports(db, exports, run_id="good")
    before = digest(exports)
    db2 = make_db(tmp_path / "build2.duckdb", sql)
    with pytest.raises(PersonalDataError, match=match):
        write_exports(db2, exports, run_id="leaky")
    assert digest(exports) == before


def test_swap_versions_and_pruning(build_db, tmp_path):
    exports = tmp_path / "exports"
    versions = []
    for i in range(4):
        versions.append(write_exports(build_db, exports, run_id=f"run{i}").version)
        time.sleep(0.002)
    kept = sorted(p.name for p in (exports / ".versions").iterdir())
    assert kept == versions[-2:]
    assert os.readlink(exports / "current") == f".versions/{versions[-1]}"
    assert os.readlink(exports / "mart_customer_churn") == "current/mart_customer_churn"
    assert read_manifest(exports)["run_id"] == "run3"


def test_dropped_mart_loses_its_link(make_db, tmp_path):
    exports = tmp_path / "exports"
    db = make_db(tmp_path / "b.duckdb")
    write_exports(db, exports, run_id="a")
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE marts.mart_retention_rate")
    con.close()
    write_exports(db, exports, run_id="b")
    assert not (exports / "mart_retention_rate").is_symlink()
    assert (exports / "mart_customer_churn").is_dir()


def test_failure_mid_export_leaves_exports_unchanged(build_db, digest, tmp_path):
    exports = tmp_path / "exports"
    write_exports(build_db, exports, run_id="good")
    before = digest(exports)

    def boom(mart):
        raise RuntimeError(f"crash after {mart} (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        write_exports(build_db, exports, run_id="bad", on_mart_written=boom)
    assert digest(exports) == before
    assert read_manifest(exports)["run_id"] == "good"


KILLED_EXPORT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from assets.serving.exports import write_exports
    db, exports, marker = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    def hang(mart):
        marker.touch()
        time.sleep(60)
    write_exports(db, exports, run_id="killed", on_mart_written=hang)
    """
)


def test_killed_export_leaves_exports_unchanged(build_db, digest, tmp_path):
    exports = tmp_path / "exports"
    write_exports(build_db, exports, run_id="good")
    before = digest(exports)
    marker = tmp_path / "writing"
    proc = subprocess.Popen([PY, "-c", KILLED_EXPORT, str(build_db), str(exports), str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    after = digest(exports)
    leftovers = {k for k in after if k.startswith(".versions/.tmp-")}
    assert leftovers, "expected the killed run's temp folder"
    # What readers see (everything but the hidden temp folder) is byte-for-byte the same.
    assert {k: v for k, v in after.items() if not k.startswith(".versions/.tmp-")} == before
    # The next run removes the leftovers.
    write_exports(build_db, exports, run_id="next")
    assert not any(k.startswith(".versions/.tmp-") for k in digest(exports))


def test_manifest_is_json_next_to_the_marts(build_db, tmp_path):
    exports = tmp_path / "exports"
    write_exports(build_db, exports, run_id="r")
    m = json.loads((exports / "_manifest.json").read_text())
    assert m["compression"] == "zstd"
    assert {c["type"] for c in m["marts"]["mart_aov_by_device"]["schema"]} >= {"DATE", "DECIMAL(18,2)", "BIGINT"}


def _mart_files(exports: Path, mart: str) -> dict[str, os.stat_result]:
    folder = (exports / mart).resolve()
    return {p.relative_to(folder).as_posix(): p.stat() for p in folder.rglob("*.parquet")}


def test_unchanged_marts_are_hard_linked_changed_ones_rewritten(make_db, tmp_path):
    exports = tmp_path / "exports"
    db = make_db(tmp_path / "b.duckdb")
    first = write_exports(db, exports, run_id="a", partition_min_rows=20)
    before = {m: _mart_files(exports, m) for m in first.manifest["marts"]}
    con = duckdb.connect(str(db))
    # Same rows in another physical order: unchanged content. One changed cell elsewhere: changed.
    con.execute("CREATE OR REPLACE TABLE marts.mart_retention_rate AS SELECT * FROM marts.mart_retention_rate ORDER BY random()")
    changed = "mart_customer_churn"
    con.execute(f"UPDATE marts.{changed} SET as_of_date = as_of_date + 1 WHERE customer_id = (SELECT min(customer_id) FROM marts.{changed})")
    con.close()
    second = write_exports(db, exports, run_id="b", partition_min_rows=20)
    marts = second.manifest["marts"]
    assert marts[changed]["carried_from"] is None
    assert marts[changed]["fingerprint"] != first.manifest["marts"][changed]["fingerprint"]
    carried = {m for m, e in marts.items() if e["carried_from"] == first.version}
    assert carried == set(marts) - {changed}
    assert any(e["partitioned_by"] for m, e in marts.items() if m in carried)  # hive folders are carried too
    for mart in carried:
        after = _mart_files(exports, mart)
        assert after.keys() == before[mart].keys()
        for rel, st in after.items():
            assert (st.st_ino, st.st_nlink >= 2) == (before[mart][rel].st_ino, True), (mart, rel)
            assert st.st_mode & 0o222 == 0
        assert marts[mart]["files"] == first.manifest["marts"][mart]["files"]
    assert {p.st_ino for p in _mart_files(exports, changed).values()}.isdisjoint(
        {p.st_ino for p in before[changed].values()})
    # Readers see the same rows through the carried files.
    got = read_three_ways(exports, "mart_retention_rate")["duckdb"]
    assert got.height == warehouse_frame(db, "mart_retention_rate").height


def test_a_carried_file_that_is_not_what_its_manifest_says_is_rewritten(make_db, tmp_path):
    exports = tmp_path / "exports"
    db = make_db(tmp_path / "b.duckdb")
    first = write_exports(db, exports, run_id="a")
    victim = exports / "current" / "mart_retention_rate" / "mart_retention_rate.parquet"
    os.chmod(victim, 0o644)
    with open(victim, "ab") as f:
        f.write(b"x")  # another size than the manifest's: never carried
    second = write_exports(db, exports, run_id="b")
    entry = second.manifest["marts"]["mart_retention_rate"]
    assert entry["carried_from"] is None
    assert entry["files"] == first.manifest["marts"]["mart_retention_rate"]["files"]  # same bytes, written afresh


def test_a_carry_that_fails_half_way_leaves_a_clean_folder_for_the_write(make_db, tmp_path):
    exports = tmp_path / "exports"
    db = make_db(tmp_path / "b.duckdb")
    # Partitioned: several files per mart, so the link can fail after the first ones.
    first = write_exports(db, exports, run_id="a", partition_min_rows=20)
    mart, entry = next((m, e) for m, e in first.manifest["marts"].items() if len(e["files"]) > 1)
    last = exports / "current" / entry["files"][-1]["path"]
    os.chmod(last, 0o644)
    last.unlink()
    second = write_exports(db, exports, run_id="b", partition_min_rows=20)
    again = second.manifest["marts"][mart]
    assert again["carried_from"] is None
    assert sorted((f["path"], f["rows"]) for f in again["files"]) == sorted((f["path"], f["rows"]) for f in entry["files"])


def test_personal_data_is_refused_even_when_the_mart_did_not_change(make_db, digest, tmp_path, monkeypatch):
    import assets.serving.exports as exports_module

    exports = tmp_path / "exports"
    db = make_db(tmp_path / "b.duckdb", "CREATE TABLE marts.mart_contacts AS SELECT 'c1' AS customer_id, 'a@b.co' AS note")
    monkeypatch.setattr(exports_module, "check_no_personal_data", lambda *a: None)
    write_exports(db, exports, run_id="a")
    monkeypatch.undo()
    before = digest(exports)
    with pytest.raises(PersonalDataError, match="mart_contacts"):
        write_exports(db, exports, run_id="b")
    assert digest(exports) == before
