"""Per-customer BG/NBD + Gamma-Gamma predictions, fitted on every build (DuckDB targets).

A dbt Python model, so the marts that read it (mart_customer_churn,
mart_kpis) build in the same dbt invocation. The modelling is the pure
Python package `models/` (models/predictions.py decides what can be fitted
and why not); it is importable here because the profile's `module_paths`
puts the repository root on the path. Qualifying orders and net revenue come
from int_customer_orders, so the definitions are dbt's, not recomputed.
"""

from models.predictions import predict_or_skip, published_frame


def model(dbt, session):
    dbt.config(materialized="table")
    orders = dbt.ref("int_customer_orders")
    transactions = orders.select("customer_id, order_date, cast(net_revenue as double) as amount").pl()
    as_of = dbt.ref("int_as_of_date").pl()["as_of_date"][0]
    return published_frame(predict_or_skip(transactions, as_of), as_of)
