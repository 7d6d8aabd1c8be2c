"""Files that cannot be read fail the extraction, naming the file and the problem."""

import polars as pl
import pytest

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
        ("header_only.csv", HEADER, "header but no rows"),
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


def test_a_landing_folder_without_entity_folders_is_refused(tmp_path, con):
    (tmp_path / "landing").mkdir()
    with pytest.raises(SourceFileError, match="no entity sub-folders"):
        run_extraction(con, LandingSource(tmp_path / "landing"), ExtractRequest(("orders",)), "r", log=lambda m: None)


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
