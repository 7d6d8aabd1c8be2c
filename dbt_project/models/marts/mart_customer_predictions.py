"""Per-customer BG/NBD + Gamma-Gamma predictions, fitted on every build (DuckDB targets).

A dbt Python model, so the marts that read it (mart_customer_churn,
mart_kpis) build in the same dbt invocation. The modelling is the pure
Python package `models/` (models/predictions.py decides what can be fitted
and why not); it is importable here because the profile's `module_paths`
puts the repository root on the path. Qualifying orders and net revenue come
from int_customer_orders, so the definitions are dbt's, not recomputed.
The fit's parameters and holdout check go to a one-row side table that the
orchestration attaches to the materialization (assets/dbt.py).
"""

import json

from models.predictions import FIT_METADATA_TABLE, FORMER_FIT_METADATA_TABLE, predict_or_skip, published_frame, run_metadata


def model(dbt, session):
    dbt.config(materialized="table")
    orders = dbt.ref("int_customer_orders")
    # In a fixed order: the fit sums floats, and the same orders must give
    # the same predictions whether int_customer_orders was rebuilt or updated.
    transactions = (
        orders.select("customer_id, order_date, cast(net_revenue as double) as amount")
        .order("customer_id, order_date, amount")
        .pl()
    )
    as_of = dbt.ref("int_as_of_date").pl()["as_of_date"][0]
    run = predict_or_skip(transactions, as_of)
    schema, table = FIT_METADATA_TABLE
    session.execute(f"create schema if not exists {schema}")
    session.execute(
        f"create or replace table {schema}.{table} as select cast(? as varchar) as metadata",
        [json.dumps(run_metadata(run), default=str)],
    )
    session.execute("drop table if exists {}.{}".format(*FORMER_FIT_METADATA_TABLE))
    return published_frame(run, as_of)
