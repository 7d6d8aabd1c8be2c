"""Predictions refitted on each backtest cutoff's known orders (DuckDB targets).

A dbt Python model calling the repository's `models/backtest.py`: for each of
the latest six month-ends whose following 90 days lie inside the data, the
BG/NBD and Gamma-Gamma models are fitted on the qualifying orders dated on or
before that month-end (of at most `FIT_SAMPLE_CUSTOMERS` customers, a stable
hash sample), and every customer known then is scored. The audience
rules and the outcomes are mart_audience_backtest's SQL.

The orders stay in DuckDB: `backtest_relation` fingerprints each month-end
in SQL, copies the previous build's rows of a month-end whose input did not
change (read from this table before it is replaced), and for a month-end to
refit brings one row per customer known then into Python, one month-end at a
time. A month-end whose known orders changed (a late refund) is refitted on
the nightly models' schedule (`predictions_refit_every_days`,
`predictions_refit` forces every month-end). It returns a DuckDB relation
over a temporary table of this model's connection, which dbt-duckdb writes
on that connection.
"""

import duckdb

from models.backtest import backtest_relation
from models.refit import policy_from_vars


def previous_rows(session, relation):
    """This model's rows from the previous build (a relation), or None on the first build."""
    try:
        rows = session.sql(f"select * from {relation}")
        rows.limit(0).fetchall()
    except duckdb.CatalogException:
        return None
    return rows


def model(dbt, session):
    dbt.config(materialized="table")
    # The vars reach a Python model through its config (_intermediate__models.yml),
    # one literal dbt.config.get call each.
    policy = policy_from_vars({
        "predictions_refit_every_days": dbt.config.get("predictions_refit_every_days"),
        "predictions_refit": dbt.config.get("predictions_refit"),
    })
    orders = dbt.ref("int_customer_orders").select("customer_id, order_date, net_revenue as amount")
    as_of = dbt.ref("int_as_of_date").pl()["as_of_date"][0]
    return backtest_relation(session, orders, as_of, previous=previous_rows(session, dbt.this),
                             refit_every_days=policy.every_days, force=policy.force)
