"""Row rules as one DuckDB aggregate per suite: GX's counts, computed where the data is.

A row rule (`Rule.frame == ROWS`) whose expectation has a translation here
(not null, in set, between, A >= B, unique, compound unique) is not handed to
Great Expectations row by row. DuckDB computes, for the rows in scope (all
rows, or those loaded since the suite's last successful validation), what GX
would count: `element_count`, `missing_count` (the rows the expectation
ignores), `unexpected_count`; and, for a rule that found unexpected rows, a
few examples and their counts. GX then validates the small frame of shares
(`share_frame`) and gives every verdict (`tolerance`: 0, or `1 - mostly`).

The SQL mirrors GX's pandas semantics, so the reported results stay those of
a GX row batch (`test_row_rules_in_duckdb_match_gx_on_pandas`):

- not null: no missing rows, a null is unexpected;
- in set / between / unique: a null is missing (ignored);
- A >= B (`ignore_row_if="either_value_is_missing"`): a row with a null in
  either column is missing;
- compound unique: a row is missing only when every column is null; nulls
  compare equal (pandas `duplicated`).

Uniqueness is judged against the whole table even when only new rows are in
scope: a new row whose key an older row already holds is unexpected.

No module here imports Great Expectations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assets.warehouse import quote_ident, quote_literal

from .rules import A_GREATER_THAN_B, BETWEEN, COMPOUND_UNIQUE, IN_SET, NOT_NULL, ROWS, UNIQUE, Rule, Suite


# The arguments each translation honours; a rule with any other is left to GX.
_SUPPORTED: dict[str, set[str]] = {
    NOT_NULL: {"column", "mostly"},
    IN_SET: {"column", "value_set", "mostly"},
    BETWEEN: {"column", "min_value", "max_value", "strict_min", "strict_max", "mostly"},
    A_GREATER_THAN_B: {"column_A", "column_B", "or_equal", "ignore_row_if", "mostly"},
    UNIQUE: {"column", "mostly"},
    COMPOUND_UNIQUE: {"column_list", "mostly"},
}


q = quote_ident


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return quote_literal(str(value))


@dataclass(frozen=True)
class RowCheck:
    """One row rule in SQL: which rows it ignores, which break it, what an example shows."""

    rule: Rule
    index: int
    missing: str | None  # predicate: the row is ignored (GX's missing); None: never
    bad: str  # predicate: the row is unexpected
    values: tuple[str, ...]  # columns an example shows
    dup_cte: str | None = None  # name of the duplicated-keys CTE (uniqueness rules)

    @property
    def tolerance(self) -> float:
        """Largest share of unexpected rows that passes (GX `mostly`)."""
        mostly = self.rule.kwargs.get("mostly")
        # the epsilon absorbs 1 - mostly not being exact in binary (0.001 vs 1 - 0.999)
        return 0.0 if mostly is None else (1.0 - float(mostly)) + 1e-9


def translatable(rule: Rule) -> bool:
    allowed = _SUPPORTED.get(rule.expectation)
    if rule.frame != ROWS or allowed is None or not set(rule.kwargs) <= allowed:
        return False
    if rule.expectation == A_GREATER_THAN_B:
        return rule.kwargs.get("ignore_row_if", "both_values_are_missing") == "either_value_is_missing"
    return True


def row_check(rule: Rule, index: int) -> RowCheck:
    k = rule.kwargs
    e = rule.expectation
    if e == NOT_NULL:
        return RowCheck(rule, index, None, f"{q(k['column'])} IS NULL", (k["column"],))
    if e == IN_SET:
        c = q(k["column"])
        values = ", ".join(literal(v) for v in k["value_set"])
        bad = f"{c} IS NOT NULL AND {c} NOT IN ({values})" if values else f"{c} IS NOT NULL"
        return RowCheck(rule, index, f"{c} IS NULL", bad, (k["column"],))
    if e == BETWEEN:
        c = q(k["column"])
        ok = []
        if k.get("min_value") is not None:
            ok.append(f"{c} {'>' if k.get('strict_min') else '>='} {literal(k['min_value'])}")
        if k.get("max_value") is not None:
            ok.append(f"{c} {'<' if k.get('strict_max') else '<='} {literal(k['max_value'])}")
        bad = f"{c} IS NOT NULL AND NOT ({' AND '.join(ok) or 'true'})"
        return RowCheck(rule, index, f"{c} IS NULL", bad, (k["column"],))
    if e == A_GREATER_THAN_B:
        a, b = q(k["column_A"]), q(k["column_B"])
        op = ">=" if k.get("or_equal") else ">"
        missing = f"({a} IS NULL OR {b} IS NULL)"
        return RowCheck(rule, index, missing, f"NOT {missing} AND NOT ({a} {op} {b})",
                        (k["column_A"], k["column_B"]))
    if e in (UNIQUE, COMPOUND_UNIQUE):
        cols = (k["column"],) if e == UNIQUE else tuple(k["column_list"])
        cte = f"_dup{index}"
        missing = " AND ".join(f"{q(c)} IS NULL" for c in cols)
        bad = f"NOT ({missing}) AND _dup{index}._hit IS NOT NULL"
        return RowCheck(rule, index, f"({missing})" if e == COMPOUND_UNIQUE else missing, bad, cols, cte)
    raise ValueError(f"rowsql.row_check: rule {rule.id!r} uses {e}, which has no DuckDB translation")


def scope_sql(column: str | None, since_param: str = "since") -> str:
    """Rows in scope: all (no load stamp), or those stamped after `$since` (NULL: all; an unstamped row: always)."""
    if column is None:
        return "true"
    c = q(column)
    return f"(${since_param}::TIMESTAMP IS NULL OR {c} IS NULL OR {c} > ${since_param}::TIMESTAMP)"


def _from_clause(suite: Suite, checks: list[RowCheck], scope: str, incremental: bool) -> str:
    """`WITH ...` CTEs and the FROM clause over the scoped rows, joined to the duplicated keys."""
    cols = list(dict.fromkeys([*suite.key, *(c for ch in checks for c in ch.values)]))
    ctes = [f"scoped AS (SELECT {', '.join(q(c) for c in cols)} FROM {suite.table} WHERE {scope})"]
    joins = []
    for ch in checks:
        if ch.dup_cte is None:
            continue
        # the key columns renamed (_k0, _k1, ...) so the rules' unqualified predicates stay unambiguous
        keys = ", ".join(f"{q(c)} AS _k{j}" for j, c in enumerate(ch.values))
        group = ", ".join(f"_k{j}" for j in range(len(ch.values)))
        not_all_null = " AND ".join(f"{q(c)} IS NULL" for c in ch.values)
        if incremental:
            # only the keys the new rows hold, counted over the whole table
            on = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM s.{q(c)}" for c in ch.values)
            source = f"(SELECT t.* FROM {suite.table} t SEMI JOIN scoped s ON {on})"
        else:
            source = suite.table
        ctes.append(f"{ch.dup_cte} AS (SELECT {keys}, true AS _hit FROM {source} "
                    f"WHERE NOT ({not_all_null}) GROUP BY {group} HAVING count(*) > 1)")
        on = " AND ".join(f"scoped.{q(c)} IS NOT DISTINCT FROM {ch.dup_cte}._k{j}" for j, c in enumerate(ch.values))
        joins.append(f"LEFT JOIN {ch.dup_cte} ON {on}")
    return "WITH " + ",\n".join(ctes) + "\nFROM scoped " + " ".join(joins)


def counts_sql(suite: Suite, checks: list[RowCheck], scope: str, incremental: bool) -> str:
    """One row: `element_count` and, per check i, `missing_i` and `unexpected_i` over the scoped rows."""
    parts = ["count(*)::BIGINT AS element_count"]
    for ch in checks:
        if ch.missing is not None:
            parts.append(f"(count(*) FILTER (WHERE {ch.missing}))::BIGINT AS missing_{ch.index}")
        parts.append(f"(count(*) FILTER (WHERE {ch.bad}))::BIGINT AS unexpected_{ch.index}")
    return f"{_from_clause(suite, checks, scope, incremental)}\nSELECT {', '.join(parts)}"


def examples_sql(suite: Suite, check: RowCheck, scope: str, incremental: bool,
                 limit: int) -> str:
    """The first `limit` unexpected rows of one check (in key order): the values it shows."""
    vals = ", ".join(f"scoped.{q(c)}" for c in check.values)
    order = ", ".join(f"scoped.{q(c)}" for c in dict.fromkeys([*check.values, *suite.key]))
    return (f"{_from_clause(suite, [check], scope, incremental)}\nSELECT {vals} WHERE {check.bad} "
            f"ORDER BY {order} LIMIT {int(limit)}")


def value_counts_sql(suite: Suite, check: RowCheck, scope: str, incremental: bool,
                     limit: int) -> str:
    """The `limit` most frequent unexpected values of one check, with their counts."""
    vals = ", ".join(f"scoped.{q(c)}" for c in check.values)
    return (f"{_from_clause(suite, [check], scope, incremental)}\nSELECT {vals}, count(*) AS _n WHERE {check.bad} "
            f"GROUP BY ALL ORDER BY _n DESC, {vals} LIMIT {int(limit)}")


def example_value(check: RowCheck, row: dict) -> Any:
    """An unexpected row shown as GX shows it: the value, [A, B] for a pair, {col: value} for compound keys."""
    e = check.rule.expectation
    if e == A_GREATER_THAN_B:
        return [row[c] for c in check.values]
    if e == COMPOUND_UNIQUE:
        return {c: row[c] for c in check.values}
    return row[check.values[0]]


def gx_result(check: RowCheck, element_count: int, missing: int, unexpected: int, examples: list,
              value_counts: list[dict]) -> dict:
    """The `result` of a GX SUMMARY row batch for these counts (same keys, same percentages)."""
    pct = (lambda part, whole: 100.0 * part / whole if whole else 0.0)
    if check.missing is None:  # not null: GX reports no missing rows
        return {"element_count": element_count, "unexpected_count": unexpected,
                "unexpected_percent": pct(unexpected, element_count),
                "partial_unexpected_list": examples, "partial_unexpected_counts": value_counts}
    nonmissing = element_count - missing
    return {
        "element_count": element_count, "unexpected_count": unexpected,
        "unexpected_percent": pct(unexpected, nonmissing),
        "partial_unexpected_list": examples,
        "missing_count": missing, "missing_percent": pct(missing, element_count),
        "unexpected_percent_total": pct(unexpected, element_count),
        "unexpected_percent_nonmissing": pct(unexpected, nonmissing),
        "partial_unexpected_counts": value_counts,
    }


def unexpected_share(check: RowCheck, element_count: int, missing: int, unexpected: int) -> float:
    """Unexpected rows / rows judged (GX's `unexpected_percent` / 100); 0 when no row is judged."""
    judged = element_count - (missing if check.missing is not None else 0)
    return unexpected / judged if judged else 0.0
