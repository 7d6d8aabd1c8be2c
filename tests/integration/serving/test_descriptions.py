"""Self-describing tables: the dbt descriptions reach the analysts' file (comments) and the Parquet exports."""

from __future__ import annotations

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from assets.descriptions import DBT_MANIFEST, TableDoc, load_table_docs, table_docs
from assets.serving.exports import write_exports
from assets.serving.publish import comment_sql, publish_database

DOCS = {
    ("marts", "mart_aov_by_device"): TableDoc(
        "Average order value per month and device. It's **one** mart.",
        {"order_month": "First day of the month.", "aov": "net_revenue / orders; it's null without orders."},
    ),
    ("intermediate", "int_as_of_date"): TableDoc("The as-of date.", {"as_of_date": "Last day counted."}),
}


def test_table_docs_reads_models_with_their_schema_and_skips_tests():
    manifest = {"nodes": {
        "model.r.mart_a": {"resource_type": "model", "schema": "marts", "name": "mart_a", "alias": "mart_a",
                           "description": " A mart. ", "columns": {"x": {"description": "X."}, "y": {"description": ""}}},
        "test.r.not_null_mart_a_x": {"resource_type": "test", "schema": "marts", "name": "not_null_mart_a_x"},
    }}
    docs = table_docs(manifest)
    assert docs[("marts", "mart_a")] == TableDoc("A mart.", {"x": "X."})
    assert ("marts", "not_null_mart_a_x") not in docs


def test_comment_sql_quotes_text_and_skips_undocumented_columns():
    sql = comment_sql("db", "marts", "mart_aov_by_device", ["order_month", "device", "aov"],
                      DOCS[("marts", "mart_aov_by_device")])
    assert sql[0] == 'COMMENT ON TABLE "db"."marts"."mart_aov_by_device" IS ' \
                     "'Average order value per month and device. It''s **one** mart.'"
    assert [s.split(" IS ")[0].rsplit(".", 1)[1] for s in sql[1:]] == ['"order_month"', '"aov"']
    assert comment_sql("db", "marts", "t", ["a"], None) == []


def test_published_file_carries_table_and_column_comments(build_db, tmp_path):
    published = tmp_path / "pub" / "warehouse.duckdb"
    publish_database(build_db, published, docs=DOCS)
    con = duckdb.connect(str(published), read_only=True)
    try:
        tables = dict(con.execute("SELECT schema_name || '.' || table_name, comment FROM duckdb_tables()").fetchall())
        columns = dict(con.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'mart_aov_by_device'").fetchall())
    finally:
        con.close()
    assert tables["marts.mart_aov_by_device"].startswith("Average order value")
    assert tables["intermediate.int_as_of_date"] == "The as-of date."
    assert tables["marts.mart_retention_rate"] is None  # no doc given: no comment invented
    assert columns["aov"] == "net_revenue / orders; it's null without orders."
    assert columns["device"] is None


def test_parquet_exports_carry_descriptions_for_arrow_readers_and_in_the_manifest(build_db, tmp_path):
    exports = tmp_path / "exports"
    result = write_exports(build_db, exports, run_id="run-1", docs=DOCS)
    schema = pq.read_schema(next((exports / "mart_aov_by_device").rglob("*.parquet")))
    assert schema.metadata[b"description"].decode().startswith("Average order value")
    assert schema.field("aov").metadata[b"description"].decode() == "net_revenue / orders; it's null without orders."
    assert schema.field("device").metadata is None
    assert json.loads(schema.metadata[b"column_descriptions"])["order_month"] == "First day of the month."
    # The Arrow schema carried for the descriptions does not change a type.
    plain = write_exports(build_db, tmp_path / "plain", run_id="run-2")
    assert result.manifest["marts"]["mart_aov_by_device"]["schema"][0]["type"] == "DATE"
    assert schema.remove_metadata() == pq.read_schema(
        next((tmp_path / "plain" / "mart_aov_by_device").rglob("*.parquet"))).remove_metadata()
    mart = result.manifest["marts"]["mart_aov_by_device"]
    assert mart["description"].startswith("Average order value")
    assert {c["name"]: c.get("description") for c in mart["schema"]}["aov"].startswith("net_revenue / orders")
    assert "description" not in plain.manifest["marts"]["mart_aov_by_device"]


def test_partitioned_export_files_carry_the_descriptions_too(build_db, tmp_path):
    exports = tmp_path / "exports"
    write_exports(build_db, exports, run_id="run-1", docs=DOCS, partition_min_rows=1)
    files = sorted((exports / "mart_aov_by_device").rglob("*.parquet"))
    assert len(files) == 12
    for f in files:
        assert pq.read_schema(f).field("aov").metadata[b"description"].startswith(b"net_revenue")


@pytest.mark.skipif(not DBT_MANIFEST.exists(), reason="needs `make manifest`")
def test_every_mart_and_mart_column_is_documented_in_dbt():
    """What the comments are made of: a mart or column without a description would publish without one."""
    manifest = json.loads(DBT_MANIFEST.read_text())
    missing = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["schema"] != "marts":
            continue
        if not node["description"].strip():
            missing.append(node["name"])
        missing += [f"{node['name']}.{c}" for c, col in node["columns"].items() if not col["description"].strip()]
    assert not missing, f"dbt yml lacks descriptions: {missing}"
    docs = load_table_docs()
    assert ("marts", "mart_aov_by_device") in docs and docs[("marts", "mart_aov_by_device")].columns["aov"]


def test_descriptions_are_plain_text_for_sql_clients():
    from assets.descriptions import plain_text

    text = "**As-of date.** The date a build\ndescribes.\n\nWhen:\n- the var is set\n- otherwise the newest order"
    assert plain_text(text) == "As-of date. The date a build describes.\n\nWhen:\n- the var is set\n- otherwise the newest order"
    docs = table_docs({"nodes": {"model.r.m": {"resource_type": "model", "schema": "marts", "name": "m",
                                               "description": "**Bold** text", "columns": {"c": {"description": "__a__\nb"}}}}})
    assert docs[("marts", "m")] == TableDoc("Bold text", {"c": "a b"})
