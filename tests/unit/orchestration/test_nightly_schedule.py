"""The nightly window: end of the previous shop-local day, in naive UTC, at DST edges."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.jobs import nightly_job
from orchestration.schedules import build_nightly_schedule, nightly_schedule_from_settings, nightly_window
from assets.settings import Settings

NY = "America/New_York"


def at(tz: str, *args, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold)


@pytest.mark.parametrize(
    "tick,shop_tz,until",
    [
        # an ordinary winter night in New York (UTC-5)
        (at(NY, 2025, 1, 15, 2, 0), NY, "2025-01-15T04:59:59.999999"),
        # the night after spring-forward: 9 March had 23 hours, ends at 00:00 EDT = 04:00Z
        (at(NY, 2025, 3, 10, 2, 0), NY, "2025-03-10T03:59:59.999999"),
        # the spring-forward night itself (02:00 does not exist; Dagster fires at 03:00 EDT)
        (at(NY, 2025, 3, 9, 3, 0), NY, "2025-03-09T04:59:59.999999"),
        (at(NY, 2025, 3, 9, 2, 0), NY, "2025-03-09T04:59:59.999999"),
        # fall-back: 2 November had 25 hours and ends at 00:00 EST = 05:00Z
        (at(NY, 2025, 11, 3, 2, 0), NY, "2025-11-03T04:59:59.999999"),
        # during the repeated hour (second 01:30, EST): previous day is 1 November
        (at(NY, 2025, 11, 2, 1, 30, fold=1), NY, "2025-11-02T03:59:59.999999"),
        # cron in UTC, shop in New York: 02:00Z is 21:00/22:00 the evening before in the shop
        (at("UTC", 2025, 3, 10, 2, 0), NY, "2025-03-09T04:59:59.999999"),
        # half-hour offset, east of UTC: the day ends the previous evening in UTC
        (at("Asia/Kolkata", 2025, 6, 1, 2, 0), "Asia/Kolkata", "2025-05-31T18:29:59.999999"),
        # Santiago: midnight does not exist on 8 Sept 2024 (00:00 -> 01:00); the day starts at 04:00Z
        (at("America/Santiago", 2024, 9, 8, 2, 0), "America/Santiago", "2024-09-08T03:59:59.999999"),
        (at("America/Santiago", 2024, 9, 9, 2, 0), "America/Santiago", "2024-09-09T02:59:59.999999"),
        (at("UTC", 2025, 1, 1, 2, 0), "UTC", "2024-12-31T23:59:59.999999"),
    ],
)
def test_window_end_at_time_zone_edges(tick, shop_tz, until):
    assert nightly_window(tick, shop_tz) == until


@pytest.mark.parametrize("shop_tz", [NY, "Europe/London", "Australia/Sydney", "America/Santiago", "UTC"])
def test_consecutive_nights_tile_the_calendar(shop_tz):
    """Each window ends at 23:59:59.999999 shop time; consecutive windows are exactly one shop day apart."""
    tz = ZoneInfo(shop_tz)
    day = date(2025, 1, 1)
    prev = None
    for _ in range(366):
        tick = datetime(day.year, day.month, day.day, 3, 0, tzinfo=tz)
        until = datetime.fromisoformat(nightly_window(tick, shop_tz)).replace(tzinfo=ZoneInfo("UTC"))
        local = until.astimezone(tz)
        assert local.date() == day - timedelta(days=1)
        assert (local.hour, local.minute, local.second, local.microsecond) == (23, 59, 59, 999999)
        if prev is not None:
            hours = (until - prev).total_seconds() / 3600
            assert hours in (23, 24, 25)
        prev = until
        day += timedelta(days=1)


def test_naive_tick_is_refused():
    with pytest.raises(ValueError, match="aware"):
        nightly_window(datetime(2025, 1, 1, 2), NY)


def _until_of(schedule, tick: datetime) -> tuple[str, dict]:
    ctx = dg.build_schedule_context(scheduled_execution_time=tick)
    data = schedule.evaluate_tick(ctx)
    [req] = data.run_requests
    cfg = req.run_config["ops"]["extract_shop"]["config"]
    return cfg, req.tags


def test_schedule_tick_sets_only_until():
    schedule = build_nightly_schedule(nightly_job, "0 2 * * *", NY, NY)
    assert schedule.execution_timezone == NY and schedule.cron_schedule == "0 2 * * *"
    cfg, tags = _until_of(schedule, at(NY, 2025, 3, 10, 2, 0))
    # since stays empty: extraction continues from its high-water mark (only the new day).
    assert cfg["until"] == "2025-03-10T03:59:59.999999"
    assert not cfg.get("since") and not cfg.get("full_refresh")
    assert tags["retention/until"] == cfg["until"]


def test_schedule_defaults_to_shop_time_zone_and_reads_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_SCHEDULE_CRON", "30 3 * * 1-5")
    monkeypatch.delenv("RETENTION_SCHEDULE_TIMEZONE", raising=False)
    s = nightly_schedule_from_settings(nightly_job, Settings.from_env(), "Europe/Berlin")
    assert s.execution_timezone == "Europe/Berlin" and s.cron_schedule == "30 3 * * 1-5"
    monkeypatch.setenv("RETENTION_SCHEDULE_TIMEZONE", "UTC")
    s = nightly_schedule_from_settings(nightly_job, Settings.from_env(), "Europe/Berlin")
    assert s.execution_timezone == "UTC"
    cfg, _ = _until_of(s, at("UTC", 2025, 7, 1, 3, 30))  # 05:30 in Berlin (CEST)
    assert cfg["until"] == "2025-06-30T21:59:59.999999"


def test_bad_time_zone_fails_at_load():
    with pytest.raises(Exception):
        build_nightly_schedule(nightly_job, "0 2 * * *", "Mars/Olympus", NY)
