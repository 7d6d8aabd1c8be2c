"""scripts/cdnow_to_landing.py: the CDNOW master file as an orders-only landing folder."""

from __future__ import annotations


import polars as pl
import pytest

from scripts.cdnow_to_landing import cdnow_orders, main, read_cdnow
from assets.settings import PROJECT_ROOT

MASTER = PROJECT_ROOT / "tests" / "fixtures" / "cdnow" / "CDNOW_master.txt"

SMALL = """ customer_id  date number_of_cds  dollar_value
 00001 19970101  1   11.77
 00002 19970112  1   12.00
 00002 19970112  5   77.00
 00003 19970102  2    0.00
"""


def test_each_line_becomes_one_order_with_a_stable_unique_id(tmp_path):
    (tmp_path / "m.txt").write_text(SMALL)
    orders = cdnow_orders(read_cdnow(tmp_path / "m.txt"))
    assert orders.columns == ["order_id", "customer_id", "created_at", "subtotal"]
    assert orders["order_id"].to_list() == ["00001-19970101-1", "00002-19970112-2", "00002-19970112-3", "00003-19970102-4"]
    assert orders["customer_id"].to_list() == ["00001", "00002", "00002", "00003"]  # zero padding kept
    assert orders["created_at"].to_list()[:2] == ["1997-01-01 12:00:00", "1997-01-12 12:00:00"]
    assert orders["subtotal"].to_list() == ["11.77", "12.00", "77.00", "0.00"]


def test_master_file_converts_every_line_once(tmp_path):
    assert main([str(MASTER), str(tmp_path / "landing")]) == 0
    orders = pl.read_csv(tmp_path / "landing" / "orders" / "orders.csv", infer_schema=False)
    lines = [ln.split() for ln in MASTER.read_text().splitlines()[1:] if ln.strip()]
    assert orders.height == len(lines) and orders["order_id"].n_unique() == len(lines)
    assert orders["customer_id"].n_unique() == len({ln[0] for ln in lines}) == 23_570
    total = orders["subtotal"].cast(pl.Decimal(18, 2)).sum()
    assert total == sum(pl.Series([ln[3] for ln in lines]).cast(pl.Decimal(18, 2)))
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == ["orders"]


def test_a_file_that_is_not_cdnow_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "orders.txt"
    bad.write_text("order_id,total\n1,2\n")
    with pytest.raises(ValueError, match=r"orders\.txt: header is"):
        read_cdnow(bad)
    short = tmp_path / "short.txt"
    short.write_text(SMALL + " 00004 19970103  1\n")
    with pytest.raises(ValueError, match=r"short\.txt: line 6 has 3 fields, expected 4"):
        read_cdnow(short)


def test_master_fixture_is_the_file_described_in_provenance():
    import hashlib
    import re

    provenance = (MASTER.parent / "PROVENANCE.md").read_text()
    row = re.search(r"^\| CDNOW_master\.txt \|.*\| ([0-9a-f]{32}) \|$", provenance, re.M)
    assert row, f"{MASTER.parent / 'PROVENANCE.md'}: no table row with the md5 of CDNOW_master.txt"
    digest = hashlib.md5(MASTER.read_bytes()).hexdigest()
    assert digest == row.group(1), f"{MASTER}: md5 {digest}, expected {row.group(1)} as in PROVENANCE.md"
