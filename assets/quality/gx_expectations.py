"""The project's own Great Expectations expectations: promises the gallery has no expectation for.

- `ExpectMartRevenueToMatchStaging`: a mart's total net revenue = the staging total;
- `ExpectNewDaysToMatchWeekdayVolume`: no day a run brought far above the same weekday's typical volume;
- `ExpectNoEmptyNewDays`: no empty day (or run of empty days) a run brought where the weekday is normally busy;
- `ExpectQuarantineRateToBeAtMost`: the share of the rows read that the loader quarantined.

Written at GX's documented extension point for SQL, a subclass of
`UnexpectedRowsExpectation` whose `unexpected_rows_query` (built from the
expectation's own arguments) reads the batch (`{batch}`) and returns the rows
that break the promise; GX runs it on the data source (DuckDB computes it)
and the expectation passes when it returns none. The judgement (the
threshold, the comparison) is the expectation's: the suites' frames
(`days.daily_sql`, `frame_sql.quarantine_sql`) only count. `_validate` is overridden,
as GX's docstring invites, so that a SUMMARY result carries the first
unexpected rows (GX's own keeps them for COMPLETE only): the console names
what broke the promise (the totals, the days, the rate).

Importing this module registers the expectations with GX (by their snake
case type, e.g. `expect_mart_revenue_to_match_staging`); `gx_suite` imports
it when a rule names one of them.
"""

from __future__ import annotations

from typing import Any, Optional

from great_expectations.compatibility import pydantic
from great_expectations.expectations import UnexpectedRowsExpectation

# Unexpected rows a SUMMARY result keeps (the audit keeps max_examples of them).
KEPT_ROWS = 20


def revenue_query(column: str, reference_table: str, reference_column: str, tolerance_cents: int,
                  mart_filter: str | None, part_column: str = "_frame", part: str = "rows") -> str:
    where = f"{part_column} = '{part}'" + (f" AND ({mart_filter})" if mart_filter else "")
    cents = "CAST(ROUND(COALESCE(total, 0) * 100) AS BIGINT)"
    return f"""
WITH mart AS (SELECT {cents} AS cents FROM (SELECT SUM({column}) AS total FROM {{batch}} WHERE {where}) m),
reference AS (SELECT {cents} AS cents
              FROM (SELECT SUM({reference_column}) AS total FROM {reference_table} WHERE grain = 'month') r)
SELECT mart.cents - reference.cents AS revenue_diff_cents, mart.cents AS mart_net_revenue_cents,
       reference.cents AS staging_net_revenue_cents
FROM mart, reference
WHERE ABS(mart.cents - reference.cents) > {int(tolerance_cents)}
"""


def unexpected_rows_summary(metrics: dict) -> dict:
    """GX's verdict (no unexpected row), with the first unexpected rows: the first as the observed value."""
    rows = list(metrics["unexpected_rows_query.table"] or [])[:KEPT_ROWS]
    count = metrics["unexpected_rows_query.row_count"]
    # (the count stays under `details`: GX's Data Docs renderer reads a top-level `unexpected_count` as a map
    # expectation's and then wants its `unexpected_percent`)
    return {
        "success": count == 0,
        "result": {
            "observed_value": dict(rows[0]) if rows else count,
            "details": {"unexpected_rows": [dict(r) for r in rows], "unexpected_row_count": count},
        },
    }


class _FramePartExpectation(UnexpectedRowsExpectation):
    """An expectation on one part of a suite's batch (`part_column` = `part`): a frame of DuckDB aggregates.

    Subclasses name the part they read by default and build the query from
    their arguments (`_query`); the SUMMARY result keeps the first unexpected
    rows (`unexpected_rows_summary`), the first as the observed value.
    """

    part_column: str = "_frame"
    part: str = ""
    unexpected_rows_query: str = ""

    @pydantic.root_validator(pre=True)
    def _build_query(cls, values: dict[str, Any]) -> dict[str, Any]:
        if not values.get("unexpected_rows_query"):
            values.setdefault("part_column", cls.__fields__["part_column"].default)
            values.setdefault("part", cls.__fields__["part"].default)
            try:
                values["unexpected_rows_query"] = cls._query(values)
            except (KeyError, TypeError, ValueError):
                pass  # a missing or malformed argument: pydantic's field validation names it
        return values

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        raise NotImplementedError

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None):
        return unexpected_rows_summary(metrics)


class ExpectMartRevenueToMatchStaging(_FramePartExpectation):
    """A mart's total net revenue equals an independent staging total, to `tolerance_cents`.

    The mart's total is the sum of `column` over the batch's rows (those
    matching `mart_filter`, e.g. `cohort = 'all'`); the reference is the sum
    of `reference_column` over the rows of `reference_table` whose `grain` is
    'month' (the quality run's restatement of the qualifying staging orders).
    Both are compared in whole cents; the unexpected row shows the difference
    and both totals.
    """

    column: str
    reference_table: str
    reference_column: str
    tolerance_cents: int = 0
    mart_filter: Optional[str] = None
    part: str = "rows"
    description: str = "The mart's total net revenue equals the staging total, to the cent."

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        return revenue_query(values["column"], values["reference_table"], values["reference_column"],
                             int(values.get("tolerance_cents", 0)), values.get("mart_filter"),
                             values["part_column"], values["part"])


class _DailyFrameExpectation(_FramePartExpectation):
    """On the daily frame (`days.daily_sql`, one row per day): the observed value counts and names the days."""

    part: str = "daily"

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None):
        # (Data Docs shows the observed value; the rows stay under details)
        out = unexpected_rows_summary(metrics)
        details = out["result"]["details"]
        out["result"]["observed_value"] = {
            "unexpected_days": details["unexpected_row_count"],
            "days": [str(r["day"])[:10] for r in details["unexpected_rows"]]}
        return out


def _in_part(values: dict[str, Any]) -> str:
    return f"{values['part_column']} = '{values['part']}'"


class ExpectNewDaysToMatchWeekdayVolume(_DailyFrameExpectation):
    """No day a run brought has more than `max_ratio` x the median volume of the same weekday.

    Reads the daily frame (`days.daily_sql`): one row per day with its
    `records` and the weekday's `weekday_median` over the last weeks of
    validated history; `records_on_busy_days` is set on the new days whose
    weekday is normally busy (the days judged). Each unexpected row is a
    day with its records, the median and the ratio.
    """

    max_ratio: float
    description: str = "No day this run brought is far above the same weekday's typical volume."

    @pydantic.validator("max_ratio")
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"max_ratio = {v}: expected a ratio above 0")
        return v

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        ratio = "records_on_busy_days::DOUBLE / weekday_median"
        return f"""
SELECT day, records, weekday_median, {ratio} AS ratio_to_weekday_median
FROM {{batch}}
WHERE {_in_part(values)} AND records_on_busy_days IS NOT NULL AND weekday_median > 0
  AND {ratio} > {float(values["max_ratio"])!r}
ORDER BY day
"""


class ExpectNoEmptyNewDays(_DailyFrameExpectation):
    """No `min_run_days` or more consecutive empty days among the days a run brought where records were due.

    Reads the daily frame (`days.daily_sql`): `records_on_busy_days` is set on
    the new days whose weekday is normally busy (closed and usual-closure days
    are not judged), `empty_run_days` on each empty one is the length of its
    run of empty judged days (the days not judged neither break nor extend a
    run). With `min_run_days` = 1 every empty judged day is unexpected. Each
    unexpected row is a day with its weekday median and, for runs, the run's
    length.
    """

    min_run_days: int = 1
    description: str = "No empty day among the days this run brought where the same weekday is normally busy."

    @pydantic.validator("min_run_days")
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"min_run_days = {v}: expected a whole number of days, at least 1")
        return v

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        n = int(values.get("min_run_days", 1))
        shown = "records_on_busy_days" if n == 1 else "empty_run_days"
        return f"""
SELECT day, weekday_median, {shown}
FROM {{batch}}
WHERE {_in_part(values)} AND records_on_busy_days = 0 AND empty_run_days >= {n}
ORDER BY day
"""


class ExpectQuarantineRateToBeAtMost(_FramePartExpectation):
    """Quarantined rows / rows read (loaded + quarantined) is at most `max_rate`.

    Reads the quarantine frame (`frame_sql.quarantine_sql`: one row per
    entity). Judged only from `min_quarantined_rows` quarantined rows on: a
    handful of rows says nothing about an export, whatever their share. The
    unexpected row carries the rate, the counts and the most frequent reasons.
    """

    max_rate: float
    min_quarantined_rows: int = 0
    part: str = "quarantine"
    description: str = "At most a small share of the rows read were quarantined by the loader."

    @pydantic.validator("max_rate")
    def _a_share(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"max_rate = {v}: expected a share between 0 and 1")
        return v

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        rate = "quarantined_rows::DOUBLE / rows_read"
        return f"""
SELECT {rate} AS quarantine_rate, quarantined_rows, rows_read, top_reasons
FROM {{batch}}
WHERE {_in_part(values)} AND rows_read > 0 AND quarantined_rows >= {int(values.get("min_quarantined_rows", 0))}
  AND {rate} > {float(values["max_rate"])!r}
"""

