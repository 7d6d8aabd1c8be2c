"""The audiences' thresholds: section `audiences` of the shop's retention.yml, turned into dbt vars.

The rules themselves are SQL (dbt_project/macros/audiences.sql, documented
in dbt_project/docs/metrics.md); their defaults are the vars of
dbt_project/yml. This module only knows each key's name, kind and range, so
a shop's override is checked here (every bad key in one line naming the file
and key) before dbt ever runs, and passed as `--vars` (assets/run_state.py `dbt_vars`).

    audiences:
      win_back:
        max_p_alive: 0.25
      cart_recovery:
        within_hours: 48
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assets.user_config import UserConfigError, section, source_of

DBT_PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"

SECTION = "audiences"
AUDIENCES = (
    "second_order_nudge",
    "due_for_next_order",
    "win_back",
    "vip_at_risk",
    "cart_recovery",
    "after_bad_support",
)


@dataclass(frozen=True)
class Threshold:
    kind: type  # int or float
    low: float
    high: float | None  # None: no upper bound
    help: str

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {value!r}"
        if self.kind is int and not float(value).is_integer():
            return f"expected a whole number, got {value!r}"
        if value < self.low or (self.high is not None and value > self.high):
            upper = f"{self.high}" if self.high is not None else "..."
            return f"expected {self.low}..{upper} ({self.help}), got {value!r}"
        return None


# (audience, key) -> threshold; the dbt var is audience_<audience>__<key>.
THRESHOLDS: dict[tuple[str, str], Threshold] = {
    ("second_order_nudge", "window_low_percentile"): Threshold(float, 0, 1, "percentile of days to a second order"),
    ("second_order_nudge", "window_high_percentile"): Threshold(float, 0, 1, "percentile of days to a second order"),
    ("second_order_nudge", "min_second_orders"): Threshold(int, 1, None, "second orders needed to know the window"),
    ("due_for_next_order", "within_days"): Threshold(int, 1, 365, "days ahead"),
    ("win_back", "max_p_alive"): Threshold(float, 0, 1, "a probability"),
    ("win_back", "gap_multiple"): Threshold(float, 1, None, "times the customer's usual gap"),
    ("win_back", "min_value_share"): Threshold(float, 0, 1, "top share of customers by net revenue"),
    ("win_back", "min_days_since_last_order"): Threshold(int, 0, None, "days"),
    ("vip_at_risk", "top_share"): Threshold(float, 0, 1, "top share of customers by predicted CLV"),
    ("cart_recovery", "within_hours"): Threshold(int, 24, 24 * 60, "hours, whole days are compared"),
    ("after_bad_support", "lookback_days"): Threshold(int, 1, 365, "days"),
    ("after_bad_support", "low_csat_max"): Threshold(int, 1, 5, "a CSAT score"),
    ("after_bad_support", "slow_resolution_hours"): Threshold(float, 0, None, "hours"),
}


def var_name(audience: str, key: str) -> str:
    """The dbt var of one threshold."""
    return f"audience_{audience}__{key}"


@lru_cache(maxsize=1)
def default_vars() -> dict[str, Any]:
    """The thresholds' defaults: the audience_* vars of dbt_project.yml."""
    project = yaml.safe_load(DBT_PROJECT_FILE.read_text(encoding="utf-8"))
    return {k: v for k, v in project["vars"].items() if k.startswith("audience_")}


def audience_vars(user_config: dict[str, Any]) -> dict[str, Any]:
    """The dbt vars a shop's `audiences` section sets ({} without one); raises UserConfigError on a bad key."""
    where = f"{source_of(user_config)}: {SECTION}"
    problems, out = [], {}
    for audience, keys in section(user_config, SECTION).items():
        if audience not in AUDIENCES:
            problems.append(f"{where}.{audience}: unknown audience; known: {', '.join(AUDIENCES)}")
            continue
        if not isinstance(keys, dict):
            problems.append(f"{where}.{audience}: expected a mapping of thresholds, got {type(keys).__name__}")
            continue
        for key, value in keys.items():
            threshold = THRESHOLDS.get((audience, key))
            if threshold is None:
                known = ", ".join(k for a, k in THRESHOLDS if a == audience)
                problems.append(f"{where}.{audience}.{key}: unknown threshold; known: {known}")
            elif (problem := threshold.problem(value)) is not None:
                problems.append(f"{where}.{audience}.{key}: {problem}")
            else:
                out[var_name(audience, key)] = threshold.kind(value)
    merged = {**default_vars(), **out}
    low = merged[var_name("second_order_nudge", "window_low_percentile")]
    high = merged[var_name("second_order_nudge", "window_high_percentile")]
    if low >= high:
        problems.append(f"{where}.second_order_nudge: window_low_percentile ({low}) must be below "
                        f"window_high_percentile ({high})")
    if problems:
        raise UserConfigError("; ".join(problems))
    return out
