"""The project's own Great Expectations expectations: promises the gallery has no expectation for.

Written at GX's documented extension point for SQL, a subclass of
`UnexpectedRowsExpectation` whose `unexpected_rows_query` (built from the
expectation's own arguments) reads the batch (`{batch}`) and returns the rows
that break the promise; GX runs it on the data source (DuckDB computes it)
and the expectation passes when it returns none. `_validate` is overridden,
as GX's docstring invites, so that a SUMMARY result carries the first
unexpected rows (GX's own keeps them for COMPLETE only): the console names
the totals that differ.

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


class ExpectMartRevenueToMatchStaging(UnexpectedRowsExpectation):
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
    part_column: str = "_frame"
    part: str = "rows"
    unexpected_rows_query: str = ""
    description: str = "The mart's total net revenue equals the staging total, to the cent."

    @pydantic.root_validator(pre=True)
    def _build_query(cls, values: dict[str, Any]) -> dict[str, Any]:
        if not values.get("unexpected_rows_query"):
            values["unexpected_rows_query"] = revenue_query(
                values["column"], values["reference_table"], values["reference_column"],
                int(values.get("tolerance_cents", 0)), values.get("mart_filter"),
                values.get("part_column", "_frame"), values.get("part", "rows"))
        return values

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None):
        return unexpected_rows_summary(metrics)


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
