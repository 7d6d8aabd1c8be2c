"""Landing mappings at the extraction level: nights of new files, broken mappings, accounting.

The worked example's own files and `retention.yml` (tests/fixtures/mappings/online_retail)
are extracted into a fresh warehouse; the whole pipeline on them is tests/e2e/realshops/test_mappings.py.
"""

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from assets.extraction.dialect import landing_options
from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.mapping import MappingError
from assets.extraction.sources import LandingSource, SourceFileError
from assets.settings import PROJECT_ROOT
from assets.user_config import load_user_config

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "mappings" / "online_retail"
ENTITIES = ("customers", "orders", "order_lines")


def shop(tmp_path, files=("2010-12.csv", "2011-01.csv"), config: str | None = None) -> Path:
    root = tmp_path / "landing"
    (root / "invoices").mkdir(parents=True)
    for name in files:
        shutil.copy(FIXTURE / "invoices" / name, root / "invoices" / name)
    (root / "retention.yml").write_text(config if config is not None else (FIXTURE / "retention.yml").read_text())
    return root


def extract(con, root, run_id="r1", entities=ENTITIES):
    source = LandingSource(root, currency="GBP", options=landing_options(load_user_config(root / "retention.yml")))
    return run_extraction(con, source, ExtractRequest(entities), run_id, log=lambda m: None)


def counts(con) -> dict[str, int]:
    return {e: con.execute(f"SELECT count(*) FROM raw.{e}").fetchone()[0] for e in (*ENTITIES, "quarantine")}


def test_second_night_reads_only_the_new_file_and_customers_keep_their_first_purchase(tmp_path, con):
    root = shop(tmp_path, files=("2010-12.csv",))
    first = extract(con, root)
    # December: 10 invoices (2 guest, 1 credit note), 18 goods lines, 4 customers.
    assert (first["orders"].inserted, first["order_lines"].inserted, first["customers"].inserted) == (10, 18, 4)
    shutil.copy(FIXTURE / "invoices" / "2011-01.csv", root / "invoices" / "2011-01.csv")
    second = extract(con, root, "r2")
    # January alone: 5 invoices with 6 lines; customers are re-derived from both files (read: all).
    assert (second["orders"].rows_read, second["orders"].inserted, second["orders"].updated) == (5, 5, 0)
    assert (second["order_lines"].rows_read, second["order_lines"].inserted) == (6, 6)
    c = second["customers"]
    # 17850, 12583 and 12431 bought again (new last purchase); 13047 did not; 14911 is new.
    assert (c.rows_read, c.inserted, c.updated, c.unchanged) == (5, 1, 3, 1)
    assert con.execute(
        "SELECT created_at, updated_at FROM raw.customers WHERE customer_id = '17850'"
    ).fetchone() == (datetime(2010, 12, 1, 8, 26), datetime(2011, 1, 4, 10, 0))
    assert counts(con) == {"customers": 5, "orders": 15, "order_lines": 24, "quarantine": 0}
    quiet = extract(con, root, "r3")
    assert all(s.rows_read == 0 for s in quiet.values()), quiet


def test_mapped_rows_name_their_files_and_files_are_recorded_per_entity(tmp_path, con):
    root = shop(tmp_path)
    extract(con, root)
    label = con.execute("SELECT DISTINCT _source_file FROM raw.orders").fetchall()
    assert label == [(f"{root}/invoices/2010-12.csv .. 2011-01.csv (2 files) via landing.orders.query",)]
    ingested = con.execute("SELECT entity, count(*) FROM raw._ingested_files GROUP BY 1 ORDER BY 1").fetchall()
    assert ingested == [("customers", 2), ("order_lines", 2), ("orders", 2)]


def test_a_rewritten_file_is_read_again(tmp_path, con):
    root = shop(tmp_path)
    extract(con, root)
    path = root / "invoices" / "2011-01.csv"
    path.write_text(path.read_text().replace("540100,22423,REGENCY CAKESTAND 3 TIER,1,", "540100,22423,REGENCY CAKESTAND 3 TIER,2,"))
    again = extract(con, root, "r2")
    # Same creation time, other content: the same key with the same updated_at is a conflict, quarantined.
    assert again["orders"].rows_read == 5 and again["orders"].reasons == {"conflicting_duplicate": 1}
    assert con.execute("SELECT subtotal FROM raw.orders WHERE order_id = '540100'").fetchone()[0] == 12.75


BAD_MAPPINGS = {
    "bad SQL": (
        "order_lines", "SELECT InvoiceNo AS order_id FORM {files}", "Parser Error: syntax error at or near \"FORM\"",
    ),
    "missing column": (
        "order_lines",
        "SELECT InvoiceNo AS order_id, 1 AS line_number, StockCode AS product_id, Quantty AS quantity, "
        "UnitPrice AS unit_price FROM {files}",
        'Binder Error: Referenced column "Quantty" not found',
    ),
    "wrong columns": (
        "order_lines",
        "SELECT InvoiceNo AS order_id, StockCode AS product_id, Quantity AS qty, UnitPrice AS unit_price FROM {files}",
        "returns column(s) qty, not in the contract of order_lines",
    ),
}


def broken_config(entity: str, query: str) -> str:
    text = (FIXTURE / "retention.yml").read_text()
    start = text.index(f"  {entity}:\n")
    end = text.index("\n  customers:\n")
    return text[:start] + f"  {entity}:\n    files: invoices/*.csv\n    query: '{query}'\n" + text[end + 1:]


@pytest.mark.parametrize("case", sorted(BAD_MAPPINGS))
def test_a_broken_mapping_stops_before_anything_loads(tmp_path, con, case):
    entity, query, problem = BAD_MAPPINGS[case]
    root = shop(tmp_path, config=broken_config(entity, query))
    with pytest.raises(MappingError) as err:
        extract(con, root)
    message = str(err.value)
    assert "\n" not in message, message
    assert message.startswith(f"{root / 'retention.yml'}: landing.{entity}.query over invoices/*.csv "
                              f"(2 files, first {root / 'invoices' / '2010-12.csv'}): "), message
    assert problem in message, message
    # Customers and orders come before order lines, and their mappings are fine: nothing loads all the same.
    assert counts(con) == {"customers": 0, "orders": 0, "order_lines": 0, "quarantine": 0}
    assert con.execute("SELECT count(*) FROM raw._ingested_files").fetchone()[0] == 0


def test_a_broken_mapping_is_reported_on_a_night_without_new_files(tmp_path, con):
    root = shop(tmp_path)
    extract(con, root)
    (root / "retention.yml").write_text(broken_config(*BAD_MAPPINGS["wrong columns"][:2]))
    with pytest.raises(MappingError, match=r"over invoices/\*\.csv \(.*2011-01.csv\): returns column\(s\) qty"):
        extract(con, root, "r2")


def test_a_value_the_query_cannot_convert_stops_the_run_naming_the_mapping(tmp_path, con):
    root = shop(tmp_path)
    path = root / "invoices" / "2011-01.csv"
    path.write_text(path.read_text().replace(",4,1/7/2011", ",four,1/7/2011"))
    with pytest.raises(MappingError) as err:
        extract(con, root)
    assert "landing.customers" not in str(err.value) and "Conversion Error" in str(err.value), err.value
    assert "\n" not in str(err.value)


def test_quarantined_mapped_rows_keep_the_accounting(tmp_path, con):
    root = shop(tmp_path)
    # A stock adjustment: negative quantity on an ordinary invoice gives a negative line and order.
    with (root / "invoices" / "2011-01.csv").open("a") as f:
        f.write("540300,22423,damaged,-3,1/8/2011 9:00,12.75,,United Kingdom\n")
    totals = extract(con, root)
    orders, lines = totals["orders"], totals["order_lines"]
    # Only credit notes ("C...") turn negative amounts round: the adjustment is quarantined, not sold.
    assert (orders.rows_read, orders.inserted, orders.quarantined) == (16, 15, 1)
    assert orders.reasons == {"negative_amount:subtotal": 1}
    assert (lines.rows_read, lines.inserted, lines.quarantined) == (25, 24, 1)
    assert lines.reasons == {"out_of_range:quantity": 1}
    source, row, record = con.execute(
        "SELECT source_file, row_number, record FROM raw.quarantine WHERE entity = 'orders'"
    ).fetchone()
    assert source.endswith("(2 files) via landing.orders.query") and '"order_id":"540300"' in record.replace(" ", "")
    assert row == 14, "rows are numbered in key order: 540300 comes after the 13 numeric invoices before it"
    for stats in totals.values():
        stats.check()


def test_offset_timestamps_load_as_utc(tmp_path, con):
    root = tmp_path / "landing"
    (root / "orders").mkdir(parents=True)
    (root / "orders" / "o.csv").write_text("id,ts,amount\nA,2024-07-01 10:00,5.00\n")
    (root / "retention.yml").write_text(
        "landing:\n  orders:\n    query: >\n      SELECT id AS order_id, "
        "strptime(ts, '%Y-%m-%d %H:%M') AT TIME ZONE 'Europe/London' AS created_at, amount AS subtotal FROM {files}\n"
    )
    extract(con, root, entities=("orders",))
    assert con.execute("SELECT created_at FROM raw.orders").fetchone()[0] == datetime(2024, 7, 1, 9, 0)


def test_file_list_placeholder_lets_the_query_call_a_reader(tmp_path, con):
    root = tmp_path / "landing"
    (root / "exports").mkdir(parents=True)
    (root / "exports" / "o.txt.csv").write_text("# exported by ShopX\nid|day|amount\nA|2024-07-01|5,00\n")
    (root / "retention.yml").write_text(
        "landing:\n  csv: {decimal: ','}\n  orders:\n    files: exports/*.csv\n    query: >\n"
        "      SELECT id AS order_id, day AS created_at, amount AS subtotal\n"
        "      FROM read_csv({file_list}, skip = 1, delim = '|', all_varchar = true)\n"
    )
    extract(con, root, entities=("orders",))
    # The decimal comma of the query's text output is read as the dialect says.
    assert con.execute("SELECT order_id, subtotal::VARCHAR FROM raw.orders").fetchall() == [("A", "5.00")]


def test_files_of_mixed_formats_are_refused(tmp_path, con):
    root = shop(tmp_path, config="landing:\n  orders:\n    files: invoices/*\n    query: SELECT 1 FROM {files}\n")
    (root / "invoices" / "x.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(MappingError, match=r"the files mix formats \(csv, jsonl\)"):
        extract(con, root)


def test_required_orders_without_matching_files_name_the_pattern(tmp_path, con):
    root = shop(tmp_path, config="landing:\n  orders:\n    files: sales/*.csv\n    query: SELECT 1 FROM {files}\n")
    with pytest.raises(SourceFileError, match=r"landing/sales/\*\.csv: no orders files"):
        extract(con, root)


def test_non_utf8_files_are_read_in_their_encoding(tmp_path, con):
    root = tmp_path / "landing"
    (root / "orders").mkdir(parents=True)
    (root / "orders" / "o.csv").write_bytes("Nº;Datum;Betrag;Kategorie\nA1;2024-03-01;10,50;Bürobedarf – Papier\n".encode("cp1252"))
    (root / "order_lines").mkdir()
    (root / "retention.yml").write_text(
        "landing:\n  csv: {encoding: cp1252}\n"
        "  orders:\n    query: SELECT \"Nº\" AS order_id, Datum AS created_at, Betrag AS subtotal FROM {files}\n"
        "  order_lines:\n    files: orders/*.csv\n    query: >\n"
        "      SELECT \"Nº\" AS order_id, 1 AS line_number, 'p' AS product_id, Kategorie AS category,\n"
        "      1 AS quantity, Betrag AS unit_price FROM {files}\n"
    )
    extract(con, root, entities=("orders", "order_lines"))
    assert con.execute("SELECT order_id, subtotal::VARCHAR FROM raw.orders").fetchall() == [("A1", "10.50")]
    assert con.execute("SELECT category FROM raw.order_lines").fetchone()[0] == "Bürobedarf – Papier"


def test_bytes_outside_the_encoding_name_the_file(tmp_path, con):
    root = tmp_path / "landing"
    (root / "orders").mkdir(parents=True)
    (root / "orders" / "o.csv").write_bytes(b"id,at,amount\nA\x81,2024-03-01,1\n")
    (root / "retention.yml").write_text(
        "landing:\n  csv: {encoding: cp1252}\n"
        "  orders:\n    query: SELECT id AS order_id, at AS created_at, amount AS subtotal FROM {files}\n"
    )
    with pytest.raises(SourceFileError, match=r"o\.csv: not cp1252: byte 0x81 at offset 14"):
        extract(con, root, entities=("orders",))


DOCS = PROJECT_ROOT / "docs" / "mappings.md"
README = PROJECT_ROOT / "README.md"


@pytest.mark.parametrize("example", ["online_retail", "superstore"])
def test_the_docs_print_the_tested_retention_yml(example):
    tested = (FIXTURE.parent / example / "retention.yml").read_text()
    assert f"```yaml\n{tested}```" in DOCS.read_text(), (
        f"docs/mappings.md does not print tests/fixtures/mappings/{example}/retention.yml verbatim"
    )


def test_the_readme_mapping_loads_the_invoice_example(tmp_path, con):
    text = README.read_text()
    start = text.index("### I have a CSV from my shop")
    block = text[text.index("```yaml\n", start) + len("```yaml\n"):text.index("```", text.index("```yaml\n", start) + 8)]
    root = shop(tmp_path, config=block)
    totals = extract(con, root, entities=("orders",))
    # 15 invoices; without the example's refinements postage counts as goods and credit notes as negative.
    assert (totals["orders"].rows_read, totals["orders"].inserted, totals["orders"].quarantined) == (15, 13, 2)
    assert totals["orders"].reasons == {"negative_amount:subtotal": 2}


def test_archived_files_of_a_pattern_still_count_for_required_orders(tmp_path, con):
    root = shop(tmp_path)
    extract(con, root)
    archive = tmp_path / "archive"
    shutil.move(root / "invoices", archive)
    (root / "invoices").mkdir()
    quiet = extract(con, root, "r2")
    assert all(s.rows_read == 0 for s in quiet.values()), quiet


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_json_lines_files_are_read_typed(tmp_path, con, fmt):
    import polars as pl

    root = tmp_path / "landing"
    (root / "exports").mkdir(parents=True)
    frame = pl.DataFrame({"Ref": ["A", "B"], "Placed": [datetime(2024, 5, 1, 9), datetime(2024, 5, 2, 9)],
                          "Cents": [1250, 399]})
    path = root / "exports" / f"orders.{fmt}"
    frame.write_parquet(path) if fmt == "parquet" else frame.write_ndjson(path)
    (root / "retention.yml").write_text(
        "landing:\n  orders:\n    files: exports/*\n    query: >\n"
        "      SELECT Ref AS order_id, Placed AS created_at, Cents / 100 AS subtotal FROM {files}\n"
    )
    extract(con, root, entities=("orders",))
    assert con.execute("SELECT order_id, created_at, subtotal::VARCHAR FROM raw.orders ORDER BY 1").fetchall() == [
        ("A", datetime(2024, 5, 1, 9), "12.50"), ("B", datetime(2024, 5, 2, 9), "3.99"),
    ]


def test_mapping_queries_run_under_the_memory_cap_in_utc(tmp_path):
    from assets.extraction.sources import MappedReads

    reads = MappedReads(LandingSource(tmp_path, memory_limit="100MB"), tmp_path)
    con = reads._connect()
    try:
        limit, zone = con.execute("SELECT current_setting('memory_limit'), current_setting('TimeZone')").fetchone()
    finally:
        con.close()
    assert (limit, zone) in {("95.3 MiB", "UTC"), ("100.0 MB", "UTC")}, (limit, zone)


def test_json_lines_files_without_records_load_nothing_and_are_recorded(tmp_path, con):
    root = tmp_path / "landing"
    (root / "orders").mkdir(parents=True)
    (root / "orders" / "a.jsonl").write_text('{"ref": "A", "day": "2024-05-01", "amount": 5}\n')
    (root / "orders" / "b.jsonl").write_text("\n")
    (root / "retention.yml").write_text(
        "landing:\n  orders:\n    query: SELECT ref AS order_id, day AS created_at, amount AS subtotal FROM {files}\n"
    )
    assert extract(con, root, entities=("orders",))["orders"].inserted == 1
    (root / "orders" / "c.jsonl").write_text("")
    night = extract(con, root, "r2", entities=("orders",))["orders"]
    assert night.rows_read == 0
    ingested = [p for (p,) in con.execute("SELECT path FROM raw._ingested_files ORDER BY 1").fetchall()]
    assert [Path(p).name for p in ingested] == ["a.jsonl", "b.jsonl", "c.jsonl"]
