"""Every configuration knob of the pipeline, read from the environment in one place.

Defaults run the embedded sample shop into a project-local `data/` folder
(git-ignored). The README's configuration table mirrors this module; a test
checks that every variable here is documented there.
"""

from __future__ import annotations

import math
import os
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from assets.secrets import redact_url
from assets.source_kinds import SOURCE_KINDS, kind_list
from assets.user_config import find_config_file
from assets.warehouse import DataLayout

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

ENV_PREFIX = "RETENTION_"

# name -> (default, help). The README table is generated from / checked against this.
ENV_VARS: dict[str, tuple[str, str]] = {
    "RETENTION_DATA_DIR": ("./data", "Folder for the warehouse, exports, report and quality docs."),
    "RETENTION_SOURCE": ("sample_shop", f"Where data comes from: {kind_list()}."),
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
    "RETENTION_PREDICTIONS_REFIT_DAYS": ("7", "Refit BG/NBD and Gamma-Gamma when the stored fit is this many days of data old; other nights score with the stored parameters."),
    "RETENTION_PREDICTIONS_REFIT_GROWTH": ("0.10", "Refit sooner when the customer base grew by more than this fraction since the fit."),
    "RETENTION_PREDICTIONS_REFIT_DRIFT": ("0.20", "Refit sooner when the stored model's prediction of the purchases since its fit is off by more than this fraction."),
    "RETENTION_SCHEDULE_CRON": ("0 2 * * *", "Cron of the nightly run."),
    "RETENTION_SCHEDULE_TIMEZONE": ("", "Time zone of the nightly cron. Default: the shop time zone."),
    "RETENTION_WEBHOOK_URL": ("", "If set, run failures are posted here as Slack-compatible JSON."),
    "RETENTION_CUSTOMER_ID_SALT": ("", "Salt of the hashed customer ids of RETENTION_SOURCE=shopify_csv (a secret: never logged). Default: a random salt kept in <data dir>/secrets/customer_id_salt."),
    "RETENTION_POSTGRES_URL": ("", "Connection URL of the shop database when RETENTION_SOURCE=postgres (a secret: never logged)."),
    "RETENTION_CONFIG_FILE": ("", "The shop's configuration file (quality rules, file dialect, ...). Default: retention.yml in the landing, data or project folder."),
    "RETENTION_DUCKDB_MEMORY_LIMIT": ("3GB", "Memory DuckDB may use in each of the pipeline's processes (extraction, dbt, checks, publish), e.g. `3GB`; beyond it DuckDB spills to disk next to the warehouse."),
    "RETENTION_ENGINE": ("duckdb", "Engine of the dbt step (staging, intermediate, marts): `duckdb` or `spark` (local Spark, see docs/spark.md)."),
}


class SettingsError(ValueError):
    """Bad configuration, found when the definitions load, before any work: one line naming every bad variable."""


# Engines the dbt step can build on. Extraction, the quality gates and
# serving run on DuckDB either way (docs/spark.md).
ENGINES = ("duckdb", "spark")

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
WEBHOOK_SCHEMES = ("http", "https")


def env(name: str) -> str:
    default, _ = ENV_VARS[name]
    value = os.environ.get(name, "").strip()
    return value or default


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# --- parsers: value text -> value, or ValueError("expected ...") -------------


def parse_date(raw: str) -> date:
    if not DATE_RE.match(raw):
        raise ValueError("expected a date YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("expected a real calendar date YYYY-MM-DD") from None


MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def parse_memory_limit(raw: str) -> str:
    if not MEMORY_RE.match(raw.strip()):
        raise ValueError("expected an amount with a unit, e.g. 3GB or 512MB")
    return raw.strip()


def parse_positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a whole number greater than 0") from None
    if value <= 0:
        raise ValueError("expected a whole number greater than 0")
    return value


def parse_positive_fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number greater than 0, e.g. 0.1 for 10%") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError("expected a number greater than 0, e.g. 0.1 for 10%")
    return value


def parse_non_negative_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a whole number, 0 or more") from None
    if value < 0:
        raise ValueError("expected a whole number, 0 or more")
    return value


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    """Zones both Python (zoneinfo) and DuckDB know: days are counted in both.

    `localtime` and other host-specific aliases are in neither list's intersection.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        duckdb_zones = {r[0] for r in con.execute("SELECT name FROM pg_timezone_names()").fetchall()}
    finally:
        con.close()
    return frozenset(zoneinfo.available_timezones() & duckdb_zones)


def parse_time_zone(raw: str) -> str:
    if raw not in known_time_zones():
        raise ValueError("expected an IANA time zone known to Python and DuckDB, e.g. Europe/Berlin or UTC")
    return raw


def parse_cron(raw: str) -> str:
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(raw):
        raise ValueError("expected a cron expression of 5 fields, e.g. '0 2 * * *'")
    return raw


def parse_source(raw: str) -> str:
    if raw not in SOURCE_KINDS:
        raise ValueError(f"expected one of {', '.join(SOURCE_KINDS)}")
    return raw


def parse_engine(raw: str) -> str:
    if raw not in ENGINES:
        raise ValueError(f"expected one of {', '.join(ENGINES)}")
    return raw


def parse_currency(raw: str) -> str:
    if not CURRENCY_RE.match(raw):
        raise ValueError("expected a three-letter currency code, e.g. USD")
    return raw


def parse_webhook_url(raw: str) -> str:
    try:
        parts = urlsplit(raw)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in WEBHOOK_SCHEMES or not host:
        raise ValueError("expected an http(s) URL with a host, e.g. https://hooks.slack.com/services/…")
    return raw


def parse_existing_dir(raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise ValueError("expected an existing folder")
    return path


def parse_data_dir(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if path.exists() and not path.is_dir():
        raise ValueError("expected a folder (this is a file)")
    return path


class _Collector:
    """Parses variables one by one and remembers every failure for one message."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def get(self, name: str, parse, shown: str | None = None):
        raw = env(name)
        if not raw:
            return None
        try:
            return parse(raw)
        except ValueError as exc:
            self.errors.append(f"{name}={(shown if shown is not None else raw)!r}: {exc}")
            return None

    def fail(self, name: str, message: str) -> None:
        self.errors.append(f"{name}: {message}")

    def raise_if_any(self) -> None:
        if self.errors:
            raise SettingsError("invalid configuration: " + "; ".join(self.errors))


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
    engine: str = "duckdb"
    duckdb_memory_limit: str = "3GB"
    predictions_refit_days: int = 7
    predictions_refit_growth: float = 0.10
    predictions_refit_drift: float = 0.20
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def layout(self) -> DataLayout:
        return DataLayout(self.data_dir)

    @classmethod
    def from_env(cls) -> "Settings":
        """Parse and check every RETENTION_* variable; raise one SettingsError naming all bad ones."""
        c = _Collector()
        source = c.get("RETENTION_SOURCE", parse_source)
        landing_dir = None
        kind = SOURCE_KINDS.get(source) if source is not None else None
        if kind is not None and kind.landing_dir:
            if not env("RETENTION_LANDING_DIR"):
                c.fail("RETENTION_LANDING_DIR", f"RETENTION_SOURCE={source} needs it: expected {kind.landing_dir}")
            else:
                landing_dir = c.get("RETENTION_LANDING_DIR", parse_existing_dir)
        elif env("RETENTION_LANDING_DIR"):
            landing_dir = Path(env("RETENTION_LANDING_DIR")).resolve()
        if kind is not None and kind.required_env and not env(kind.required_env[0]):
            name, expected = kind.required_env
            c.fail(name, f"RETENTION_SOURCE={source} needs it: expected {expected}")
        data_dir = c.get("RETENTION_DATA_DIR", parse_data_dir)
        values = dict(
            engine=c.get("RETENTION_ENGINE", parse_engine),
            duckdb_memory_limit=c.get("RETENTION_DUCKDB_MEMORY_LIMIT", parse_memory_limit),
            shop_currency=c.get("RETENTION_SHOP_CURRENCY", parse_currency),
            shop_timezone=c.get("RETENTION_SHOP_TIMEZONE", parse_time_zone),
            sample_orders=c.get("RETENTION_SAMPLE_ORDERS", parse_positive_int),
            sample_seed=c.get("RETENTION_SAMPLE_SEED", parse_non_negative_int),
            sample_end_date=c.get("RETENTION_SAMPLE_END_DATE", parse_date),
            active_window_days=c.get("RETENTION_ACTIVE_WINDOW_DAYS", parse_positive_int),
            churn_after_days=c.get("RETENTION_CHURN_AFTER_DAYS", parse_positive_int),
            as_of_date=c.get("RETENTION_AS_OF_DATE", parse_date),
            predictions_refit_days=c.get("RETENTION_PREDICTIONS_REFIT_DAYS", parse_positive_int),
            predictions_refit_growth=c.get("RETENTION_PREDICTIONS_REFIT_GROWTH", parse_positive_fraction),
            predictions_refit_drift=c.get("RETENTION_PREDICTIONS_REFIT_DRIFT", parse_positive_fraction),
            schedule_cron=c.get("RETENTION_SCHEDULE_CRON", parse_cron),
            schedule_timezone=c.get("RETENTION_SCHEDULE_TIMEZONE", parse_time_zone),
            webhook_url=c.get(
                "RETENTION_WEBHOOK_URL", parse_webhook_url, shown=redact_url(env("RETENTION_WEBHOOK_URL"))
            ),
        )
        config_file = None
        if not c.errors:
            try:
                config_file = find_config_file(
                    env("RETENTION_CONFIG_FILE") or None, landing_dir=env("RETENTION_LANDING_DIR") or None, data_dir=data_dir
                )
            except (OSError, ValueError) as exc:
                # The message already names RETENTION_CONFIG_FILE and the path.
                c.errors.append(first_line(str(exc)) or "RETENTION_CONFIG_FILE: expected a readable file")
        c.raise_if_any()
        return cls(
            data_dir=data_dir,
            source=source,
            landing_dir=landing_dir,
            shop_name=env("RETENTION_SHOP_NAME") or None,
            config_file=config_file,
            **values,
        )


def main() -> int:
    """`python -m assets.settings`: check the configuration; one line on stderr if it is bad."""
    import sys

    try:
        Settings.from_env()
    except SettingsError as exc:
        print(f"SettingsError: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
