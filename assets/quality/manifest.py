"""What dbt already promises about a mart, read from its manifest.

The mart suites take their columns and types from the dbt manifest (the
model's yml, `data_type`, contract enforced or not). With an enforced
contract dbt refuses to build a mart whose columns or types differ, so the
schema rule is dbt's.

`declared_by_dbt` says whether a GX rule is a promise a dbt data test on the
mart already declares (not null, unique, unique combination of columns,
accepted values, accepted range, `A >= B` written as an `expression_is_true`),
whatever the test's severity: a promise is declared once, with one severity.
It is not used at run time (nothing is subtracted from a suite); the tests
use it to fail when a promise is declared in both places. A test with a
`where` filter checks less, so it declares another promise.

The manifest itself is read by the shared core (assets/manifest.py). No
module here imports Great Expectations.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

from assets.manifest import DbtTest, MartContract

from .rules import A_GREATER_THAN_B, BETWEEN, COMPOUND_UNIQUE, IN_SET, NOT_NULL, ROWS, UNIQUE

if TYPE_CHECKING:
    from .rules import Rule

# What the schema rule's place is taken by, when the contract is enforced.
CONTRACT = "dbt contract (enforced)"


def _norm(expr: str) -> str:
    return re.sub(r"\s+", " ", expr.strip().lower())


def declared_by_dbt(rule: Rule, contract: MartContract) -> str | None:
    """The dbt test (or tests, joined by ' + ') that already declare `rule`'s promise, any severity; or None."""
    tests = [t for t in contract.tests if not t.filtered]
    k = rule.kwargs
    e = rule.expectation
    if k.get("mostly") is not None:
        return None
    col = k.get("column")
    if e == NOT_NULL:
        return next((t.name for t in tests if t.kind == "not_null" and t.column == col), None)
    if e in (UNIQUE, COMPOUND_UNIQUE):
        cols = {col} if e == UNIQUE else set(k["column_list"])
        for t in tests:
            if t.kind == "unique" and t.column in cols:  # a unique column makes any set holding it unique
                return t.name
            if t.kind == "unique_combination_of_columns" and set(t.kwargs.get("combination_of_columns", ())) <= cols:
                return t.name
        return None
    if e == IN_SET:
        for t in tests:
            if t.kind == "accepted_values" and t.column == col and set(t.kwargs.get("values", ())) <= set(
                    k["value_set"]):
                return t.name
        return None
    if e == BETWEEN and rule.frame == ROWS:
        return _range_cover(k, [t for t in tests if t.kind == "accepted_range" and t.column == col])
    if e == A_GREATER_THAN_B:
        a, b = k["column_A"], k["column_B"]
        op, rop = (">=", "<=") if k.get("or_equal") else (">", "<")
        wanted = {_norm(f"{a} {op} {b}"), _norm(f"{b} {rop} {a}")}
        return next((t.name for t in tests
                     if t.kind == "expression_is_true" and _norm(t.kwargs.get("expression", "")) in wanted), None)
    return None


def _range_cover(k: Mapping[str, Any], tests: list[DbtTest]) -> str | None:
    """accepted_range tests whose bounds are at least as strict as the rule's, on each side it has."""
    used = []
    for side, strict_key, tighter in (("min_value", "strict_min", lambda t, r: t > r),
                                      ("max_value", "strict_max", lambda t, r: t < r)):
        if k.get(side) is None:
            continue
        found = None
        for t in tests:
            bound = t.kwargs.get(side)
            if bound is None:
                continue
            inclusive = t.kwargs.get("inclusive", True)
            if tighter(bound, k[side]) or (bound == k[side] and (not k.get(strict_key) or not inclusive)):
                found = t.name
                break
        if found is None:
            return None
        used.append(found)
    return " + ".join(dict.fromkeys(used)) or None
