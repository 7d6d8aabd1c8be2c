"""The analysts' file serves the marts as views over the build's own Parquet exports: same rows, same types, no second write."""

from __future__ import annotations

import os

import duckdb
import pytest

from assets.descriptions import TableDoc
from assets.serving.exports import write_exports
from assets.serving.publish import PublishError, publish_database, staged_mart_views, switch_build
from assets.serving.report import build_report, write_report
from assets.warehouse import DataLayout

DOCS = {("marts", "mart_aov_by_device"): TableDoc("AOV per month and device.", {"aov": "net_revenue / orders."})}


def serve(layout: DataLayout, run_id: str) -> None:
    """One run's serving steps in the pipeline's order: exports, the analysts' file over them, report, switch."""
    stage = layout.stage_dir(run_id)
    # partition_min_rows=1: the monthly marts are written hive-partitioned, one file per month
    write_exports(layout.build_db, stage / "exports", run_id=run_id, partition_min_rows=1, docs=DOCS)
    publish_database(layout.build_db, stage / "warehouse.duckdb", tag=run_id, docs=DOCS,
                     views=staged_mart_views(layout, run_id))
    write_report(build_report({}, as_of_date=None, currency="USD", shop_name="Shop", run_id=run_id,
                              churn_after_days=180), stage / "report")
    switch_build(layout, run_id)


@pytest.fixture
def served(make_db, tmp_path, monkeypatch):
    layout = DataLayout(tmp_path / "data")
    make_db(layout.build_db)
    serve(layout, "run-1")
    # Readers open the file from anywhere: the views' paths must not depend on the working directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return layout


def _relations(con, kind: str, schema: str) -> set[str]:
    return {r[0] for r in con.execute(
        f"SELECT {kind}_name FROM duckdb_{kind}s() WHERE database_name = current_database() AND schema_name = ? "
        "AND NOT internal", [schema]).fetchall()}


def test_marts_are_views_holding_exactly_the_builds_rows_and_types(served):
    con = duckdb.connect(str(served.published_db), read_only=True)
    con.execute(f"ATTACH '{served.build_db}' AS build (READ_ONLY)")
    try:
        marts = _relations(con, "view", "marts")
        assert marts == {"mart_customer_churn", "mart_aov_by_device", "mart_retention_rate"}
        assert _relations(con, "table", "marts") == set()
        assert _relations(con, "table", "intermediate") == {"int_as_of_date"}
        for mart in marts:
            types = [con.execute(
                f"SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = '{db}' "
                f"AND schema_name = 'marts' AND table_name = '{mart}' ORDER BY column_index").fetchall()
                for db in ("warehouse", "build")]
            assert types[0] == types[1], mart
            for a, b in (("marts", "build.marts"), ("build.marts", "marts")):
                (extra,) = con.execute(f"SELECT count(*) FROM (FROM {a}.{mart} EXCEPT ALL FROM {b}.{mart})").fetchone()
                assert extra == 0, (mart, a)
    finally:
        con.close()


def test_views_and_their_columns_carry_the_descriptions(served):
    con = duckdb.connect(str(served.published_db), read_only=True)
    try:
        (comment,) = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'mart_aov_by_device'").fetchone()
        columns = dict(con.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'mart_aov_by_device'").fetchall())
    finally:
        con.close()
    assert comment == "AOV per month and device."
    assert columns["aov"] == "net_revenue / orders." and columns["device"] is None


def test_the_views_read_the_files_of_their_own_build(served):
    con = duckdb.connect(str(served.published_db), read_only=True)
    try:
        (sql,) = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'mart_customer_churn'").fetchone()
    finally:
        con.close()
    build_dir = os.path.realpath(served.current_link)
    assert f"'{build_dir}/exports/.versions/" in sql
    assert ".stage-" not in sql


def test_a_session_opened_before_a_switch_keeps_reading_its_build(served):
    con = duckdb.connect(str(served.published_db), read_only=True)
    try:
        before = con.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()
        build = duckdb.connect(str(served.build_db))
        build.execute("INSERT INTO marts.mart_customer_churn (customer_id, orders_count, is_churned) VALUES ('new', 1, false)")
        build.close()
        serve(served, "run-2")
        assert con.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone() == before
    finally:
        con.close()
    con = duckdb.connect(str(served.published_db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone() == (before[0] + 1,)
    finally:
        con.close()


def test_exports_that_disagree_with_the_build_are_never_published(make_db, tmp_path):
    layout = DataLayout(tmp_path / "data")
    make_db(layout.build_db)
    stage = layout.stage_dir("run-x")
    write_exports(layout.build_db, stage / "exports", run_id="run-x")
    build = duckdb.connect(str(layout.build_db))
    build.execute("DELETE FROM marts.mart_retention_rate WHERE month = DATE '2024-07-01'")
    build.close()
    with pytest.raises(PublishError, match=r"marts.mart_retention_rate: the exported files hold 12 rows, the build 11"):
        publish_database(layout.build_db, stage / "warehouse.duckdb", tag="run-x", views=staged_mart_views(layout, "run-x"))
    assert not (stage / "warehouse.duckdb").exists()
