"""Files that cannot be read fail the extraction, naming the file and the problem;
empty exports and entities a shop does not track are not errors."""

import polars as pl
import pytest

from assets.extraction.contract import tracked_entities
from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.load import MissingColumnsError
from assets.extraction.sources import LandingSource, SourceFileError, read_landing_file, write_landing
from assets.extraction.sample_shop import generate

HEADER = "order_id,customer_id,created_at,updated_at,status,device,channel,currency,subtotal,discount,shipping,tax,refunded_amount\n"
ROW = "O1,C1,2025-01-01,2025-01-01,placed,desktop,web,USD,10,0,0,0,0\n"


def write(tmp_path, name, content: bytes | str):
    folder = tmp_path / "landing" / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("empty.csv", "", "file is empty"),
        ("empty.parquet", "", "file is empty"),
        ("cut.csv", HEADER + ROW + "O2,C1,2025-01-0", "truncated"),
        ("not_parquet.parquet", HEADER + ROW, "cannot be read as parquet"),
        ("cut.jsonl", '{"order_id": "O1"}\n{"order_id": "O', "cannot be read as jsonl"),
        ("orders.xlsx", "x", "unsupported file type"),
    ],
)
def test_unreadable_files_fail_with_file_and_problem(tmp_path, name, content, problem):
    p = write(tmp_path, name, content)
    with pytest.raises(SourceFileError) as err:
        read_landing_file(p)
    assert str(p) in str(err.value) and problem in str(err.value)


def test_truncated_parquet_fails(tmp_path):
    good = write(tmp_path, "o.parquet", b"")
    pl.DataFrame({"order_id": ["O1"] * 1000}).write_parquet(good)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFileError, match="cannot be read as parquet"):
        read_landing_file(good)


def test_missing_required_column_fails_the_asset_naming_the_file(tmp_path, con):
    p = write(tmp_path, "orders.csv", HEADER.replace(",created_at", "") + ROW.replace("C1,2025-01-01,", "C1,"))
    src = LandingSource(tmp_path / "landing")
    with pytest.raises(MissingColumnsError, match=rf"{p}: missing required column\(s\) created_at"):
        run_extraction(con, src, ExtractRequest(("orders",)), "r", log=lambda m: None)


def test_a_landing_folder_without_orders_is_refused_in_one_line(tmp_path, con):
    (tmp_path / "landing" / "customers").mkdir(parents=True)
    with pytest.raises(SourceFileError) as err:
        run_extraction(con, LandingSource(tmp_path / "landing"), ExtractRequest(("orders", "customers")), "r", log=lambda m: None)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "landing" / "orders")) and "orders are required" in message


def test_an_empty_orders_folder_is_refused_too(tmp_path, con):
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    with pytest.raises(SourceFileError, match="no orders files"):
        run_extraction(con, LandingSource(tmp_path / "landing"), ExtractRequest(("orders",)), "r", log=lambda m: None)


def test_a_missing_landing_folder_is_named(tmp_path, con):
    with pytest.raises(SourceFileError, match=rf"{tmp_path / 'nowhere'}: landing folder does not exist"):
        run_extraction(con, LandingSource(tmp_path / "nowhere"), ExtractRequest(("orders",)), "r", log=lambda m: None)


def test_a_shop_without_carts_or_tickets_loads_its_orders(tmp_path, con):
    write(tmp_path, "orders.csv", HEADER + ROW)
    (tmp_path / "landing" / "carts").mkdir()  # present but empty: not tracked either
    src = LandingSource(tmp_path / "landing")
    wanted = ("orders", "carts", "support_tickets")
    stats = run_extraction(con, src, ExtractRequest(wanted), "r", log=lambda m: None)
    assert stats["orders"].inserted == 1
    assert stats["carts"].rows_read == stats["support_tickets"].rows_read == 0
    assert set(src.not_tracked(wanted)) == {"carts", "support_tickets"}
    assert tracked_entities(con) == {"orders"}


def test_orders_ingested_then_archived_do_not_fail_the_next_night(tmp_path, con):
    p = write(tmp_path, "orders.csv", HEADER + ROW)
    src = LandingSource(tmp_path / "landing")
    run_extraction(con, src, ExtractRequest(("orders",)), "r1", log=lambda m: None)
    p.unlink()
    again = run_extraction(con, src, ExtractRequest(("orders",)), "r2", log=lambda m: None)
    assert again["orders"].rows_read == 0


def header_only(tmp_path, fmt):
    if fmt == "csv":
        return write(tmp_path, "o.csv", HEADER)
    if fmt == "jsonl":
        return write(tmp_path, "o.jsonl", "\n")
    p = write(tmp_path, "o.parquet", b"")
    pl.DataFrame(schema={c: pl.String for c in HEADER.strip().split(",")}).write_parquet(p)
    return p


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_file_with_no_rows_is_a_valid_empty_export(tmp_path, con, fmt):
    p = header_only(tmp_path, fmt)
    write(tmp_path, "z_real.csv", HEADER + ROW)
    stats = run_extraction(con, LandingSource(tmp_path / "landing"), ExtractRequest(("orders",)), "r", log=lambda m: None)
    assert stats["orders"].rows_read == 1 and stats["orders"].quarantined == 0
    ingested = dict(con.execute("SELECT path, rows_read FROM raw._ingested_files").fetchall())
    assert ingested[str(p)] == 0


def test_a_zero_byte_jsonl_file_holds_no_records(tmp_path):
    p = write(tmp_path, "o.jsonl", b"")
    assert read_landing_file(p).height == 0


def test_byte_order_mark_and_crlf_line_ends_are_read(tmp_path, con):
    body = (HEADER + ROW + ROW.replace("O1", "O2")).replace("\n", "\r\n")
    p = write(tmp_path, "o.csv", b"\xef\xbb\xbf" + body.encode())
    df = read_landing_file(p)
    assert df.columns[1] == "order_id" and df["refunded_amount"].to_list() == ["0", "0"]
    stats = run_extraction(con, LandingSource(tmp_path / "landing"), ExtractRequest(("orders",)), "r", log=lambda m: None)
    assert stats["orders"].inserted == 2 and stats["orders"].quarantined == 0


def test_short_row_in_the_middle_is_quarantined_not_dropped(tmp_path, con):
    write(tmp_path, "orders.csv", HEADER + "O9,C1,2025-01-01\n" + ROW)
    stats = run_extraction(con, LandingSource(tmp_path / "landing"), ExtractRequest(("orders",)), "r", log=lambda m: None)
    assert stats["orders"].quarantined == 1 and stats["orders"].inserted == 1
    assert con.execute("SELECT row_number FROM raw.quarantine").fetchone()[0] == 1


def test_header_case_and_spaces_are_normalised(tmp_path):
    p = write(tmp_path, "o.csv", HEADER.upper().replace(",", " ,") + ROW)
    assert "order_id" in read_landing_file(p).columns


def test_write_landing_splits_entities_into_files(tmp_path, small_cfg):
    frames = generate(small_cfg, entities=("orders",))
    paths = write_landing(frames, tmp_path, "csv", files_per_entity=3)
    assert len(paths) == 3
    assert sum(pl.read_csv(p).height for p in paths) == frames["orders"].height
