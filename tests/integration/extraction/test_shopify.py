"""Shopify "Export orders" CSV: mapping, customer keys without personal data, files as the unit."""

from __future__ import annotations

import csv
import os
import shutil
import stat
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.extraction.assets import extract_shop
from assets.extraction.builders import build_source
from assets.extraction.contract import ORDER_CHANNELS, ORDER_STATUSES
from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.shopify import (
    SALT_ENV,
    ShopifyExportSource,
    channel_expr,
    customer_id,
    export_files,
    iso_timestamp_expr,
    load_or_create_salt,
    order_status_expr,
    read_export,
    resolve_salt,
    salt_file,
)
from assets.extraction.sources import SourceFileError
from assets.warehouse import connect
from assets.resources import ShopSourceResource, WarehouseResource
from assets.settings import PROJECT_ROOT

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "shopify" / "orders_export_1.csv"
SALT = "test-salt"
PERSONAL_HEADERS = [
    "Email", "Phone", "Billing Name", "Billing Street", "Billing Address1", "Billing City", "Billing Zip",
    "Billing Phone", "Shipping Name", "Shipping Street", "Shipping Address1", "Shipping City", "Shipping Zip",
    "Shipping Phone", "Notes",
]


def fixture_rows() -> list[dict[str, str]]:
    """The fixture as Python's csv module reads it: an independent reading to compare against."""
    with FIXTURE.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def first_rows() -> dict[str, dict[str, str]]:
    """Each order's first row, which carries the order-level fields."""
    out: dict[str, dict[str, str]] = {}
    for row in fixture_rows():
        out.setdefault(row["Name"], row)
    return out


def shopify_time(text: str) -> datetime:
    """Shopify's '2025-01-06 09:15:00 -0500' as naive UTC, like `raw` stores it."""
    return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S %z").astimezone(timezone.utc).replace(tzinfo=None)


def money(text: str) -> Decimal:
    return Decimal(text.strip() or "0")


@pytest.fixture
def landing(tmp_path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / FIXTURE.name)
    return folder


@pytest.fixture
def salted(monkeypatch):
    monkeypatch.setenv(SALT_ENV, SALT)


def extract(con, landing: Path, data_dir: Path, entities=("orders", "order_lines"), **request):
    source = ShopifyExportSource.from_folder(landing, data_dir)
    return run_extraction(con, source, ExtractRequest(tuple(entities), **request), "test-run", log=lambda m: None)


def table(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# --- mapping ---------------------------------------------------------------------------


def test_every_order_column_maps_from_its_shopify_column(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    loaded = {r["order_id"]: r for r in table(con, "SELECT * FROM raw.orders")}
    expected = first_rows()
    assert set(loaded) == set(expected)
    for name, row in expected.items():
        got = loaded[name]
        assert got["customer_id"] == customer_id(row["Email"], SALT), name
        assert got["created_at"] == shopify_time(row["Created at"]), name
        events = [shopify_time(row[c]) for c in ("Created at", "Paid at", "Fulfilled at", "Cancelled at") if row[c]]
        assert got["updated_at"] >= max(events), name
        assert got["currency"] == row["Currency"], name
        # The export's Subtotal is after discounts; the contract's is before them.
        assert got["subtotal"] == money(row["Subtotal"]) + money(row["Discount Amount"]), name
        assert got["subtotal"] - got["discount"] == money(row["Subtotal"]), name
        assert got["discount"] == money(row["Discount Amount"]), name
        assert got["shipping"] == money(row["Shipping"]), name
        assert got["tax"] == money(row["Taxes"]), name
        assert got["refunded_amount"] == money(row["Refunded Amount"]), name
        assert got["coupon_code"] == (row["Discount Code"] or None), name
        assert got["device"] == "unknown", name
        assert got["status"] in ORDER_STATUSES and got["channel"] in ORDER_CHANNELS, name


def test_lines_are_numbered_within_their_order_with_sku_else_name(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    loaded = {(r["order_id"], r["line_number"]): r for r in table(con, "SELECT * FROM raw.order_lines")}
    position: dict[str, int] = {}
    for row in fixture_rows():
        position[row["Name"]] = position.get(row["Name"], 0) + 1
        got = loaded.pop((row["Name"], position[row["Name"]]))
        assert got["product_id"] == (row["Lineitem sku"] or row["Lineitem name"])
        assert got["quantity"] == int(row["Lineitem quantity"])
        assert got["unit_price"] == money(row["Lineitem price"])
        assert got["category"] is None
    assert loaded == {}, "lines that are not in the export"


def test_lines_carry_their_orders_updated_at(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    mismatched = con.execute(
        "SELECT count(*) FROM raw.order_lines l JOIN raw.orders o USING (order_id) "
        "WHERE l.updated_at IS DISTINCT FROM o.updated_at"
    ).fetchone()[0]
    assert mismatched == 0


def frame(**cols) -> pl.DataFrame:
    n = max(len(v) for v in cols.values())
    return pl.DataFrame({k: pl.Series(k, v if len(v) == n else v * n, dtype=pl.String) for k, v in cols.items()})


@pytest.mark.parametrize(
    "financial, fulfillment, cancelled_at, expected",
    [
        ("paid", "fulfilled", None, "fulfilled"),
        ("paid", "unfulfilled", None, "placed"),
        ("paid", "partial", None, "placed"),
        ("pending", None, None, "placed"),
        ("authorized", None, None, "placed"),
        ("partially_paid", "fulfilled", None, "fulfilled"),
        ("refunded", "fulfilled", None, "refunded"),
        ("partially_refunded", "fulfilled", None, "partially_refunded"),
        ("voided", "unfulfilled", None, "cancelled"),
        ("Paid", "Fulfilled", None, "fulfilled"),
        ("paid", "fulfilled", "2025-03-09 13:00:00 -0400", "cancelled"),
        ("refunded", "unfulfilled", "2025-03-09 13:00:00 -0400", "cancelled"),
        # unknown statuses go to the loader as exported (and are quarantined there)
        ("chargeback_pending", None, None, "chargeback_pending"),
    ],
)
def test_status_is_cancelled_then_financial_then_fulfilled(financial, fulfillment, cancelled_at, expected):
    df = frame(financial_status=[financial], fulfillment_status=[fulfillment], cancelled_at=[cancelled_at])
    assert df.select(order_status_expr()).item() == expected


@pytest.mark.parametrize(
    "source, expected",
    [("web", "web"), ("iphone", "app"), ("android", "app"), ("pos", "pos"),
     ("shopify_draft_order", "shopify_draft_order"), ("580111", "580111"), ("Instagram", "social"), (None, "unknown")],
)
def test_channel_from_the_source_column(source, expected):
    assert frame(source=[source]).select(channel_expr()).item() == expected


def test_sales_channels_outside_the_contract_load_as_other_with_their_text(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    loaded = {r[0]: (r[1], r[2]) for r in con.execute("SELECT order_id, channel, channel_original FROM raw.orders").fetchall()}
    pos = [name for name, row in first_rows().items() if row["Source"] == "pos"]
    assert pos, "the fixture has a point-of-sale order"
    for name in pos:
        assert loaded[name] == ("other", "pos"), name
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0


def test_fixture_statuses_follow_the_export(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    status = dict(con.execute("SELECT order_id, status FROM raw.orders").fetchall())
    for name, row in first_rows().items():
        if row["Cancelled at"]:
            assert status[name] == "cancelled", name
        elif row["Financial Status"] in ("refunded", "partially_refunded"):
            assert status[name] == row["Financial Status"], name
        elif row["Fulfillment Status"] == "fulfilled":
            assert status[name] == "fulfilled", name
        else:
            assert status[name] == "placed", name


def test_shopify_offsets_become_iso_and_other_text_is_kept():
    df = frame(t=["2025-03-09 11:11:00 -0400", "2025-01-06 09:15:00 +0530", "yesterday", None])
    assert df.select(iso_timestamp_expr("t")).to_series().to_list() == [
        "2025-03-09 11:11:00-04:00", "2025-01-06 09:15:00+05:30", "yesterday", None,
    ]


def test_unparsable_created_at_is_quarantined_with_its_text(tmp_path, con, landing, salted):
    rows = fixture_rows()
    rows[0]["Created at"] = "06/01/2025 9:15"  # as Excel re-saves it
    write_export(landing / FIXTURE.name, rows)
    stats = extract(con, landing, tmp_path)
    assert stats["orders"].reasons.get("unparsable_timestamp:created_at") == 1
    record = con.execute("SELECT record FROM raw.quarantine WHERE entity = 'orders'").fetchone()[0]
    assert "06/01/2025 9:15" in record


# --- customers without personal data ---------------------------------------------------


def test_customer_id_is_stable_salted_and_ignores_case_and_blanks():
    a = customer_id("alice.moreau@example.com", SALT)
    assert customer_id("  Alice.Moreau@Example.COM ", SALT) == a
    assert customer_id("alice.moreau@example.com", "another salt") != a
    assert customer_id("bob.tanaka@example.net", SALT) != a
    assert "alice" not in a
    assert customer_id("", SALT) is None and customer_id(None, SALT) is None


def test_one_customer_across_spellings_of_the_same_email(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    by_email: dict[str, set] = {}
    loaded = dict(con.execute("SELECT order_id, customer_id FROM raw.orders").fetchall())
    for name, row in first_rows().items():
        if row["Email"].strip():
            by_email.setdefault(row["Email"].strip().lower(), set()).add(loaded[name])
    assert all(len(ids) == 1 for ids in by_email.values())
    assert len({i for ids in by_email.values() for i in ids}) == len(by_email)


def test_orders_without_email_are_guest_orders(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    loaded = dict(con.execute("SELECT order_id, customer_id FROM raw.orders").fetchall())
    guests = {name for name, row in first_rows().items() if not row["Email"].strip()}
    assert guests, "the fixture has guest orders"
    assert {n for n, c in loaded.items() if c is None} == guests


def test_salt_file_is_created_once_private_and_reused(tmp_path):
    path = salt_file(tmp_path / "data")
    first = load_or_create_salt(path)
    assert load_or_create_salt(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    other = load_or_create_salt(salt_file(tmp_path / "other"))
    assert other != first


def test_salt_from_the_environment_wins_over_the_file(tmp_path):
    assert resolve_salt(tmp_path, {SALT_ENV: "from-env"}) == "from-env"
    assert not salt_file(tmp_path).exists()
    assert resolve_salt(tmp_path, {}) == salt_file(tmp_path).read_text().strip()


def test_ids_stay_the_same_across_runs_with_the_kept_salt(tmp_path, landing, monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    ids = []
    for run in ("a", "b"):
        con = connect(tmp_path / f"{run}.duckdb")
        extract(con, landing, tmp_path / "data")
        ids.append(sorted(r[0] for r in con.execute("SELECT DISTINCT customer_id FROM raw.orders WHERE customer_id IS NOT NULL").fetchall()))
        con.close()
    assert ids[0] == ids[1] and ids[0]


def personal_values() -> set[str]:
    values = set()
    for row in fixture_rows():
        for h in PERSONAL_HEADERS:
            v = row[h].strip()
            if len(v) >= 5:
                values |= {v, v.lower(), v.lstrip("'")}
    return values


def test_no_personal_data_reaches_raw_or_quarantine(tmp_path, landing, salted):
    # A second export with one bad row: quarantined records must not hold personal data either.
    rows = fixture_rows()
    bad = [dict(r) for r in rows if r["Name"] == "#1001"]
    for r in bad:
        r["Name"] = "#2001"
    bad[0]["Subtotal"] = "eighty-one"
    write_export(landing / "orders_export_2.csv", bad)
    db = tmp_path / "wh.duckdb"
    con = connect(db)
    stats = extract(con, landing, tmp_path)
    assert stats["orders"].quarantined == 1
    text_columns = table(
        con,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND data_type = 'VARCHAR'",
    )
    stored = set()
    for c in text_columns:
        stored |= {v for (v,) in con.execute(f'SELECT DISTINCT "{c["column_name"]}" FROM raw.{c["table_name"]}').fetchall() if v}
    con.execute("CHECKPOINT")
    con.close()
    data = db.read_bytes()
    assert "CER-POUR-01".encode() in data, "stored text is visible in the file bytes (the check below can fail)"
    leaked = [v for v in personal_values() if v.encode() in data or any(v in s for s in stored)]
    assert leaked == []


# --- files as the unit -----------------------------------------------------------------


def write_export(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)


def test_an_unchanged_export_is_not_read_again(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    again = extract(con, landing, tmp_path)
    assert again["orders"].rows_read == 0 and again["order_lines"].rows_read == 0


def test_an_overlapping_reexport_upserts(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path)
    before = con.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
    rows = fixture_rows()
    overlap = [dict(r) for r in rows if r["Name"] in ("#1013", "#1014", "#1015")]
    for r in overlap:
        if r["Name"] == "#1014" and r["Financial Status"]:
            r.update({"Financial Status": "paid", "Paid at": "2025-06-08 09:00:00 -0400",
                      "Fulfillment Status": "fulfilled", "Fulfilled at": "2025-06-09 10:00:00 -0400"})
    new = dict(first_rows()["#1015"], Name="#1016", **{"Created at": "2025-06-30 10:00:00 -0400"})
    write_export(landing / "orders_export_2.csv", overlap + [new])
    stats = extract(con, landing, tmp_path)
    assert stats["orders"].inserted == 1
    assert stats["orders"].updated == 1
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == before + 1
    assert con.execute("SELECT status FROM raw.orders WHERE order_id = '#1014'").fetchone()[0] == "fulfilled"


def test_a_run_over_orders_alone_leaves_the_lines_for_the_next_run(tmp_path, con, landing, salted):
    extract(con, landing, tmp_path, entities=("orders",))
    assert con.execute("SELECT count(*) FROM raw.order_lines").fetchone()[0] == 0
    later = extract(con, landing, tmp_path)
    assert later["orders"].rows_read == 0
    assert later["order_lines"].inserted == len(fixture_rows())


def test_exports_are_read_from_the_folder_and_its_orders_subfolder(tmp_path):
    (tmp_path / "orders" / "archive").mkdir(parents=True)
    for p in ("a.csv", "notes.txt", "orders/b.CSV", "orders/archive/c.csv"):
        (tmp_path / p).write_text("x")
    assert export_files(tmp_path) == [tmp_path / "a.csv", tmp_path / "orders" / "b.CSV"]


def test_a_file_that_is_not_an_orders_export_is_refused_naming_it(tmp_path):
    p = tmp_path / "customers_export.csv"
    p.write_text("First Name,Last Name,Email\nAlice,Moreau,alice@example.com\n")
    with pytest.raises(SourceFileError) as err:
        read_export(p)
    assert str(p) in str(err.value) and "Name, Financial Status" in str(err.value)


def test_an_empty_folder_is_refused(tmp_path, con):
    with pytest.raises(SourceFileError, match="no .csv file"):
        extract(con, tmp_path, tmp_path)


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + FIXTURE.read_bytes())
    assert read_export(p)["name"].null_count() == 0


# --- wiring ----------------------------------------------------------------------------


def test_resource_builds_the_source_with_the_exports_currency(tmp_path, landing):
    rows = fixture_rows()
    for r in rows:
        r["Currency"] = "EUR" if r["Currency"] else ""
    write_export(landing / FIXTURE.name, rows)
    src = build_source(ShopSourceResource(kind="shopify_csv", landing_dir=str(landing), data_dir=str(tmp_path)))
    assert isinstance(src, ShopifyExportSource) and src.currency == "EUR" and src.timezone == "UTC"
    explicit = build_source(ShopSourceResource(kind="shopify_csv", landing_dir=str(landing), currency="usd",
                                               timezone="America/New_York"))
    assert (explicit.currency, explicit.timezone) == ("USD", "America/New_York")


def test_settings_accept_shopify_csv_and_need_the_folder(monkeypatch, tmp_path):
    from assets.resources import resources_from_settings
    from assets.settings import Settings

    monkeypatch.setenv("RETENTION_SOURCE", "shopify_csv")
    monkeypatch.delenv("RETENTION_LANDING_DIR", raising=False)
    with pytest.raises(ValueError, match="RETENTION_LANDING_DIR: RETENTION_SOURCE=shopify_csv needs it: expected the folder of Shopify"):
        Settings.from_env()
    monkeypatch.setenv("RETENTION_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path / "data"))
    shop = resources_from_settings(Settings.from_env())["shop_source"]
    assert (shop.kind, shop.data_dir) == ("shopify_csv", str(tmp_path / "data"))


def test_extraction_asset_loads_the_export_through_dagster(tmp_path, landing, monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    data = tmp_path / "data"
    resources = {
        "warehouse": WarehouseResource(data_dir=str(data)),
        "shop_source": ShopSourceResource(kind="shopify_csv", landing_dir=str(landing), data_dir=str(data)),
    }
    result = dg.materialize([extract_shop], resources=resources)
    assert result.success
    md = {e.materialization.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert md["orders"]["rows_inserted"].value == len(first_rows())
    assert md["order_lines"]["rows_inserted"].value == len(fixture_rows())
    assert md["orders"]["source"].value == "shopify_csv"
    assert all(md[e]["rows_read"].value == 0 for e in ("customers", "carts", "support_tickets"))
    assert os.access(salt_file(data), os.R_OK)
    again = dg.materialize([extract_shop], resources=resources)
    assert all(e.materialization.metadata["rows_read"].value == 0 for e in again.get_asset_materialization_events())


# --- the whole pipeline ----------------------------------------------------------------


@pytest.mark.slow
def test_whole_pipeline_publishes_from_the_export_without_personal_data(tmp_path, landing, monkeypatch):
    """Extraction -> dbt -> publish, exports and report, on the export alone (quality gates not attached)."""
    from assets.dbt import dbt_resource, retention_dbt_assets
    from assets.serving import mart_asset_keys
    from orchestration.jobs import make_pipeline_job
    from tests.support.serving import serving_assets_without_docs

    data = tmp_path / "data"
    monkeypatch.setenv("RETENTION_DATA_DIR", str(data))
    monkeypatch.setenv("RETENTION_BUILD_DB", str(data / "build" / "warehouse.duckdb"))
    monkeypatch.delenv("RETENTION_AS_OF_DATE", raising=False)
    monkeypatch.delenv(SALT_ENV, raising=False)
    marts = mart_asset_keys([retention_dbt_assets])
    defs = dg.Definitions(
        assets=[extract_shop, retention_dbt_assets, *serving_assets_without_docs(marts)],
        jobs=[make_pipeline_job("shopify_e2e", "test")],
        resources={
            "warehouse": WarehouseResource(data_dir=str(data)),
            "shop_source": ShopSourceResource(
                kind="shopify_csv", landing_dir=str(landing), data_dir=str(data), timezone="America/New_York"
            ),
            "dbt": dbt_resource(),
        },
    )
    result = defs.resolve_job_def("shopify_e2e").execute_in_process(raise_on_error=False)
    failures = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, failures

    published = data / "warehouse.duckdb"
    con = connect(published, read_only=True)
    try:
        customers = con.execute("SELECT count(DISTINCT customer_id) FROM marts.mart_customer_clv").fetchone()[0]
    finally:
        con.close()
    buyers = {
        row["Email"].strip().lower()
        for row in first_rows().values()
        if row["Email"].strip() and not row["Cancelled at"] and row["Financial Status"] != "voided"
        and money(row["Subtotal"]) - money(row["Refunded Amount"]) > 0
    }
    assert customers == len(buyers)
    files = [published, *data.rglob("*.parquet"), *(data / "report").rglob("*")]
    leaked = [(f.name, v) for f in files if f.is_file() for v in personal_values() if v.encode() in f.read_bytes()]
    assert leaked == []


def test_a_header_only_export_is_a_valid_empty_file(tmp_path, con, landing, salted):
    # an export of a day without orders: nothing to load, nothing wrong
    header = FIXTURE.read_text(encoding="utf-8-sig").splitlines()[0]
    (landing / FIXTURE.name).write_text(header + "\n")
    totals = extract(con, landing, tmp_path)
    assert {e: s.rows_read for e, s in totals.items()} == {"orders": 0, "order_lines": 0}
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 0
