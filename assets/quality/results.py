"""What a suite validation produced: one result per rule, one run per suite.

Plain data shared by the engine (which fills it, with Great Expectations) and
the audit tables (which store it); neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .config import ERROR, WARN
from .suites import Suite


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
