"""European and other CSV dialects: detected where it is safe, configurable in retention.yml."""

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
import yaml

from assets.extraction.builders import build_source
from assets.extraction.contract import ENTITIES
from assets.extraction.dialect import (
    CsvDialect,
    detect_date_order,
    detect_decimal,
    detect_delimiter,
    landing_options,
    normalise,
)
from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.sources import LandingSource, SourceFileError, read_landing_file
from assets.user_config import UserConfigError, load_user_config
from assets.resources import ShopSourceResource

ORDERS = ENTITIES["orders"]
# Every column the contract may require, so the files load whatever defaults the loader applies.
HEADER = "order_id;customer_id;created_at;updated_at;status;device;channel;currency;subtotal;discount;shipping;tax;refunded_amount\n"


def row(order_id: str, created_at: str, subtotal: str, shipping: str = "0", sep: str = ";") -> str:
    return sep.join([order_id, "C1", created_at, created_at, "placed", "desktop", "web", "USD", subtotal, "0", shipping, "0", "0"]) + "\n"


def landing(tmp_path, text: str, name="orders.csv", entity="orders", encoding="utf-8"):
    folder = tmp_path / "landing" / entity
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))
    return tmp_path / "landing"


def extract(con, root, options=None, run_id="r"):
    src = LandingSource(root) if options is None else LandingSource(root, options=options)
    return run_extraction(con, src, ExtractRequest(("orders",)), run_id, log=lambda m: None)["orders"]


def orders(con):
    return con.execute(
        "SELECT order_id, created_at, subtotal, shipping FROM raw.orders ORDER BY order_id"
    ).fetchall()


def test_semicolon_decimal_comma_and_day_first_file_loads_the_right_values(tmp_path, con):
    root = landing(
        tmp_path,
        HEADER
        + row("O1", "31/12/2024 18:05", "12,50", "4,95")
        + row("O2", "01.02.2025", "1.234,56", "0"),
    )
    stats = extract(con, root)
    assert stats.inserted == 2 and stats.quarantined == 0
    assert orders(con) == [
        ("O1", datetime(2024, 12, 31, 18, 5), Decimal("12.50"), Decimal("4.95")),
        ("O2", datetime(2025, 2, 1), Decimal("1234.56"), Decimal("0.00")),
    ]


def test_timestamps_with_offsets_are_stored_in_utc(tmp_path, con):
    root = landing(
        tmp_path,
        HEADER
        + row("O1", "2025-03-01T14:05:00+01:00", "10", "0")
        + row("O2", "2025-07-01T00:30:00-04:00", "10", "0"),
    )
    extract(con, root)
    assert [r[1] for r in orders(con)] == [datetime(2025, 3, 1, 13, 5), datetime(2025, 7, 1, 4, 30)]


def test_offsets_written_after_a_blank_or_without_colon_are_stored_in_utc(tmp_path, con):
    # Rails and Shopify write `2025-03-01 14:05:00 +0100`; DuckDB cannot read the blank.
    root = landing(
        tmp_path,
        HEADER
        + row("O1", "2025-03-01 14:05:00 +0100", "10", "0")
        + row("O2", "2025-07-01 00:30:00 -04:00", "10", "0"),
    )
    stats = extract(con, root)
    assert stats.quarantined == 0
    assert [r[1] for r in orders(con)] == [datetime(2025, 3, 1, 13, 5), datetime(2025, 7, 1, 4, 30)]


def test_ambiguous_dates_without_configuration_are_quarantined_with_their_text(tmp_path, con):
    root = landing(tmp_path, HEADER + row("O1", "03/04/2025", "10") + row("O2", "2025-04-05", "10"))
    stats = extract(con, root)
    assert stats.inserted == 1 and stats.quarantined == 1
    assert stats.reasons["unparsable_timestamp:created_at"] == 1
    record = con.execute("SELECT record FROM raw.quarantine").fetchone()[0]
    assert "03/04/2025" in record


@pytest.mark.parametrize("order, expected", [("DMY", datetime(2025, 4, 3)), ("MDY", datetime(2025, 3, 4))])
def test_configured_date_order_settles_ambiguous_dates(tmp_path, con, order, expected):
    root = landing(tmp_path, HEADER + row("O1", "03/04/2025", "10", "0"))
    extract(con, root, landing_options({"landing": {"csv": {"date_order": order}}}))
    assert orders(con)[0][1] == expected


def test_configuration_beats_detection(tmp_path, con):
    # 13/01 proves day-first, but the shop says month-first: the setting wins
    # and the impossible date is quarantined as written.
    root = landing(tmp_path, HEADER + row("O1", "13/01/2025", "10") + row("O2", "01/02/2025", "10"))
    stats = extract(con, root, landing_options({"landing": {"csv": {"date_order": "MDY"}}}))
    assert stats.quarantined == 1 and stats.reasons["unparsable_timestamp:created_at"] == 1
    assert orders(con)[0][:2] == ("O2", datetime(2025, 1, 2))
    assert "13/01/2025" in con.execute("SELECT record FROM raw.quarantine").fetchone()[0]


def test_a_configured_delimiter_is_used_instead_of_the_header_guess(tmp_path):
    root = landing(tmp_path, "order_id|note,with,commas\nO1|a,b,c\n")
    path = root / "orders" / "orders.csv"
    assert read_landing_file(path).columns == ["_source_row", "order_id|note", "with", "commas"]
    got = read_landing_file(path, CsvDialect(delimiter="|"))
    assert got.columns == ["_source_row", "order_id", "note,with,commas"]
    assert got["note,with,commas"].to_list() == ["a,b,c"]


def test_a_value_that_cannot_be_normalised_is_left_as_read(tmp_path, con):
    root = landing(tmp_path, HEADER + row("O1", "31/02/2025", "12,5x") + row("O2", "31/01/2025", "12,50"))
    stats = extract(con, root)
    assert stats.inserted == 1 and stats.quarantined == 1
    assert stats.reasons["unparsable_timestamp:created_at"] == stats.reasons["unparsable_number:subtotal"] == 1
    record = con.execute("SELECT record FROM raw.quarantine").fetchone()[0]
    assert "31/02/2025" in record and "12,5x" in record


def test_non_utf8_export_reads_with_the_configured_encoding(tmp_path, con):
    text = HEADER.replace("\n", ";coupon_code\n") + row("O1", "2025-01-02", "10,00").replace("\n", ";ÉTÉ\n")
    root = landing(tmp_path, text, encoding="cp1252")
    with pytest.raises(SourceFileError, match="set landing.csv.encoding"):
        extract(con, root)
    extract(con, root, landing_options({"landing": {"orders": {"csv": {"encoding": "cp1252"}}}}))
    assert con.execute("SELECT coupon_code, subtotal FROM raw.orders").fetchone() == ("ÉTÉ", Decimal("10.00"))


@pytest.mark.parametrize(
    "header, expected",
    [("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ("a|b", "|"), ("single", ","), ('"x;y",b,c', ",")],
)
def test_delimiter_is_the_most_frequent_candidate_outside_quotes(header, expected):
    assert detect_delimiter(header) == expected


def test_decimal_comma_needs_comma_values_and_no_point_values():
    assert detect_decimal(pl.DataFrame({"subtotal": ["12,50", "3"]}), ["subtotal"]) == ","
    assert detect_decimal(pl.DataFrame({"subtotal": ["12,50", "3.25"]}), ["subtotal"]) == "."
    # 1,234 is a thousands separator, not a decimal comma.
    assert detect_decimal(pl.DataFrame({"subtotal": ["1,234", "5"]}), ["subtotal"]) == "."


def test_date_order_is_detected_only_when_some_date_proves_it():
    def order(*values):
        return detect_date_order(pl.DataFrame({"created_at": list(values)}), ["created_at"])

    assert order("01/02/2025", "31/12/2024 18:05") == "DMY"
    assert order("12/31/2024", "01/02/2025") == "MDY"
    assert order("01/02/2025", "03.04.2025") is None
    assert order("31/01/2025", "01/31/2025") is None  # contradictory: leave as read
    assert order("2025-12-31", None) is None


def test_normalise_touches_only_money_and_timestamp_text():
    frame = pl.DataFrame({"order_id": ["1,50"], "created_at": ["31.12.2024"], "subtotal": ["1,50"]})
    out = normalise(frame, ORDERS, CsvDialect()).frame
    assert out.row(0) == ("1,50", "2024-12-31 00:00:00", "1.50")


def test_a_total_the_subtotal_derives_from_is_money_too():
    frame = pl.DataFrame({"order_id": ["O1"], "total": ["1.234,50"]})
    assert normalise(frame, ORDERS, CsvDialect()).frame["total"].to_list() == ["1234.50"]


def test_per_entity_settings_refine_the_shop_wide_dialect():
    opts = landing_options(
        {"landing": {"csv": {"delimiter": ";", "decimal": ",", "date_order": "dmy"}, "carts": {"csv": {"decimal": "."}}}}
    )
    assert opts.dialect("orders") == CsvDialect(delimiter=";", decimal=",", date_order="DMY")
    assert opts.dialect("carts") == CsvDialect(delimiter=";", decimal=".", date_order="DMY")


@pytest.mark.parametrize(
    "section, key",
    [
        ({"csv": {"delimter": ";"}}, "landing.csv.delimter"),
        ({"csv": {"delimiter": ":"}}, "landing.csv.delimiter"),
        ({"csv": {"decimal": "'"}}, "landing.csv.decimal"),
        ({"csv": {"date_order": "DDMMYYYY"}}, "landing.csv.date_order"),
        ({"orders": {"csv": {"encoding": "klingon"}}}, "landing.orders.csv.encoding"),
        ({"orders": {"csv": {"encoding": "utf-16"}}}, "landing.orders.csv.encoding"),
        ({"cart": {"csv": {}}}, "landing.cart"),
        ({"csv": ";"}, "landing.csv"),
    ],
)
def test_bad_landing_settings_name_the_file_and_key(tmp_path, section, key):
    path = tmp_path / "retention.yml"
    path.write_text(yaml.safe_dump({"landing": section}))
    with pytest.raises(UserConfigError) as err:
        landing_options(load_user_config(path))
    assert str(err.value).startswith(f"{path}: {key}")


def test_the_shop_source_resource_reads_the_landing_section(tmp_path):
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    cfg = tmp_path / "retention.yml"
    cfg.write_text("landing:\n  csv: {delimiter: ';', date_order: DMY}\n")
    res = ShopSourceResource(kind="landing", landing_dir=str(tmp_path / "landing"), config_file=str(cfg))
    assert build_source(res).options.dialect("orders") == CsvDialect(delimiter=";", date_order="DMY")
