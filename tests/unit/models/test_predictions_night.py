"""The one way in to the predictions on every engine: `predictions_night` then `store_night`."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

from models.predictions import FIT_METADATA_TABLE, FORMER_FIT_METADATA_TABLE, predictions_night, store_night
from models.refit import FIT_HISTORY_TABLE, RefitPolicy, read_last_fit


@pytest.fixture(scope="module")
def orders(cdnow_transactions) -> pl.DataFrame:
    # int_customer_orders' columns, net revenue as dbt types it, rows in no useful order.
    return (cdnow_transactions.select(pl.col("customer_id").cast(pl.String), "order_date",
                                      pl.col("amount").cast(pl.Decimal(18, 2)).alias("net_revenue"))
            .sort("net_revenue", descending=True))


def _night(con, orders: pl.DataFrame, as_of: dt.date):
    con.register("orders_frame", orders.filter(pl.col("order_date") <= as_of))
    return predictions_night(con.table("orders_frame"), con.sql(f"select date '{as_of}' as as_of_date"),
                             read_last_fit(con), RefitPolicy())


def _count(con, table: tuple[str, str]) -> int:
    return con.execute('select count(*) from "{}"."{}"'.format(*table)).fetchall()[0][0]


def test_a_first_night_refits_and_stores_the_fit_and_the_next_scores_with_it(orders):
    con = duckdb.connect()
    end = orders["order_date"].max()
    con.execute('create schema intermediate; create table "{}"."{}" as select 1 as x'.format(*FORMER_FIT_METADATA_TABLE))
    first = _night(con, orders, end - dt.timedelta(days=2))
    stored = store_night(con, first)
    assert first.fit_record is not None and stored["refit"] is True and stored["fit_id"] == 1
    assert _count(con, FIT_HISTORY_TABLE) == 1
    assert first.frame.height == first.run.scores.height > 0 and first.frame["as_of_date"].unique().to_list() == [
        end - dt.timedelta(days=2)]

    second = _night(con, orders, end)
    metadata = store_night(con, second)
    assert second.fit_record is None and metadata["refit"] is False and metadata["fit_id"] == 1
    assert _count(con, FIT_HISTORY_TABLE) == 1, "a scoring night stored a fit"
    written = json.loads(con.execute('select metadata from "{}"."{}"'.format(*FIT_METADATA_TABLE)).fetchone()[0])
    assert written == json.loads(json.dumps(metadata, default=str))
    assert not con.execute("select count(*) from duckdb_tables() where table_name = ?",
                           [FORMER_FIT_METADATA_TABLE[1]]).fetchone()[0], "the table's former name was kept"


def test_no_as_of_date_publishes_nothing_and_stores_no_fit():
    con = duckdb.connect()
    empty = pl.DataFrame(schema={"customer_id": pl.String, "order_date": pl.Date, "net_revenue": pl.Float64})
    con.register("orders_frame", empty)
    night = predictions_night(con.table("orders_frame"), con.sql("select cast(null as date) as as_of_date where false"),
                              None, RefitPolicy())
    metadata = store_night(con, night)
    assert night.frame.height == 0 and metadata["refit"] is False
    assert not con.execute("select count(*) from duckdb_tables() where table_name = ?",
                           [FIT_HISTORY_TABLE[1]]).fetchone()[0]
