from datetime import date

import pytest

from assets.extraction.contract import create_raw_schema
from assets.extraction.sample_shop import SampleShopConfig
from assets.warehouse import connect



@pytest.fixture
def small_cfg():
    return SampleShopConfig(orders=3_000, seed=7, end_date=date(2025, 6, 30), days=365)


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "wh.duckdb")
    create_raw_schema(c)
    yield c
    c.close()
