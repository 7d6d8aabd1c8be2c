"""What a suite validation produced: one result per rule, one run per suite.

Plain data shared by the engine (which fills it, with Great Expectations) and
the audit tables (which store it); neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .config import ERROR, WARN, setting_hint
from .rules import Suite


@dataclass
class RuleResult:
    rule_id: str
    kind: str
    expectation: str  # GX expectation type, e.g. expect_column_values_to_be_in_set
    column: str | None
    success: bool
    severity: str
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    examples: list = field(default_factory=list)
    description: str = ""
    exception: str | None = None


@dataclass
class SuiteRun:
    suite: Suite
    run_id: str
    results: list[RuleResult]
    row_count: int | None
    rows_validated: int
    chunks: int
    seconds: float
    as_of: date | None
    validated_at: datetime
    data_docs: str | None = None
    # Set when the suite's rules did not run (an entity the shop does not track).
    note: str | None = None
    # Row rules covered the rows loaded after `validated_since` (None: every row)
    # up to `loaded_through`, the table's newest load stamp (raw suites).
    validated_since: datetime | None = None
    loaded_through: datetime | None = None
    # No earlier successful validation: the loaded rows are history the loader
    # judged; the row rules covered only rows without a load stamp.
    first_validation: bool = False
    # Row rules left out of the validation: no row in their scope.
    rules_not_run: int = 0
    # The days of the table's time column this validation covered (raw suites):
    # the next run judges the days after `days_through`.
    days_from: date | None = None
    days_through: date | None = None

    @property
    def row_scope(self) -> str:
        """Which rows the row rules judge, in words."""
        if self.first_validation:
            return ("first validation: the history loaded was judged row by row by the loader and is not "
                    "re-verified; rows loaded from now on are")
        return f"rows loaded after {self.validated_since}" if self.validated_since else "every row"

    @property
    def row_rules_text(self) -> str:
        if self.rules_not_run:
            return f"{self.rules_not_run} row rules not run, no row to judge ({self.row_scope})"
        return f"row rules over {self.rows_validated:,} of {self.row_count or 0:,} rows ({self.row_scope})"

    def failed(self, severity: str | None = None) -> list[RuleResult]:
        return [r for r in self.results if not r.success and (severity is None or r.severity == severity)]

    @property
    def passed(self) -> bool:
        """No ERROR expectation failed (WARN failures do not stop the run)."""
        return not self.failed(ERROR)

    @property
    def severity(self) -> str | None:
        if self.failed(ERROR):
            return ERROR
        if self.failed(WARN):
            return WARN
        return None

    def result(self, rule_id: str) -> RuleResult:
        for r in self.results:
            if r.rule_id == rule_id:
                return r
        raise KeyError(rule_id)

    def failure_lines(self) -> list[tuple[str, str]]:
        """(severity, text) for every failed rule, ERROR first: what a person reads on the console."""
        failed = sorted(self.failed(), key=lambda r: (r.severity != ERROR, r.kind, r.rule_id))
        return [(r.severity, line) for r in failed for line in failure_text(self.suite.name, r)]

    def history_lines(self) -> list[str]:
        """The history's description when it found no gap but closed weekdays (failed rules print their own)."""
        found = [r for r in self.results if r.rule_id == "history_gaps" and r.success]
        return history_text(self.suite.name, found[0]) if found else []

    def failures_markdown(self, limit: int = 50) -> str:
        if self.note:
            return f"`{self.suite.name}`: {self.note}."
        failed = sorted(self.failed(), key=lambda r: (r.severity != ERROR, r.kind, r.rule_id))
        if not failed:
            return f"All {len(self.results)} expectations of `{self.suite.name}` passed."
        lines = [
            "| severity | rule | expectation | column | observed | unexpected | examples |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in failed[:limit]:
            observed = r.exception or _short(r.observed_value)
            lines.append(
                f"| {r.severity} | {r.kind}: `{r.rule_id}` | `{r.expectation}` | {r.column or ''} | "
                f"{_md(observed)} | {'' if r.unexpected_count is None else r.unexpected_count} | "
                f"{_md(_short(r.examples))} |"
            )
        if len(failed) > limit:
            lines.append(f"| | ... {len(failed) - limit} more | | | | | |")
        return "\n".join(lines)


def _short(value: Any, width: int = 160) -> str:
    if value is None or value == []:
        return ""
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# Examples named on the console per failed rule (the audit keeps max_examples).
CONSOLE_EXAMPLES = 5


def failure_text(suite: str, r: RuleResult) -> list[str]:
    """A failed rule in a line a person can act on: suite, rule, severity, how many, first examples, the setting.

    ERROR: what failed, how many rows or days, the first examples, the
    `retention.yml` key that changes it. WARN: one line, plus the
    `retention.yml` lines a history description suggests. Works on a
    `RuleResult` rebuilt from `audit.validation_results` as well.
    """
    observed = r.observed_value if isinstance(r.observed_value, dict) else {}
    examples = [e for e in (r.examples or []) if e is not None]
    days = [str(e["day"])[:10] for e in examples if isinstance(e, dict) and e.get("day")]
    head = f"{r.severity} {suite}.{r.rule_id}"
    if r.exception:
        return [f"{head}: could not be evaluated: {_short(r.exception, 200)}"]
    extra: list[str] = []
    if "history_gap_days" in observed or "history_spike_days" in observed:
        n = observed.get("history_gap_days", observed.get("history_spike_days"))
        what = "empty busy day(s)" if "history_gap_days" in observed else "spike day(s)"
        detail = observed.get("gap_stretches") or observed.get("spike_examples") or ""
        body = f"{n} {what} in the history loaded ({_span(observed)}), described, not blocking: {detail}"
        extra = _paste(observed.get("suggested_config"))
    elif days:
        total = r.unexpected_count if r.unexpected_count is not None else len(days)
        shown = [_day_example(e) for e in examples[:CONSOLE_EXAMPLES]]
        more = f" and {total - len(shown)} more" if total > len(shown) else ""
        body = f"{total} day(s): {', '.join(shown)}{more}"
    elif any(k.startswith("freshness_lag_") for k in observed):
        unit = next(k for k in observed if k.startswith("freshness_lag_")).removeprefix("freshness_lag_")
        lag = observed[f"freshness_lag_{unit}"]
        body = (f"the newest record is of {str(observed.get('newest_date'))[:10]}, {lag} {unit} before the as-of "
                f"date {str(observed.get('as_of_date'))[:10]}")
    elif observed:
        body = ", ".join(f"{k} {_short(v, 80)}" for k, v in observed.items())
    else:
        body = _short(r.observed_value, 120) or ""
        if r.unexpected_count:
            shown = ", ".join(_short(e, 40) for e in examples[:CONSOLE_EXAMPLES])
            body = f"{r.unexpected_count:,} of {r.element_count or 0:,} rows" + (f", e.g. {shown}" if shown else "")
    line = f"{head}: {body}"
    if r.severity == ERROR:
        line += f" - {r.description}" if r.description else ""
        line += f". To change it: {setting_hint(suite, r.rule_id, r.kind, r.severity, days)}"
    return [line, *extra]


# Columns of the daily frame as a person reads them next to a day.
_DAY_LABELS = {"records": "records", "weekday_median": "weekday median", "empty_run_days": "empty days in a row",
               "ratio_to_weekday_median": "x the weekday median", "records_on_busy_days": "records"}


def history_text(suite: str, r: RuleResult) -> list[str]:
    """A passed `history_gaps` that still suggests lines (a weekday always closed): an INFO note, else nothing."""
    observed = r.observed_value if isinstance(r.observed_value, dict) else {}
    lines = _paste(observed.get("suggested_config"))
    if not lines:
        return []
    return [f"{suite}: the history loaded ({_span(observed)}) has no unexplained gap", *lines]


def _span(observed: dict) -> str:
    return f"{str(observed.get('history_from'))[:10]}..{str(observed.get('history_through'))[:10]}"


def _paste(suggested: Any) -> list[str]:
    """`retention.yml` lines a history description suggests, indented under `quality:`, ready to paste."""
    if not suggested:
        return []
    return ["  to describe its closures, add to retention.yml:", "    quality:",
            *(f"      {line}" for line in str(suggested).splitlines())]


def _day_example(example: dict) -> str:
    labels = {}
    for k, v in example.items():
        if k != "day" and v is not None:
            labels.setdefault(_DAY_LABELS.get(k, k.replace("_", " ")), _number(v))
    parts = [f"{label} {v}" if not label.startswith("x ") else f"{v}{label}" for label, v in labels.items()]
    return str(example["day"])[:10] + (f" ({', '.join(parts)})" if parts else "")


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
