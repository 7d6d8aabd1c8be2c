"""Section `quality` of a shop's retention.yml, read into a `QualityConfig`.

Every key is checked; a bad one stops with one line naming the file, the key
and what is expected (`UserConfigError`). A severity key may name a rule
kind, a rule id or `<suite>.<rule_id>`: the suites say which exist, so this
module reads them (the thresholds themselves live in `config.py`, which the
suites read).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

from .config import (
    DEFAULT_CONFIG,
    FULL_WEEKDAYS,
    RULE_KINDS,
    SEVERITIES,
    USER_KEYS,
    WEEKDAYS,
    QualityConfig,
    Severity,
)
from .suites import all_suites

class _Bad(ValueError):
    """A value that does not fit its key; the message says what is expected."""


def _number(lo: float | None = None, hi: float | None = None, integer: bool = False, above: bool = False):
    what = "an integer" if integer else "a number"
    bounds = []
    if lo is not None:
        bounds.append(f"{'>' if above else '>='} {lo:g}")
    if hi is not None:
        bounds.append(f"<= {hi:g}")
    expect = what + (f" {' and '.join(bounds)}" if bounds else "")

    def parse(value):
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            raise _Bad(f"expected {expect}")
        if lo is not None and (value <= lo if above else value < lo) or hi is not None and value > hi:
            raise _Bad(f"expected {expect}")
        return int(value) if integer else float(value)

    return parse


def _severity(value) -> Severity:
    text = str(value).upper()
    if text not in SEVERITIES:
        raise _Bad(f"expected one of {', '.join(SEVERITIES)}")
    return text  # type: ignore[return-value]


def _weekdays(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _Bad(f"expected a list of weekdays ({', '.join(WEEKDAYS)})")
    days = []
    for v in value:
        d = str(v).strip().lower()
        d = FULL_WEEKDAYS.get(d, d)
        if d not in WEEKDAYS:
            raise _Bad(f"expected weekdays among {', '.join(WEEKDAYS)} (or their full names)")
        days.append(d)
    return tuple(dict.fromkeys(days))


def _dates(value) -> tuple[dt.date, ...]:
    if not isinstance(value, list):
        raise _Bad("expected a list of dates (YYYY-MM-DD)")
    out = []
    for v in value:
        if isinstance(v, dt.datetime):
            v = v.date()
        if not isinstance(v, dt.date):
            try:
                v = dt.date.fromisoformat(str(v))
            except ValueError:
                raise _Bad("expected dates as YYYY-MM-DD") from None
        out.append(v)
    return tuple(sorted(set(out)))


def _band(value) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and 0 <= value[0] <= value[1]):
        raise _Bad("expected [low, high] with 0 <= low <= high")
    return (float(value[0]), float(value[1]))


def _entities(value) -> tuple[str, ...]:
    from assets.extraction.contract import ENTITIES  # noqa: PLC0415 - contract imports nothing of ours

    if not isinstance(value, list) or any(v not in ENTITIES for v in value):
        raise _Bad(f"expected a list of entities among {', '.join(ENTITIES)}")
    return tuple(value)


_RATE = _number(0, 1)

# key in retention.yml -> (QualityConfig field, parser). Keys that take a
# mapping (severity, freshness_lag_days, quarantine_rate) are handled below.
SCALAR_KEYS: dict[str, Callable[[Any], Any]] = {
    "row_error_rate": _RATE,
    "raw_volume_band": _band,
    "mart_volume_band": _band,
    "daily_window_weeks": _number(1, 52, integer=True),
    "daily_min_typical_records": _number(1, integer=True),
    "no_empty_day_entities": _entities,
    "empty_run_days": _number(1, integer=True),
    "daily_spike_factor": _number(1, above=True),
    "daily_spike_entities": _entities,
    "closed_weekdays": _weekdays,
    "closed_days": _dates,
    "other_value_max_rate": _RATE,
    "conflict_max_rows": _number(0, integer=True),
    "quarantine_min_rows": _number(1, integer=True),
    "revenue_tolerance_cents": _number(0, integer=True),
    "subtotal_tolerance": _number(0),
    "subtotal_mismatch_max_rate": _RATE,
}
MAPPING_KEYS = ("severity", "freshness_lag_days", "quarantine_rate")
if tuple(sorted((*SCALAR_KEYS, *MAPPING_KEYS))) != USER_KEYS:
    raise ValueError("shop_config: the keys parsed here differ from config.USER_KEYS (the keys setting hints name)")


def quality_config(
    section: Mapping[str, Any] | None,
    source: str = "retention.yml",
    base: QualityConfig = DEFAULT_CONFIG,
    known_rules: Mapping[str, str] | None = None,
) -> QualityConfig:
    """`base` with the overrides of a `quality` section; UserConfigError names the file and the key.

    `known_rules` ("<suite>.<rule_id>" -> kind, for every suite) lets a
    severity key name a rule; without it the suites are built to learn them.
    """
    from assets.user_config import UserConfigError  # noqa: PLC0415

    def fail(key: str, value: Any, expected: str) -> UserConfigError:
        return UserConfigError(f"{source}: quality.{key} = {value!r}: {expected}")

    section = dict(section or {})
    unknown = sorted(set(section) - set(USER_KEYS), key=str)
    if unknown:
        raise UserConfigError(f"{source}: quality.{unknown[0]}: unknown key; known keys: {', '.join(USER_KEYS)}")
    changes: dict[str, Any] = {}
    for key, parse in SCALAR_KEYS.items():
        if key in section:
            try:
                changes[key] = parse(section[key])
            except _Bad as exc:
                raise fail(key, section[key], str(exc)) from None

    def mapping(key: str) -> dict:
        value = section.get(key) or {}
        if not isinstance(value, dict):
            raise fail(key, value, "expected a mapping")
        return value

    changes["freshness_lag_days"] = _freshness_lags(mapping("freshness_lag_days"), base, fail)
    changes["quarantine_rate_warn"], changes["quarantine_rate_error"] = _quarantine_rates(
        section, mapping("quarantine_rate"), base, fail
    )
    changes["severity_overrides"], changes["default_severity"] = _severities(
        mapping("severity"), base, known_rules, fail
    )
    return replace(base, **changes)


# Builds the error quality_config raises: the file, the key, the value and what was expected.
_Fail = Callable[[str, Any, str], Exception]


def _freshness_lags(user_lags: dict, base: QualityConfig, fail: _Fail) -> dict[str, int]:
    lags = dict(base.freshness_lag_days)
    for entity, days in user_lags.items():
        if entity not in lags:
            raise fail(f"freshness_lag_days.{entity}", days, f"expected an entity among {', '.join(lags)}")
        try:
            lags[entity] = _number(0, integer=True)(days)
        except _Bad as exc:
            raise fail(f"freshness_lag_days.{entity}", days, str(exc)) from None
    return lags


def _quarantine_rates(section: dict, user_rates: dict, base: QualityConfig, fail: _Fail) -> tuple[float, float]:
    rates = {"warn": base.quarantine_rate_warn, "error": base.quarantine_rate_error}
    for level, rate in user_rates.items():
        if level not in rates:
            raise fail(f"quarantine_rate.{level}", rate, "expected keys warn and error")
        try:
            rates[level] = _RATE(rate)
        except _Bad as exc:
            raise fail(f"quarantine_rate.{level}", rate, str(exc)) from None
    if rates["warn"] > rates["error"]:
        raise fail("quarantine_rate", section["quarantine_rate"], "expected warn <= error")
    return rates["warn"], rates["error"]


def _severities(user_sev: dict, base: QualityConfig, known_rules: Mapping[str, str] | None,
                fail: _Fail) -> tuple[MappingProxyType, MappingProxyType]:
    """(severity overrides, default severity per kind) with the user's `severity` section applied."""
    severities = dict(base.severity_overrides)
    default = dict(base.default_severity)
    if user_sev and known_rules is None:
        known_rules = {f"{s.name}.{r.id}": r.kind for s in all_suites(base).values() for r in s.rules}
    known_rules = known_rules or {}
    kind_of = {**{k.split(".", 1)[1]: v for k, v in known_rules.items()}, **known_rules}
    for name, value in user_sev.items():
        try:
            level = _severity(value)
        except _Bad as exc:
            raise fail(f"severity.{name}", value, str(exc)) from None
        if name not in RULE_KINDS and name not in kind_of:
            raise fail(f"severity.{name}", value,
                       "expected a rule kind (" + ", ".join(RULE_KINDS) + "), a rule id or <suite>.<rule_id>")
        if name in RULE_KINDS:
            default[name] = level
        if name in kind_of:  # "freshness" is a kind and a rule id: both follow
            severities[name] = level
    # What the user sets covers the built-in per-rule defaults beneath it: a
    # kind every rule of the kind, a rule id that rule in every suite.
    user_kinds = {n for n in user_sev if n in RULE_KINDS}

    def covered(key: str) -> bool:
        return kind_of.get(key) in user_kinds or key.split(".", 1)[-1] in user_sev

    severities = {k: v for k, v in severities.items() if k in user_sev or not covered(k)}
    return MappingProxyType(severities), MappingProxyType(default)
