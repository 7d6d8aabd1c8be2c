"""The shop's currency and time zone: resolved by the extraction's source, read by the other areas from the build file."""

from datetime import date, datetime

import polars as pl
import pytest

from assets.extraction.builders import build_source
from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.sources import write_landing
from assets.resources import ShopSourceResource
from assets.shop_profile import (
    SHOP_PROFILE,
    ShopProfile,
    history_end,
    record_shop_profile,
    recorded_shop_profile,
    shop_currency,
    shop_timezone,
)


def test_nothing_recorded_and_nothing_set_fails_naming_the_table_and_the_variable(con):
    assert recorded_shop_profile(con) is None and history_end(con) is None
    with pytest.raises(ValueError, match=rf"^build.duckdb: the shop's currency is unknown: .*{SHOP_PROFILE}.*RETENTION_SHOP_CURRENCY"):
        shop_currency(con, ShopSourceResource(), "build.duckdb")
    with pytest.raises(ValueError, match="time zone is unknown: .*RETENTION_SHOP_TIMEZONE is not set"):
        shop_timezone(con, ShopSourceResource())


def test_the_record_is_replaced_and_the_settings_win_over_it(con):
    record_shop_profile(con, ShopProfile("landing", "EUR", "Europe/Paris"))
    record_shop_profile(con, ShopProfile("shopify", "GBP", "Europe/London", datetime(2025, 6, 30, 23, 59)))
    assert con.execute(f"SELECT count(*) FROM {SHOP_PROFILE}").fetchone()[0] == 1
    shop = ShopSourceResource(kind="shopify_csv")
    assert (shop_currency(con, shop), shop_timezone(con, shop)) == ("GBP", "Europe/London")
    assert history_end(con) == datetime(2025, 6, 30, 23, 59)
    explicit = ShopSourceResource(kind="shopify_csv", currency="usd", timezone="Asia/Tokyo")
    assert (shop_currency(con, explicit), shop_timezone(con, explicit)) == ("USD", "Asia/Tokyo")


def test_the_extraction_records_what_the_sample_shop_resolved(con):
    shop = ShopSourceResource(sample_orders=200, sample_end_date="2025-03-31")
    source = build_source(shop)
    run_extraction(con, source, ExtractRequest(entities=("customers",), until=datetime(2025, 3, 31)), "r1",
                   log=lambda m: None)
    recorded = recorded_shop_profile(con)
    assert recorded == ShopProfile("sample_shop", source.currency, source.timezone, source.history_end())
    assert recorded.timezone == "America/New_York" and recorded.history_end.date() == date(2025, 3, 31)


def test_the_extraction_records_the_settings_override_and_a_landing_folder_has_no_history_end(con, tmp_path):
    write_landing({"customers": pl.DataFrame({"customer_id": ["C1"], "created_at": ["2025-01-01T00:00:00Z"],
                                              "updated_at": ["2025-01-01T00:00:00Z"]})}, tmp_path / "landing", "csv")
    shop = ShopSourceResource(kind="landing", landing_dir=str(tmp_path / "landing"), currency="chf",
                              timezone="Europe/Zurich")
    run_extraction(con, build_source(shop), ExtractRequest(entities=("customers",)), "r1", log=lambda m: None)
    assert recorded_shop_profile(con) == ShopProfile("landing", "CHF", "Europe/Zurich", None)
