"""Shared CDNOW fixtures for the model tests (data copied byte for byte into
tests/fixtures/cdnow, see PROVENANCE.md there; tests never read ../shared)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets.settings import PROJECT_ROOT

CDNOW_DIR = PROJECT_ROOT / "tests" / "fixtures" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_summary() -> pl.DataFrame:
    """Published 2,357-customer calibration summary: ID, x, t_x, T (weeks), zbar."""
    return pl.read_csv(CDNOW_DIR / "cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="session")
def cdnow_frequency_recency() -> pl.DataFrame:
    """Published summary without spend: ID, frequency, recency, T (weeks)."""
    return pl.read_csv(CDNOW_DIR / "cdnow_customers_summary.csv")


@pytest.fixture(scope="session")
def cdnow_transactions() -> pl.DataFrame:
    """CDNOW_sample.txt as customer_id (sample id 1..2357), order_date, amount.

    The file is whitespace-aligned without a header, which Polars' CSV reader
    cannot split on runs of spaces, hence the plain-Python parse (6,919 rows).
    """
    ids, dates, amounts = [], [], []
    with open(CDNOW_DIR / "CDNOW_sample.txt", encoding="ascii") as fh:
        for line in fh:
            _master_id, sample_id, date, _cds, dollars = line.split()
            ids.append(int(sample_id))
            dates.append(dt.datetime.strptime(date, "%Y%m%d").date())
            amounts.append(float(dollars))
    return pl.DataFrame({"customer_id": ids, "order_date": dates, "amount": amounts})
