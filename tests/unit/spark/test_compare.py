"""The parity comparison catches what it must and tolerates only float rounding."""

from datetime import date
from decimal import Decimal

import pytest

from tests.support.spark_compare import table_differences

COLUMNS = ["month", "customers", "net_revenue", "rate"]
KEY = ["month"]
ROWS = [
    (date(2025, 1, 1), 10, Decimal("100.10"), 0.5),
    (date(2025, 2, 1), 12, Decimal("90.00"), 1 / 3),
]


def test_identical_tables_have_no_differences():
    assert table_differences(COLUMNS, KEY, ROWS, list(reversed(ROWS))) == []


def test_a_rate_rounded_in_the_last_bits_still_matches():
    nudged = [ROWS[0], (*ROWS[1][:3], ROWS[1][3] * (1 + 1e-14))]
    assert table_differences(COLUMNS, KEY, ROWS, nudged) == []


def test_a_rate_off_by_more_than_the_tolerance_is_reported():
    off = [ROWS[0], (*ROWS[1][:3], ROWS[1][3] + 1e-7)]
    assert [d.split(" rate:")[0] for d in table_differences(COLUMNS, KEY, ROWS, off)] == [
        "{'month': datetime.date(2025, 2, 1)}"
    ]


def test_money_off_by_one_cent_is_reported():
    off = [(*ROWS[0][:2], Decimal("100.11"), ROWS[0][3]), ROWS[1]]
    (difference,) = table_differences(COLUMNS, KEY, ROWS, off)
    assert "net_revenue" in difference and "100.11" in difference


def test_a_null_against_a_value_is_reported():
    off = [(*ROWS[0][:3], None), ROWS[1]]
    assert len(table_differences(COLUMNS, KEY, ROWS, off)) == 1


def test_rows_on_one_side_only_and_repeated_keys_are_reported():
    differences = table_differences(COLUMNS, KEY, ROWS, [ROWS[0], ROWS[0]])
    assert any(d.startswith("right: key") for d in differences)
    assert any(d.startswith("left only:") for d in differences)


def test_an_unknown_key_column_is_an_error():
    with pytest.raises(ValueError, match="customer_id"):
        table_differences(COLUMNS, ["customer_id"], ROWS, ROWS)
