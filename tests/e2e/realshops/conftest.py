"""Real-shop scenarios: build a landing folder, run the whole pipeline once, keep what it left.

Each scenario module builds its landing folder (from the fixture files or the
sample shop's frames) and calls `run_shop` once in a module-scoped fixture.
The job is assembled from the real assets and the real quality checks exactly
as orchestration/definitions.py does (extraction -> dbt -> predictions ->
checks -> publish / exports / report), over a landing source, and is not a
nightly run (like `make run`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# The sample shop's frames are turned into landing folders here; one small
# history for every scenario built from it (fast on 2 cores).
SAMPLE_END_DATE = "2025-01-31"
SAMPLE_DAYS = 150  # 2024-09-04 .. 2025-01-31: weekends and Christmas inside
SAMPLE_ORDERS = 6_000  # about 40 orders a day: enough for the daily-volume rules to judge days


@dataclass
class ShopRun:
    """What one pipeline run left behind."""

    result: object  # dagster ExecuteInProcessResult
    instance: object  # the DagsterInstance that holds the run's logs
    data: Path

    @property
    def build_db(self) -> Path:
        return self.data / "build" / "warehouse.duckdb"

    @property
    def published_db(self) -> Path:
        return self.data / "warehouse.duckdb"

    @property
    def exports(self) -> Path:
        return self.data / "exports"

    @property
    def report(self) -> Path:
        return self.data / "report" / "index.html"

    def step_failures(self) -> list[str]:
        """`step: message` of every failed step, with the root cause (a retried step hides it one level down)."""
        out = []
        for e in self.result.all_events:
            if e.event_type_value != "STEP_FAILURE":
                continue
            err = e.event_specific_data.error
            messages = []
            while err is not None:
                messages.append(err.message.strip().splitlines()[0] if err.message.strip() else err.cls_name)
                err = err.cause or err.context
            out.append(f"{e.step_key}: {' <- '.join(messages) or e.message}")
        return out

    def check_evaluations(self) -> dict[str, list]:
        """asset key -> its AssetCheckEvaluations in this run."""
        out: dict[str, list] = {}
        for e in self.result.all_events:
            if e.event_type_value == "ASSET_CHECK_EVALUATION":
                ev = e.event_specific_data
                out.setdefault(ev.asset_key.to_user_string(), []).append(ev)
        return out

    def logged(self, level: int) -> list[str]:
        """Every message of the run's log at `level` or above (what `make run` prints on the console)."""
        return [rec.user_message for rec in self.instance.all_logs(self.result.run_id)
                if rec.level >= level and rec.user_message]

    def warnings(self) -> list[str]:
        """Every WARNING-or-worse log message of the run (context.log.warning and friends)."""
        import logging

        return [
            rec.user_message
            for rec in self.instance.all_logs(self.result.run_id)
            if rec.level >= logging.WARNING and rec.user_message
        ]

    def query(self, db: Path, sql: str, params=None) -> list[tuple]:
        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def failed_rules(self) -> list[tuple]:
        """(suite, rule_id, severity, observed_value) of every failed rule this run, from the build file's audit."""
        return self.query(
            self.build_db,
            "SELECT suite, rule_id, severity, observed_value FROM audit.validation_results "
            "WHERE run_id = ? AND NOT success ORDER BY suite, rule_id",
            [self.result.run_id],
        )


def evaluation_text(ev) -> str:
    """Description and metadata of a check evaluation as one lower-case text, to look for a phrase."""
    parts = [str(getattr(ev, "description", "") or "")]
    for key, value in (ev.metadata or {}).items():
        parts.append(f"{key}={getattr(value, 'value', value)}")
    return " ".join(parts).lower()


def build_job(name: str):
    """The real asset graph and checks, wired as in orchestration/definitions.py, as one job."""
    from assets.dbt import retention_dbt_assets
    from orchestration.extraction import extract_shop  # quiet nights judge freshness
    from assets.quality import quality_checks_for
    from assets.serving import mart_asset_keys
    from orchestration.jobs import make_pipeline_job
    from tests.support.serving import serving_assets_without_docs

    assets: list = [extract_shop, retention_dbt_assets]
    checks = quality_checks_for(assets)
    assets += serving_assets_without_docs(mart_asset_keys(assets))
    return assets, checks, make_pipeline_job(name, f"real-shop scenario {name}")


def run_shop(name: str, landing: Path, data: Path, currency: str, timezone: str, until: str | None = None,
             source: str = "landing") -> ShopRun:
    """Run the whole pipeline once over `landing` into `data` (a fresh folder, or an earlier night's).

    `until`: the extraction's `until` (the night's date), which the freshness rules judge against.
    `source`: RETENTION_SOURCE, the kind of folder `landing` is (`landing` or `shopify_csv`).
    """
    import dagster as dg

    from assets.dbt import dbt_resource
    from assets.user_config import find_config_file
    from assets.resources import ShopSourceResource, WarehouseResource

    with pytest.MonkeyPatch.context() as mp:
        # Only this scenario's folders and settings: nothing from the caller's shell.
        for var in [v for v in os.environ if v.startswith("RETENTION_")]:
            mp.delenv(var)
        mp.setenv("RETENTION_SOURCE", source)
        mp.setenv("RETENTION_LANDING_DIR", str(landing))
        mp.setenv("RETENTION_DATA_DIR", str(data))
        mp.setenv("RETENTION_BUILD_DB", str(data / "build" / "warehouse.duckdb"))
        mp.setenv("RETENTION_SHOP_CURRENCY", currency)
        mp.setenv("RETENTION_SHOP_TIMEZONE", timezone)
        # The shop's retention.yml, found as the settings find it (landing, then data folder).
        config_file = find_config_file(landing_dir=landing, data_dir=data)
        assets, checks, job = build_job(name)
        defs = dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=[job],
            resources={
                "warehouse": WarehouseResource(data_dir=str(data)),
                "shop_source": ShopSourceResource(
                    kind=source, name=name, landing_dir=str(landing), currency=currency, timezone=timezone,
                    config_file=str(config_file) if config_file else None, data_dir=str(data),
                ),
                "dbt": dbt_resource(),
            },
            executor=dg.in_process_executor,
        )
        instance = dg.DagsterInstance.ephemeral()
        run_config = {"ops": {"extract_shop": {"config": {"until": until}}}} if until else None
        result = defs.resolve_job_def(name).execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False)
    return ShopRun(result, instance, data)


def sample_frames(entities: tuple[str, ...], orders: int = SAMPLE_ORDERS):
    """The sample shop's records of `entities` as a shop would export them (one version per record)."""
    from datetime import date

    from assets.extraction.sample_shop import SampleShopConfig, generate

    cfg = SampleShopConfig(orders=orders, days=SAMPLE_DAYS, end_date=date.fromisoformat(SAMPLE_END_DATE))
    return generate(cfg, entities=entities, duplicates=False)


def assert_published(run: ShopRun) -> None:
    """The run succeeded and left the analysts' file, the exports and the report."""
    assert run.result.success, f"pipeline run failed; step failures: {run.step_failures()}"
    assert run.published_db.exists(), f"{run.published_db} missing after a successful run"
    marts = [r[0] for r in run.query(
        run.published_db, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'")]
    assert "mart_cohort_retention" in marts and "mart_customer_predictions" in marts, (
        f"{run.published_db}: marts published are {sorted(marts)}, expected cohort retention and predictions among them"
    )
    exported = {p.name for p in run.exports.iterdir() if p.is_dir()} if run.exports.exists() else set()
    assert set(marts) <= exported, f"{run.exports}: no export for {sorted(set(marts) - exported)}"
    assert run.report.exists(), f"{run.report} missing after a successful run"
