"""Dagster resources: the warehouse file and the shop source, built from settings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from assets.user_config import load_user_config
from assets.warehouse import DataLayout, connect

from .settings import ENV_VARS, Settings


def _default_days(name: str) -> int:
    return int(ENV_VARS[name][0])


class WarehouseResource(dg.ConfigurableResource):
    """The pipeline's private build warehouse and the published copy analysts read.

    Only the pipeline opens `build_db` (one writer); analysts open
    `published_db` read-only, which a run replaces atomically when it succeeds.
    """

    data_dir: str
    # What builds staging, intermediate and marts (RETENTION_ENGINE): `duckdb`
    # in this file, or `spark`, whose tables the dbt step copies back here.
    engine: str = "duckdb"
    # DuckDB's memory cap per process (RETENTION_DUCKDB_MEMORY_LIMIT), dbt's included.
    memory_limit: str = "3GB"

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def layout(self) -> DataLayout:
        return DataLayout(self.root)

    # Shortcuts used by every asset.
    @property
    def build_db(self) -> Path:
        return self.layout.build_db

    @property
    def published_db(self) -> Path:
        return self.layout.published_db

    @property
    def exports_dir(self) -> Path:
        return self.layout.exports_dir

    @property
    def report_dir(self) -> Path:
        return self.layout.report_dir

    @property
    def quality_dir(self) -> Path:
        return self.layout.quality_dir

    def connect(self, read_only: bool = False):
        return connect(self.build_db, read_only=read_only, memory_limit=self.memory_limit)


class ShopSourceResource(dg.ConfigurableResource):
    """Which shop the pipeline reads (the sample shop, a landing folder, Shopify order exports or the
    shop's PostgreSQL database) and its retention rules.

    Settings only: the extraction builds the source from them
    (assets/extraction/builders.py) and records the currency and time zone it
    resolved in the build file, where the other areas read them
    (assets/shop_profile.py).
    """

    kind: str = "sample_shop"
    name: str | None = None
    landing_dir: str | None = None
    currency: str | None = None
    timezone: str | None = None
    sample_orders: int = 100_000
    sample_seed: int = 42
    sample_end_date: str = "2025-12-31"
    config_file: str | None = None
    # Where the shopify_csv source keeps its customer-id salt (<data_dir>/secrets).
    data_dir: str | None = None
    # The shop's retention rules, read by dbt, the quality gates and the report.
    # YYYY-MM-DD; None: the date of the newest order.
    as_of_date: str | None = None
    active_window_days: int = _default_days("RETENTION_ACTIVE_WINDOW_DAYS")
    churn_after_days: int = _default_days("RETENTION_CHURN_AFTER_DAYS")
    # When the predictions are refitted rather than scored with the stored fit (models/refit.py).
    predictions_refit_days: int = _default_days("RETENTION_PREDICTIONS_REFIT_DAYS")
    predictions_refit_growth: float = float(ENV_VARS["RETENTION_PREDICTIONS_REFIT_GROWTH"][0])
    predictions_refit_drift: float = float(ENV_VARS["RETENTION_PREDICTIONS_REFIT_DRIFT"][0])

    def as_of(self) -> date | None:
        """The configured as-of date, None when the newest order decides."""
        if not self.as_of_date:
            return None
        try:
            return date.fromisoformat(self.as_of_date)
        except ValueError:
            raise ValueError(
                f"shop_source.as_of_date={self.as_of_date!r}: expected a date YYYY-MM-DD (RETENTION_AS_OF_DATE)"
            ) from None

    def user_config(self) -> dict:
        """The shop's `retention.yml` (assets/user_config.py), {} when there is none."""
        return load_user_config(self.config_file)

    @property
    def display_name(self) -> str:
        return self.name or self.kind.replace("_", " ").capitalize()


def resources_from_settings(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(
            data_dir=str(settings.data_dir), engine=settings.engine, memory_limit=settings.duckdb_memory_limit
        ),
        "shop_source": ShopSourceResource(
            kind=settings.source,
            name=settings.shop_name,
            landing_dir=str(settings.landing_dir) if settings.landing_dir else None,
            currency=settings.shop_currency,
            timezone=settings.shop_timezone,
            sample_orders=settings.sample_orders,
            sample_seed=settings.sample_seed,
            sample_end_date=settings.sample_end_date.isoformat(),
            config_file=str(settings.config_file) if settings.config_file else None,
            data_dir=str(settings.data_dir),
            as_of_date=settings.as_of_date.isoformat() if settings.as_of_date else None,
            active_window_days=settings.active_window_days,
            churn_after_days=settings.churn_after_days,
            predictions_refit_days=settings.predictions_refit_days,
            predictions_refit_growth=settings.predictions_refit_growth,
            predictions_refit_drift=settings.predictions_refit_drift,
        ),
    }
