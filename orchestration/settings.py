"""Every configuration knob of the pipeline, read from the environment in one place.

Defaults run the embedded sample shop into a project-local `data/` folder
(git-ignored). The README's configuration table mirrors this module; a test
checks that every variable here is documented there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from assets.user_config import find_config_file
from assets.warehouse import DataLayout

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

ENV_PREFIX = "RETENTION_"

# name -> (default, help). The README table is generated from / checked against this.
ENV_VARS: dict[str, tuple[str, str]] = {
    "RETENTION_DATA_DIR": ("./data", "Folder for the warehouse, exports, report and quality docs."),
    "RETENTION_SOURCE": ("sample_shop", "Where data comes from: `sample_shop`, `landing`, `shopify_csv` or `postgres`."),
    "RETENTION_LANDING_DIR": ("", "Landing-zone folder (one sub-folder per entity) when RETENTION_SOURCE=landing; the folder of Shopify orders exports when RETENTION_SOURCE=shopify_csv."),
    "RETENTION_SHOP_NAME": ("", "The shop's name on the report. Default: \"Sample shop\" or \"Landing\"."),
    "RETENTION_SHOP_CURRENCY": ("", "The shop's currency code; rows in another currency are quarantined. Default: the source's own (sample shop: USD; landing: USD; shopify_csv: the exports' Currency column)."),
    "RETENTION_SHOP_TIMEZONE": ("", "IANA time zone in which days and months are counted. Default: the source's own (sample shop: America/New_York; landing: UTC)."),
    "RETENTION_SAMPLE_ORDERS": ("100000", "Approximate number of orders the sample shop generates."),
    "RETENTION_SAMPLE_SEED": ("42", "Seed of the sample shop generator (same seed, same shop)."),
    "RETENTION_SAMPLE_END_DATE": ("2025-12-31", "Last day of the sample shop's two years of history."),
    "RETENTION_ACTIVE_WINDOW_DAYS": ("365", "A customer is active with a qualifying order in this many trailing days."),
    "RETENTION_CHURN_AFTER_DAYS": ("180", "A customer is churned when their last qualifying order is older than this."),
    "RETENTION_AS_OF_DATE": ("", "Build the marts as of this date (YYYY-MM-DD). Default: date of the newest order."),
    "RETENTION_SCHEDULE_CRON": ("0 2 * * *", "Cron of the nightly run."),
    "RETENTION_SCHEDULE_TIMEZONE": ("", "Time zone of the nightly cron. Default: the shop time zone."),
    "RETENTION_WEBHOOK_URL": ("", "If set, run failures are posted here as Slack-compatible JSON."),
    "RETENTION_CUSTOMER_ID_SALT": ("", "Salt of the hashed customer ids of RETENTION_SOURCE=shopify_csv (a secret: never logged). Default: a random salt kept in <data dir>/secrets/customer_id_salt."),
    "RETENTION_POSTGRES_URL": ("", "Connection URL of the shop database when RETENTION_SOURCE=postgres (a secret: never logged)."),
    "RETENTION_CONFIG_FILE": ("", "The shop's configuration file (quality rules, file dialect, ...). Default: retention.yml in the landing, data or project folder."),
}


def env(name: str) -> str:
    default, _ = ENV_VARS[name]
    value = os.environ.get(name, "").strip()
    return value or default


def _int_env(name: str) -> int:
    raw = env(name)
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source: str
    landing_dir: Path | None
    shop_name: str | None
    shop_currency: str | None
    shop_timezone: str | None
    sample_orders: int
    sample_seed: int
    sample_end_date: date
    active_window_days: int
    churn_after_days: int
    as_of_date: date | None
    schedule_cron: str
    schedule_timezone: str | None
    webhook_url: str | None
    config_file: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def layout(self) -> DataLayout:
        return DataLayout(self.data_dir)

    @classmethod
    def from_env(cls) -> "Settings":
        source = env("RETENTION_SOURCE")
        if source not in ("sample_shop", "landing", "shopify_csv", "postgres"):
            raise ValueError(f"RETENTION_SOURCE must be 'sample_shop', 'landing', 'shopify_csv' or 'postgres', got {source!r}")
        if source == "postgres" and not env("RETENTION_POSTGRES_URL"):
            raise ValueError("RETENTION_SOURCE=postgres needs RETENTION_POSTGRES_URL (postgresql://user:password@host:port/database)")
        landing = env("RETENTION_LANDING_DIR")
        if source == "landing" and not landing:
            raise ValueError("RETENTION_SOURCE=landing needs RETENTION_LANDING_DIR (a folder with one sub-folder per entity)")
        if source == "shopify_csv" and not landing:
            raise ValueError("RETENTION_SOURCE=shopify_csv needs RETENTION_LANDING_DIR (the folder with the Shopify orders_export*.csv files)")
        as_of = env("RETENTION_AS_OF_DATE")
        data_dir = Path(env("RETENTION_DATA_DIR"))
        if not data_dir.is_absolute():
            data_dir = (Path.cwd() / data_dir).resolve()
        return cls(
            data_dir=data_dir,
            source=source,
            landing_dir=Path(landing).resolve() if landing else None,
            shop_name=env("RETENTION_SHOP_NAME") or None,
            shop_currency=env("RETENTION_SHOP_CURRENCY") or None,
            shop_timezone=env("RETENTION_SHOP_TIMEZONE") or None,
            sample_orders=_int_env("RETENTION_SAMPLE_ORDERS"),
            sample_seed=_int_env("RETENTION_SAMPLE_SEED"),
            sample_end_date=date.fromisoformat(env("RETENTION_SAMPLE_END_DATE")),
            active_window_days=_int_env("RETENTION_ACTIVE_WINDOW_DAYS"),
            churn_after_days=_int_env("RETENTION_CHURN_AFTER_DAYS"),
            as_of_date=date.fromisoformat(as_of) if as_of else None,
            schedule_cron=env("RETENTION_SCHEDULE_CRON"),
            schedule_timezone=env("RETENTION_SCHEDULE_TIMEZONE") or None,
            webhook_url=env("RETENTION_WEBHOOK_URL") or None,
            config_file=find_config_file(
                env("RETENTION_CONFIG_FILE") or None,
                landing_dir=landing or None,
                data_dir=data_dir,
            ),
        )
