"""Audience lists for e-mail tools: full lists, entered/left since the published build, re-runs write the same bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.audiences import AUDIENCES
from assets.serving.audience_exports import AUDIENCES_FOLDER, write_audience_exports
from assets.serving.exports import PersonalDataError



def warehouse(path: Path, as_of: dt.date, members: list[tuple[str, str, dt.date]], reason: str = "why") -> Path:
    """A build file with the marts the export reads: (customer_id, audience, entered_on) per member."""
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema intermediate")
    con.execute("create table intermediate.int_as_of_date as select ?::date as as_of_date", [as_of])
    con.execute("""create table marts.mart_audience_members (customer_id varchar, audience varchar, entered_on date,
        is_new boolean, reason varchar, score double, predicted_clv_12m double, p_alive double,
        expected_next_order_date date, last_order_date date, accepts_marketing boolean, as_of_date date)""")
    for customer, audience, entered in members:
        con.execute("insert into marts.mart_audience_members values (?, ?, ?, true, ?, 1.5, 100.25, 0.5, ?, ?, null, ?)",
                    [customer, audience, entered, reason, as_of + dt.timedelta(days=3), as_of - dt.timedelta(days=40), as_of])
    con.close()
    return path


def hashes(exports: Path) -> dict[str, str]:
    root = exports / AUDIENCES_FOLDER
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def ids(exports: Path, audience: str, name: str) -> list[str]:
    return pl.read_parquet(exports / AUDIENCES_FOLDER / audience / f"{name}.parquet")["customer_id"].to_list()


D1, D2 = dt.date(2025, 3, 30), dt.date(2025, 3, 31)


def test_entered_and_left_are_the_changes_since_the_published_build_and_reruns_write_the_same_bytes(tmp_path):
    db = tmp_path / "build.duckdb"
    night1 = [("c1", "cart_recovery", D1), ("c2", "cart_recovery", D1), ("c9", "win_back", D1)]
    warehouse(db, D1, night1)
    first = write_audience_exports(db, tmp_path / "n1" / "exports", None)
    assert first["as_of_date"] == "2025-03-30" and first["baseline_as_of_date"] is None
    assert ids(tmp_path / "n1" / "exports", "cart_recovery", "entered") == ["c1", "c2"]
    # The same night again, with the first run published: same files, byte for byte.
    write_audience_exports(db, tmp_path / "n1b" / "exports", tmp_path / "n1" / "exports")
    assert hashes(tmp_path / "n1b" / "exports") == hashes(tmp_path / "n1" / "exports")

    warehouse(db, D2, [("c2", "cart_recovery", D1), ("c3", "cart_recovery", D2)])
    second = write_audience_exports(db, tmp_path / "n2" / "exports", tmp_path / "n1" / "exports")
    out = tmp_path / "n2" / "exports"
    assert second["baseline_as_of_date"] == "2025-03-30"
    assert ids(out, "cart_recovery", "members") == ["c2", "c3"]
    assert ids(out, "cart_recovery", "entered") == ["c3"]
    left = pl.read_parquet(out / AUDIENCES_FOLDER / "cart_recovery" / "left.parquet")
    assert left.to_dicts() == [{"customer_id": "c1", "entered_on": D1, "left_on": D2}]
    assert ids(out, "win_back", "members") == [] and ids(out, "win_back", "left") == ["c9"]
    assert set(second["audiences"]) == set(AUDIENCES)  # every audience has its folder, empty ones too
    assert ids(out, "vip_at_risk", "members") == []
    assert second["audiences"]["cart_recovery"] | {"files": None} == {"members": 2, "entered": 1, "left": 1, "files": None}
    # Re-run of night 2 with night 2 published: its own baseline is rebuilt, nothing changes.
    write_audience_exports(db, tmp_path / "n2b" / "exports", out)
    assert hashes(tmp_path / "n2b" / "exports") == hashes(out)
    manifest = json.loads((out / AUDIENCES_FOLDER / "_manifest.json").read_text())
    files = {f["path"]: f["sha256"] for f in manifest["audiences"]["cart_recovery"]["files"]}
    assert files["cart_recovery/left.csv"] == hashes(out)["cart_recovery/left.csv"]
    assert (out / AUDIENCES_FOLDER / "cart_recovery" / "members.csv").read_text().splitlines()[0] == (
        "customer_id,entered_on,reason,score,predicted_clv_12m,p_alive,expected_next_order_date,last_order_date,accepts_marketing")


def test_an_e_mail_address_anywhere_stops_the_export_before_a_file_is_written(tmp_path):
    db = warehouse(tmp_path / "build.duckdb", D1, [("c1", "win_back", D1)], reason="write to ann@example.com")
    with pytest.raises(PersonalDataError, match="reason"):
        write_audience_exports(db, tmp_path / "exports", None)
    assert not (tmp_path / "exports").exists()


def test_a_build_without_the_audience_mart_exports_no_lists(tmp_path):
    db = tmp_path / "spark.duckdb"
    duckdb.connect(str(db)).close()
    assert write_audience_exports(db, tmp_path / "exports", None) is None
