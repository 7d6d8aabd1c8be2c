"""When to refit BG/NBD and Gamma-Gamma, and the record each fit leaves behind.

Fitting both models (and the holdout fit that checks them) costs seconds to
minutes on a large shop; scoring every customer with known parameters costs
well under a second. So a night refits only when the stored fit is stale:

* there is no usable stored fit (first night, or the last attempt could not
  fit the models: a shop with too little data tries again every night);
* the stored fit was made by another version of this code (`FIT_FORMAT`);
* the as-of date is before the stored fit's (a rebuild of the past must
  not score with parameters that saw later orders);
* `every_days` days of data have passed since the stored fit's as-of date
  (as-of days, not wall-clock days: a re-run of the same night scores);
* the customer base grew by more than `growth` since the fit;
* the stored model's prediction of the purchases made since its fit is off
  by more than `drift` (relative), once the window is a week or more
  (`MIN_DRIFT_DAYS`) and the prediction large enough (`MIN_DRIFT_PURCHASES`)
  for the difference to be more than noise;
* the run asked for it (`force`).

`refit_decision` is the one place that decides, for both engines (the DuckDB
dbt Python model and the Spark step reach it through `models.predictions.predictions_night`).
`read_last_fit` / `append_fit` keep the fit history in a table of the build
file (`FIT_HISTORY_TABLE`) that no dbt model owns, so no dbt build, full
refresh included, drops it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

# Bump when the stored record or the meaning of the parameters changes: a
# stored fit of another format is refitted, never misread.
FIT_FORMAT = 1

# Below this many predicted purchases since the fit, a relative miss is
# Poisson noise (sd ~ 1/sqrt(n): 7% at 200), not drift.
MIN_DRIFT_PURCHASES = 200.0
# Drift is judged over whole weeks only: the model predicts an average rate,
# and a window of a few days (a weekend, a holiday, the last day's partial
# orders) misses it by far more than noise without the model being wrong.
# With the default weekly refit the check never runs; it matters when
# refits are rarer (RETENTION_PREDICTIONS_REFIT_DAYS > 7).
MIN_DRIFT_DAYS = 7

# (schema, table) of the fit history: one row per fit, never rebuilt by dbt.
# Not an analyst schema: the run's own metadata table says when the models
# were last fitted.
FIT_HISTORY_TABLE = ("model_state", "prediction_fits")


@dataclass(frozen=True)
class RefitPolicy:
    """When a stored fit is stale (see the module docstring)."""

    every_days: int = 7
    growth: float = 0.10
    drift: float = 0.20
    force: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.every_days, int) and self.every_days >= 1):
            raise ValueError(f"refit every_days must be a whole number of days >= 1, got {self.every_days!r}")
        for name in ("growth", "drift"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"refit {name} must be a positive fraction (0.1 = 10%), got {value!r}")


# The dbt vars (and the Python model's config keys) that carry the policy.
POLICY_VARS = {
    "predictions_refit_every_days": "every_days",
    "predictions_refit_growth": "growth",
    "predictions_refit_drift": "drift",
    "predictions_refit": "force",
}


def policy_from_vars(values: dict[str, Any]) -> RefitPolicy:
    """The policy from the dbt vars of `POLICY_VARS` (numbers, or the strings a rendered config gives).

    A var that is absent keeps the default; a bad one is one error naming it.
    """
    kwargs: dict[str, Any] = {}
    for var, name in POLICY_VARS.items():
        raw = values.get(var)
        if raw is None or raw == "":
            continue
        text = str(raw).strip().lower()
        try:
            if name == "force":
                if text not in ("true", "false"):
                    raise ValueError
                kwargs[name] = text == "true"
            elif name == "every_days":
                kwargs[name] = int(text)
            else:
                kwargs[name] = float(text)
        except ValueError:
            raise ValueError(f"dbt var {var}={raw!r}: expected "
                             + ("true or false" if name == "force" else "a number")) from None
    try:
        return RefitPolicy(**kwargs)
    except ValueError as exc:
        raise ValueError(f"dbt vars {', '.join(POLICY_VARS)}: {exc}") from None


@dataclass(frozen=True)
class StoredFit:
    """The newest row of the fit history: what a scoring night needs to decide and to score."""

    fit_id: int
    fitted_at: str  # ISO timestamp, UTC
    as_of_date: date
    customers: int
    fitted: bool  # BG/NBD fitted (False: the attempt published null predictions)
    fit_format: int
    record: dict[str, Any]  # models (parameters), metadata of the fit


@dataclass(frozen=True)
class Drift:
    """The stored model's prediction of repeat purchases since its fit, against what customers did."""

    predicted: float
    actual: float

    @property
    def relative_error(self) -> float:
        return (self.predicted - self.actual) / max(self.actual, 1.0)


@dataclass(frozen=True)
class RefitDecision:
    due: bool
    reason: str


def refit_decision(policy: RefitPolicy, last: StoredFit | None, as_of: date, customers: int,
                   drift: Drift | None = None) -> RefitDecision:
    """Refit tonight, or score with `last`; and why (pure).

    `drift` None means not measured: the caller measures it only when
    nothing else made the refit due.
    """
    if policy.force:
        return RefitDecision(True, "refit requested for this run")
    if last is None:
        return RefitDecision(True, "no stored fit")
    if last.fit_format != FIT_FORMAT:
        return RefitDecision(True, f"stored fit has format {last.fit_format}, this code writes {FIT_FORMAT}")
    if not last.fitted:
        return RefitDecision(True, "the last attempt could not fit the models; trying again")
    if as_of < last.as_of_date:
        return RefitDecision(True, f"as-of date {as_of} is before the stored fit's {last.as_of_date}")
    age = (as_of - last.as_of_date).days
    if age >= policy.every_days:
        return RefitDecision(True, f"last fitted {age} days of data ago (as of {last.as_of_date}); "
                                   f"refit every {policy.every_days}")
    growth = (customers - last.customers) / max(last.customers, 1)
    if growth > policy.growth:
        return RefitDecision(True, f"customer base grew {growth:.1%} since the fit ({last.customers} -> {customers}; "
                                   f"threshold {policy.growth:.0%})")
    since = f"fitted as of {last.as_of_date} ({age} days of data ago), customers {growth:+.1%}"
    if not drift_window_open(last, as_of):
        return RefitDecision(False, f"not due: {since}; drift judged from {MIN_DRIFT_DAYS} days after the fit")
    if drift is None:
        return RefitDecision(False, f"not due: {since}")
    if drift.predicted < MIN_DRIFT_PURCHASES:
        return RefitDecision(False, f"not due: {since}; drift not judged "
                                    f"({drift.predicted:.0f} purchases predicted since the fit, "
                                    f"fewer than {MIN_DRIFT_PURCHASES:.0f})")
    error = drift.relative_error
    if abs(error) > policy.drift:
        return RefitDecision(True, f"holdout error drifted: {drift.predicted:.0f} purchases predicted since the fit, "
                                   f"{drift.actual:.0f} made ({error:+.1%}; threshold {policy.drift:.0%})")
    return RefitDecision(False, f"not due: {since}; {drift.predicted:.0f} purchases predicted since the fit, "
                                f"{drift.actual:.0f} made ({error:+.1%})")


def drift_window_open(last: StoredFit | None, as_of: date) -> bool:
    """Whether enough days passed since `last` to judge drift (so: whether to measure it at all)."""
    return last is not None and (as_of - last.as_of_date).days >= MIN_DRIFT_DAYS


def _ident(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'


def read_last_fit(con) -> StoredFit | None:
    """The newest row of `FIT_HISTORY_TABLE` in `con`'s database (a DuckDB connection), or None."""
    schema, table = FIT_HISTORY_TABLE
    # fetchall, not fetchone: a result left unfinished blocks the caller's relations on `con`.
    exists = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?", [schema, table]
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(
        f"select fit_id, cast(fitted_at as varchar), as_of_date, customers, fitted, fit_format, record "
        f"from {_ident(schema, table)} order by fit_id desc limit 1"
    ).fetchall()
    if not rows:
        return None
    row = rows[0]
    fit_id, fitted_at, as_of_date, customers, fitted, fit_format, record = row
    return StoredFit(fit_id, fitted_at, as_of_date, customers, fitted, fit_format, json.loads(record))


def append_fit(con, fitted_at: str, as_of: date, customers: int, fitted: bool, reason: str,
               record: dict[str, Any]) -> int:
    """Add one fit to `FIT_HISTORY_TABLE` (created on first use); returns its fit_id.

    Typed columns for what the decision and a reader need (data window, when,
    why, holdout error); `record` (JSON) for the parameters and the full metadata.
    """
    schema, table = FIT_HISTORY_TABLE
    con.execute(f'create schema if not exists "{schema}"')
    con.execute(
        f"create table if not exists {_ident(schema, table)} ("
        "fit_id bigint primary key, fitted_at timestamp not null, as_of_date date not null, "
        "first_order_date date, customers bigint not null, fitted boolean not null, refit_reason varchar not null, "
        "holdout_mae_bucket double, holdout_relative_error double, fit_seconds double, "
        "fit_format integer not null, record varchar not null)"
    )
    meta = record.get("meta", {})
    fit_id = con.execute(f"select coalesce(max(fit_id), 0) + 1 from {_ident(schema, table)}").fetchall()[0][0]
    con.execute(
        f"insert into {_ident(schema, table)} values (?, cast(? as timestamp), ?, cast(? as date), ?, ?, ?, ?, ?, ?, ?, ?)",
        [fit_id, fitted_at, as_of, meta.get("first_order_date"), customers, fitted, reason,
         meta.get("holdout_mae_bucket"), holdout_relative_error(meta), meta.get("fit_seconds"),
         FIT_FORMAT, json.dumps(record, default=str)],
    )
    return fit_id


def holdout_relative_error(meta: dict[str, Any]) -> float | None:
    """(predicted - actual) / actual holdout purchases of a fit's metadata; None without a holdout check."""
    predicted, actual = meta.get("holdout_predicted_total"), meta.get("holdout_actual_total")
    if predicted is None or actual is None:
        return None
    return Drift(predicted, actual).relative_error
