"""The shop's resolved currency and time zone, recorded in the build file by the extraction.

Only a built source knows them (a Shopify export names its currency, the
sample shop has its own time zone), and only the extraction builds the source.
So the extraction records what it resolved in `raw._shop_profile` (one row,
like `raw._published_state`), and the other areas (quality, dbt, serving)
read it here, never building a source themselves.

The shop's settings (RETENTION_SHOP_CURRENCY, RETENTION_SHOP_TIMEZONE) win
over the record: they are what the next extraction will resolve anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from assets.extraction.contract import RAW_SCHEMA
from assets.resources import ShopSourceResource
from assets.warehouse import relation_exists

SHOP_PROFILE = f"{RAW_SCHEMA}._shop_profile"
SHOP_PROFILE_DDL = f"""
CREATE TABLE IF NOT EXISTS {SHOP_PROFILE} (
  source VARCHAR NOT NULL,
  currency VARCHAR NOT NULL,
  timezone VARCHAR NOT NULL,
  history_end TIMESTAMP,
  recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""


@dataclass(frozen=True)
class ShopProfile:
    source: str
    currency: str
    timezone: str
    # The last moment of a generated history (the sample shop); None: the shop's history goes on.
    history_end: datetime | None = None


def record_shop_profile(con, profile: ShopProfile) -> None:
    """Replace the recorded profile with `profile` (one row)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(SHOP_PROFILE_DDL)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {SHOP_PROFILE}")
        con.execute(
            f"INSERT INTO {SHOP_PROFILE} (source, currency, timezone, history_end) VALUES (?, ?, ?, ?)",
            [profile.source, profile.currency, profile.timezone, profile.history_end],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def recorded_shop_profile(con) -> ShopProfile | None:
    """The profile the last extraction recorded; None when none did."""
    if not relation_exists(con, RAW_SCHEMA, "_shop_profile"):
        return None
    rows = con.execute(f"SELECT source, currency, timezone, history_end FROM {SHOP_PROFILE}").fetchall()
    return ShopProfile(*rows[0]) if len(rows) == 1 else None


def _missing(what: str, variable: str, where: str) -> ValueError:
    return ValueError(
        f"{where}: the shop's {what} is unknown: no extraction recorded it in {SHOP_PROFILE} "
        f"(run extract_shop first) and {variable} is not set"
    )


def shop_currency(con, shop_source: ShopSourceResource, where: str = "the build warehouse") -> str:
    """RETENTION_SHOP_CURRENCY when set, else the currency the extraction resolved."""
    if shop_source.currency:
        return shop_source.currency.upper()
    recorded = recorded_shop_profile(con)
    if recorded is None:
        raise _missing("currency", "RETENTION_SHOP_CURRENCY", where)
    return recorded.currency


def shop_timezone(con, shop_source: ShopSourceResource, where: str = "the build warehouse") -> str:
    """RETENTION_SHOP_TIMEZONE when set, else the time zone the extraction resolved."""
    if shop_source.timezone:
        return shop_source.timezone
    recorded = recorded_shop_profile(con)
    if recorded is None:
        raise _missing("time zone", "RETENTION_SHOP_TIMEZONE", where)
    return recorded.timezone


def history_end(con) -> datetime | None:
    """The end of a generated history the extraction read (the sample shop's), else None."""
    recorded = recorded_shop_profile(con)
    return recorded.history_end if recorded is not None else None
