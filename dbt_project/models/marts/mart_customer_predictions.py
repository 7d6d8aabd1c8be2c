"""Per-customer BG/NBD + Gamma-Gamma predictions: refitted when due, scored every build (DuckDB targets).

A dbt Python model, so the marts that read it (mart_customer_churn,
mart_kpis) build in the same dbt invocation. The modelling is the pure
Python package `models/` (models/refit.py decides whether tonight refits,
models/predictions.py fits or scores); it is importable here because the
profile's `module_paths` puts the repository root on the path. Qualifying
orders and net revenue come from int_customer_orders, so the definitions
are dbt's, not recomputed.
A refit appends its parameters, data window and holdout check to the fit
history (models.refit.FIT_HISTORY_TABLE), a table no dbt model owns, so
every build, full refresh included, finds the last fit there. The night's
metadata (which fit scored, why it was or was not refitted) goes to a
one-row side table that the orchestration attaches to the materialization
(assets/dbt.py).
"""

import json

from models.predictions import FIT_METADATA_TABLE, FORMER_FIT_METADATA_TABLE, nightly_predictions, published_frame, run_metadata
from models.refit import append_fit, policy_from_vars, read_last_fit


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
    # The vars reach a Python model through its config (_marts__predictions.yml).
    # dbt hands a Python model only the config keys it finds as literal
    # dbt.config.get("...") calls, so each is spelled out.
    policy = policy_from_vars({
        "predictions_refit_every_days": dbt.config.get("predictions_refit_every_days"),
        "predictions_refit_growth": dbt.config.get("predictions_refit_growth"),
        "predictions_refit_drift": dbt.config.get("predictions_refit_drift"),
        "predictions_refit": dbt.config.get("predictions_refit"),
    })
    night = nightly_predictions(transactions, as_of, read_last_fit(session), policy)
    run = night.run
    if night.fit_record is not None:
        run.meta["fit_id"] = append_fit(
            session, run.meta["last_fitted_at"], as_of, run.scores.height, run.skipped is None,
            night.decision.reason, night.fit_record,
        )
    schema, table = FIT_METADATA_TABLE
    session.execute(f"create schema if not exists {schema}")
    session.execute(
        f"create or replace table {schema}.{table} as select cast(? as varchar) as metadata",
        [json.dumps(run_metadata(run), default=str)],
    )
    session.execute("drop table if exists {}.{}".format(*FORMER_FIT_METADATA_TABLE))
    return published_frame(run, as_of)
