"""The nightly schedule: cron and time zone from settings, window from the tick.

Default: 02:00 every day in the shop's time zone (RETENTION_SCHEDULE_CRON,
RETENTION_SCHEDULE_TIMEZONE). Each tick extracts up to the end of the
previous day *in the shop's time zone* (`nightly_window`), whatever zone the
cron runs in, so a day is never half-read and DST days are 23 or 25 hours.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg

from .jobs import extract_run_config

ONE_MICROSECOND = timedelta(microseconds=1)


def shop_day_start_utc(day, shop_tz: str) -> datetime:
    """The first instant (UTC, aware) of the shop-local calendar `day`.

    Where midnight does not exist (a DST jump at 00:00, e.g. America/Santiago),
    fold=0 maps it to the pre-jump offset, which is exactly the first instant
    of the day.
    """
    local_midnight = datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(shop_tz))
    return local_midnight.astimezone(timezone.utc)


def nightly_window(scheduled_time: datetime, shop_tz: str) -> str:
    """Extraction `until` for a tick: the end of the previous shop-local day, as naive UTC ISO.

    `scheduled_time` must be time-zone aware (Dagster passes the tick time in
    the schedule's execution time zone). "End of day" is the last microsecond
    before the shop-local midnight that starts the tick's day, because
    extraction reads `updated_at <= until` and the next run continues with
    `> until`: no row is read twice or skipped.
    """
    if scheduled_time.tzinfo is None:
        raise ValueError("scheduled_time must be time-zone aware")
    today_in_shop = scheduled_time.astimezone(ZoneInfo(shop_tz)).date()
    until = shop_day_start_utc(today_in_shop, shop_tz) - ONE_MICROSECOND
    return until.replace(tzinfo=None).isoformat(timespec="microseconds")


def nightly_run_config(scheduled_time: datetime, shop_tz: str) -> dg.RunConfig:
    return extract_run_config(until=nightly_window(scheduled_time, shop_tz))


def build_nightly_schedule(
    job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition,
    cron: str,
    execution_timezone: str,
    shop_timezone: str,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    """The nightly schedule of `job`. Raises on a bad cron or time zone name."""
    ZoneInfo(execution_timezone)  # fail at load time on a typo, not at 02:00
    ZoneInfo(shop_timezone)

    @dg.schedule(
        name="nightly_schedule",
        cron_schedule=cron,
        job=job,
        execution_timezone=execution_timezone,
        default_status=default_status,
        description=(
            f"`{cron}` in {execution_timezone}: extract up to the end of the previous day in the shop "
            f"time zone ({shop_timezone}), rebuild marts, checks, publish, exports and report."
        ),
    )
    def nightly_schedule(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time
        if tick is None:  # evaluated by hand, outside a tick
            tick = datetime.now(ZoneInfo(execution_timezone))
        until = nightly_window(tick, shop_timezone)
        return dg.RunRequest(
            run_key=None,
            run_config=nightly_run_config(tick, shop_timezone),
            tags={"retention/until": until, "retention/shop_timezone": shop_timezone},
        )

    return nightly_schedule


def nightly_schedule_from_settings(job, settings, shop_timezone: str) -> dg.ScheduleDefinition:
    """Cron from RETENTION_SCHEDULE_CRON; its zone from RETENTION_SCHEDULE_TIMEZONE, else the shop's."""
    return build_nightly_schedule(
        job,
        cron=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone or shop_timezone,
        shop_timezone=shop_timezone,
    )
