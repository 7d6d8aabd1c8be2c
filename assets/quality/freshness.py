"""Freshness against the run's own date, on every night - quiet ones included.

The raw suites judge freshness as the lag between the newest record's UTC
date and the run's as-of date (`reference_date`). A night whose extraction
finds nothing new skips every later step, the raw checks included
(assets/extraction/assets.py); `quiet_night_freshness` judges the same rule
there, so a run of quiet nights fails once the lag is exceeded.

No module here imports Great Expectations.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from assets.extraction.contract import RAW_SCHEMA, tracked_entities

from . import audit
from .config import ERROR, QualityConfig
from .days import shop_time
from .results import RuleResult, failure_text

RULE_ID = "freshness"


def reference_date(
    as_of_setting: date | None,
    until: datetime | None,
    history_end: datetime | None = None,
    today: date | None = None,
) -> date:
    """The date a run's newest records are judged against.

    RETENTION_AS_OF_DATE when set; else the extraction's `until` (what the
    run asked to read up to); else today (UTC). A generated history (the
    sample shop) ends on its own last day: never later than that.
    """
    if as_of_setting is not None:
        return as_of_setting
    day = until.date() if until is not None else (today or datetime.now(timezone.utc).date())
    if history_end is not None:
        day = min(day, history_end.date())
    return day


def quiet_night_freshness(con, config: QualityConfig, as_of: date,
                          shop_timezone: str = "UTC") -> list[tuple[str, RuleResult]]:
    """(suite, result) of the freshness rule for every tracked raw entity, judged without new data.

    The newest day is the shop's (`shop_timezone`), as in the suites.

    Judged, as in the suites, only for entities a successful validation has
    seen rows of (a nightly run); an entity without a dated record has no lag.
    """
    out = []
    tracked = tracked_entities(con)
    for entity, column in config.time_columns.items():
        suite = f"raw_{entity}"
        if entity not in tracked or not audit.has_validated_rows(con, suite):
            continue
        local = shop_time(column, shop_timezone)
        newest = con.execute(f"SELECT max({local})::date FROM {RAW_SCHEMA}.{entity}").fetchone()[0]
        if newest is None:
            continue
        lag = (as_of - newest).days
        limit = config.freshness_lag_days[entity]
        out.append((suite, RuleResult(
            rule_id=RULE_ID, kind="freshness", expectation="expect_column_values_to_be_between", column=None,
            success=lag <= limit, severity=config.severity(suite, RULE_ID, "freshness"),
            observed_value={"freshness_lag_days": lag, "newest_date": newest.isoformat(),
                            "as_of_date": as_of.isoformat()},
            element_count=1, unexpected_count=0 if lag <= limit else 1,
            description=f"newest {column} at most {limit} day(s) before the as-of date (a night with no new data)",
        )))
    return out


def judge_quiet_night(con, config: QualityConfig, as_of: date, run_id: str, log_error, log_warning,
                      log_info, shop_timezone: str = "UTC") -> list[str]:
    """Judge and record a quiet night's freshness; the lines of the ERROR failures (empty: the night may pass)."""
    results = quiet_night_freshness(con, config, as_of, shop_timezone)
    validated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    for suite, r in results:
        audit.write_results(con, run_id, suite, f"raw/{suite.removeprefix('raw_')}", [r], validated_at)
    errors = []
    for suite, r in results:
        if r.success:
            continue
        for line in failure_text(suite, r):
            (log_error if r.severity == ERROR else log_warning)(line)
            if r.severity == ERROR:
                errors.append(line)
    if results and not any(not r.success for _, r in results):
        log_info(f"freshness as of {as_of}: " + ", ".join(
            f"{s.removeprefix('raw_')} {r.observed_value['freshness_lag_days']} day(s)" for s, r in results))
    return errors
