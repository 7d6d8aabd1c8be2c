"""The raw suites' stats frame and as-of date count shop-local days without converting every row.

Checked against the plain per-row conversion on a small DuckDB table whose
records fall around local midnight and a daylight-saving change, in zones
with whole-hour, half-hour and 45-minute offsets.
"""

from datetime import date

import duckdb
import pytest

from assets.quality.days import shop_time
from assets.quality.engine import _params
from assets.quality.frame_sql import stats_sql
from assets.quality.suites import raw_as_of_sql

ZONES = ["America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC"]


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA raw")
    # every 7 minutes over days that include New York's autumn change (2025-11-02) and a run of nulls
    con.execute("""
        CREATE TABLE raw.orders AS
        SELECT CASE WHEN i % 97 = 0 THEN NULL
                    ELSE TIMESTAMP '2025-10-30 00:03:00' + i * INTERVAL 7 MINUTE END AS created_at
        FROM range(2000) t(i)
    """)
    return con


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("validated_from", [None, date(2025, 11, 2)])
def test_stats_by_quarter_hour_equal_the_per_row_conversion(con, zone, validated_from):
    values = {"as_of": date(2025, 11, 9), "previous_row_count": 1500, "validated_from": validated_from}
    per_row = stats_sql("raw.orders", shop_time("created_at", zone), nightly_only=True)
    by_slot = stats_sql("raw.orders", "created_at", nightly_only=True, timezone=zone)
    expected = con.execute(per_row, _params(per_row, values)).fetchall()
    assert con.execute(by_slot, _params(by_slot, values)).fetchall() == expected
    assert expected[0][0] == 2000


def test_stats_of_an_empty_table_count_zero(con):
    con.execute("DELETE FROM raw.orders")
    sql = stats_sql("raw.orders", "created_at", nightly_only=True, timezone="Asia/Kolkata")
    row = con.execute(sql, _params(sql, {"as_of": None, "previous_row_count": 10, "validated_from": None})).fetchone()
    assert row[:3] == (0, 10, 0.0)


@pytest.mark.parametrize("zone", [*ZONES, "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_the_as_of_date_is_the_newest_local_day(con, zone):
    sql = raw_as_of_sql(zone)
    expected = con.execute(f"SELECT max({shop_time('created_at', zone)})::date FROM raw.orders").fetchone()[0]
    assert con.execute(sql, _params(sql, {"as_of_setting": None})).fetchone()[0] == expected
    assert con.execute(sql, _params(sql, {"as_of_setting": date(2025, 1, 5)})).fetchone()[0] == date(2025, 1, 5)
