"""Per-customer BG/NBD + Gamma-Gamma predictions: refitted when due, scored every build (DuckDB targets).

A dbt Python model, so the marts that read it (mart_customer_churn,
mart_kpis) build in the same dbt invocation. The modelling is the pure
Python package `models/`, reached the one way every engine reaches it:
`predictions_night` (models/refit.py decides whether tonight refits,
models/predictions.py fits or scores) and `store_night`; it is importable
here because the profile's `module_paths` puts the repository root on the
path. Qualifying orders and net revenue come from int_customer_orders, so
the definitions are dbt's, not recomputed.
A refit appends its parameters, data window and holdout check to the fit
history (models.refit.FIT_HISTORY_TABLE), a table no dbt model owns, so
every build, full refresh included, finds the last fit there. The night's
metadata (which fit scored, why it was or was not refitted) goes to a
one-row side table that the orchestration attaches to the materialization
(assets/dbt/metadata.py).
"""

from models.predictions import predictions_night, store_night
from models.refit import policy_from_vars, read_last_fit


def model(dbt, session):
    dbt.config(materialized="table")
    # The vars reach a Python model through its config (_marts__predictions.yml).
    # dbt hands a Python model only the config keys it finds as literal
    # dbt.config.get("...") calls, so each is spelled out.
    policy = policy_from_vars({
        "predictions_refit_every_days": dbt.config.get("predictions_refit_every_days"),
        "predictions_refit_growth": dbt.config.get("predictions_refit_growth"),
        "predictions_refit_drift": dbt.config.get("predictions_refit_drift"),
        "predictions_refit": dbt.config.get("predictions_refit"),
    })
    night = predictions_night(dbt.ref("int_customer_orders"), dbt.ref("int_as_of_date"), read_last_fit(session), policy)
    store_night(session, night)
    return night.frame
