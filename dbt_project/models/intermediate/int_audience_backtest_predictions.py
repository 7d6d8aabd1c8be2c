"""Predictions refitted on each backtest cutoff's known orders (DuckDB targets).

A dbt Python model calling the repository's `models/backtest.py`: for each of
the latest six month-ends whose following 90 days lie inside the data, the
BG/NBD and Gamma-Gamma models are fitted on the qualifying orders dated on or
before that month-end, and every customer known then is scored. The audience
rules and the outcomes are mart_audience_backtest's SQL. The previous
build's rows are read before they are replaced: a month-end whose input did
not change is copied rather than refitted (models/backtest.py).
"""

import duckdb

from models.backtest import backtest_predictions


def previous_rows(session, relation):
    """This model's rows from the previous build, or None on the first build."""
    try:
        return session.sql(f"select * from {relation}").pl()
    except duckdb.CatalogException:
        return None


def model(dbt, session):
    dbt.config(materialized="table")
    orders = dbt.ref("int_customer_orders")
    as_of = dbt.ref("int_as_of_date").pl()["as_of_date"][0]
    # In a fixed order: the fit sums floats (see mart_customer_predictions).
    transactions = (
        orders.select("customer_id, order_date, cast(net_revenue as double) as amount")
        .order("customer_id, order_date, amount")
        .pl()
    )
    return backtest_predictions(transactions, as_of, previous=previous_rows(session, dbt.this))
