"""Run state shared by every area: what decides a build, and what the last publish was built from.

The extraction skips a night whose `raw` and build settings are those of the
last published build (`unchanged_since_publish`); the publish step records
them (`record_published_state`); the dbt step turns the same settings into
dbt's `--vars` (`dbt_vars`); the extraction and the quality checks read a
run's `since`/`until` bounds the same way (`parse_bound`). Each lives here,
in the shared core, so no area imports another for it.

No `from __future__ import annotations` here: Dagster resolves the dbt asset
function's `config: DbtBuildConfig` annotation at definition time.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import dagster as dg

from assets.extraction.contract import ENTITIES, RAW_SCHEMA, create_raw_schema
from assets.resources import ShopSourceResource
from assets.settings import PROJECT_ROOT, Settings
from assets.warehouse import relation_exists


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_bound(value: str | None, end_of_day: bool) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime.combine(d, time.max.replace(microsecond=999999) if end_of_day else time.min)
        parsed = datetime.fromisoformat(value)
        # raw holds naive UTC: an explicit offset is converted, not dropped.
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        return parsed
    except ValueError as exc:
        raise ValueError(f"cannot read {value!r} as a date (YYYY-MM-DD) or ISO date-time") from exc


DBT_OP_PREFIX = "retention_dbt"


# The code that turns `raw` into published marts: a deploy that changes any of
# it must rebuild on the next night even when no new data arrived.
CODE_GLOBS = (
    "assets/**/*.py",
    "models/**/*.py",
    "dbt_project/dbt_project.yml",
    "dbt_project/models/**/*",
    "dbt_project/macros/**/*",
    "dbt_project/tests/**/*",
)


def code_fingerprint(root: Path = PROJECT_ROOT, globs: Iterable[str] = CODE_GLOBS) -> str:
    """A hash of the pipeline's code files (relative path and bytes), stable across machines."""
    digest = hashlib.sha256()
    files = sorted({p for g in globs for p in root.glob(g) if p.is_file() and "__pycache__" not in p.parts})
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_settings(
    shop_source: ShopSourceResource,
    run_config: Mapping | None,
    shop_timezone: str,
    engine: str = "duckdb",
) -> dict:
    """What, besides `raw`, decides the marts of a run: dbt's vars, retention.yml, the shop's settings, the code.

    The dbt vars come from the shop source and the dbt step's run config
    (`ops.retention_dbt*.config`), exactly as the dbt step computes them, so
    a moving as-of date (set per run or in the settings) means a rebuild.
    `shop_timezone`: the resolved one (the extraction's source, or the build
    file's record of it: assets/shop_profile.py).
    """
    dbt_config: dict = {}
    for op, value in ((run_config or {}).get("ops") or {}).items():
        if op.startswith(DBT_OP_PREFIX):
            dbt_config.update((value or {}).get("config") or {})
    config = DbtBuildConfig(**dbt_config)
    return {
        "dbt_vars": dbt_vars(shop_source, shop_timezone, config),
        "dbt_full_refresh": config.full_refresh,
        "user_config": shop_source.user_config(),
        # Any other setting of the shop (windows, names, folders) counts too.
        "shop_source": shop_source.model_dump(),
        "code": code_fingerprint(),
        # The engine that built the marts (RETENTION_ENGINE): switching it rebuilds.
        "engine": engine,
    }


class DbtBuildConfig(dg.Config):
    """Run-time switches of the dbt build."""

    full_refresh: bool = False
    # Refit the predictions tonight whatever the stored fit (models/refit.py).
    refit_predictions: bool = False
    # YYYY-MM-DD; overrides RETENTION_AS_OF_DATE for this run. None: settings, else newest order.
    as_of_date: str | None = None


def dbt_vars(rules: Settings | ShopSourceResource, shop_timezone: str | None, config: DbtBuildConfig,
             audiences: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `--vars` of a dbt build, from the shop's rules, its resolved time zone and the run config.

    `audiences`: the audience thresholds the shop's retention.yml sets
    (assets/audiences.py `audience_vars`); the others keep dbt_project.yml's defaults.

    `rules` carries as_of_date, active_window_days and churn_after_days: the
    `shop_source` resource at run time, Settings in tests. `shop_timezone`
    None means the source did not say: dbt's own default, UTC. The run
    config's as-of date wins over the rules' one; null lets dbt use the date
    of the newest order.
    """
    as_of: date | None = rules.as_of() if isinstance(rules, ShopSourceResource) else rules.as_of_date
    if config.as_of_date:
        try:
            as_of = date.fromisoformat(config.as_of_date)
        except ValueError as exc:
            raise ValueError(f"as_of_date must be YYYY-MM-DD, got {config.as_of_date!r}") from exc
    for name in ("active_window_days", "churn_after_days"):
        if getattr(rules, name) <= 0:
            raise ValueError(f"{name} must be a positive number of days, got {getattr(rules, name)}")
    return {
        "as_of_date": as_of.isoformat() if as_of else None,
        "shop_timezone": shop_timezone or "UTC",
        "active_window_days": rules.active_window_days,
        "churn_after_days": rules.churn_after_days,
        "predictions_refit_every_days": rules.predictions_refit_days,
        "predictions_refit_growth": rules.predictions_refit_growth,
        "predictions_refit_drift": rules.predictions_refit_drift,
        "predictions_refit": config.refit_predictions,
        **(audiences or {}),
    }


# The build a run published: what `raw` held and the settings the marts were
# built with. A later run whose extraction loads nothing and whose settings
# are the same would rebuild identical marts, so it can stop after extraction.
PUBLISHED_STATE = f"{RAW_SCHEMA}._published_state"
PUBLISHED_STATE_DDL = f"""
CREATE TABLE IF NOT EXISTS {PUBLISHED_STATE} (
  run_id VARCHAR NOT NULL,
  published_at TIMESTAMP NOT NULL,
  raw_state VARCHAR NOT NULL,
  settings VARCHAR NOT NULL
)
"""


def raw_state(con) -> dict[str, list]:
    """Per raw table (entities and the quarantine): [rows, newest load time as ISO text].

    Every upsert stamps the rows it writes with the load time (an update is
    a delete plus an insert), and quarantining adds rows, so any change a
    run makes to `raw` changes this state.
    """
    state: dict[str, list] = {}
    for table, stamp in [*((name, "_loaded_at") for name in ENTITIES), ("quarantine", "quarantined_at")]:
        rows, newest = con.execute(f"SELECT count(*), max({stamp}) FROM {RAW_SCHEMA}.{table}").fetchall()[0]
        state[table] = [int(rows), newest.isoformat() if newest else None]
    return state


def _canonical(value: Mapping) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def record_published_state(con, settings: Mapping, run_id: str) -> None:
    """Remember `raw`'s state and the build settings of the build just published (one row)."""
    create_raw_schema(con)
    con.execute(PUBLISHED_STATE_DDL)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {PUBLISHED_STATE}")
        con.execute(
            f"INSERT INTO {PUBLISHED_STATE} VALUES (?, ?, ?, ?)",
            [run_id, _utcnow(), _canonical(raw_state(con)), _canonical(settings)],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def unchanged_since_publish(con, settings: Mapping) -> datetime | None:
    """When the last published build was made from exactly this `raw` and these settings; else None.

    None also when nothing was published yet. A run that changed `raw` and
    then failed (dbt, a blocking check) did not publish, so the state still
    differs from the recorded one and the next run rebuilds.
    """
    if not relation_exists(con, RAW_SCHEMA, "_published_state"):
        return None
    rows = con.execute(f"SELECT published_at, raw_state, settings FROM {PUBLISHED_STATE}").fetchall()
    if len(rows) != 1:
        return None
    published_at, state, recorded = rows[0]
    if state != _canonical(raw_state(con)) or recorded != _canonical(settings):
        return None
    return published_at
