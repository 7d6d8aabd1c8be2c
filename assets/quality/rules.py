"""A quality rule and a suite, as data: what the suites declare, what every other module reads.

A leaf module: it imports nothing else of `assets.quality`, so suite
definitions, the row-rule SQL, the manifest reader, results and the audit
can all use these types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assets.extraction.contract import LINEAGE_COLUMNS

# GX expectation classes (great_expectations.expectations) the row rules use
NOT_NULL = "ExpectColumnValuesToNotBeNull"
IN_SET = "ExpectColumnValuesToBeInSet"
BETWEEN = "ExpectColumnValuesToBeBetween"
A_GREATER_THAN_B = "ExpectColumnPairValuesAToBeGreaterThanB"
UNIQUE = "ExpectColumnValuesToBeUnique"
COMPOUND_UNIQUE = "ExpectCompoundColumnsToBeUnique"

ROWS = "rows"
# The lineage column the loader stamps every inserted or updated row with.
LOADED_AT = "_loaded_at"
if LOADED_AT not in dict(LINEAGE_COLUMNS):
    raise ValueError(f"rules.LOADED_AT = {LOADED_AT!r}: expected one of the contract's LINEAGE_COLUMNS")
# The quarantine reason the loader gives copies of one key with different content.
CONFLICT_REASON = "conflicting_duplicate"


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    expectation: str  # GX expectation class name in great_expectations.expectations
    kwargs: dict[str, Any]
    frame: str = ROWS
    # For aggregate frames: columns that name an offending row in the examples.
    index: tuple[str, ...] = ()
    description: str = ""

    @property
    def column(self) -> str | None:
        k = self.kwargs
        if "column" in k:
            return k["column"]
        if "column_A" in k:
            return f"{k['column_A']}, {k['column_B']}"
        if "column_list" in k:
            return ", ".join(k["column_list"])
        return None

    @property
    def columns(self) -> tuple[str, ...]:
        k = self.kwargs
        if "column" in k:
            return (k["column"],)
        if "column_A" in k:
            return (k["column_A"], k["column_B"])
        return tuple(k.get("column_list", ()))


@dataclass(frozen=True)
class Suite:
    name: str
    table: str  # schema.table in the build warehouse
    asset_key: tuple[str, ...]
    key: tuple[str, ...]  # grain, used to hash-partition the row chunks
    rules: tuple[Rule, ...]
    # frame name -> SQL (DuckDB), may use $as_of (DATE), $previous_row_count (BIGINT) and
    # $since (TIMESTAMP: the row rules' boundary, NULL for every row)
    frames: dict[str, str] = field(default_factory=dict)
    # SQL returning the as-of date (one value); may use $as_of_setting (DATE or NULL)
    as_of_sql: str = ""
    description: str = ""
    # Raw suites: the entity, and whether the shop must deliver it. An
    # optional entity without rows is "not tracked": its rules do not run.
    entity: str | None = None
    required_entity: bool = True
    # Column stamping when a row was loaded (raw tables): row rules then cover
    # only rows stamped after the suite's last successful validation.
    loaded_at_column: str | None = None
    # Other stamped tables a frame judges by the same boundary (orders: their
    # lines); the boundary recorded is the newest stamp over all of them.
    also_stamped: tuple[str, ...] = ()
    # Mart suites: (rule id, dbt test) for rules dbt already checks, left out of
    # the suite; (rule id, why) for rules on columns the mart does not publish.
    covered_by_dbt: tuple[tuple[str, str], ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()

    @property
    def layer(self) -> str:
        return self.asset_key[0]

    @property
    def row_columns(self) -> list[str]:
        cols: list[str] = list(self.key)
        for r in self.rules:
            if r.frame == ROWS:
                cols += [c for c in r.columns if c not in cols]
        return cols

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"{self.name} has no rule {rule_id!r}")


# --- rule helpers ---------------------------------------------------------------------


def not_null(col: str, kind: str = "completeness") -> Rule:
    return Rule(f"{col}_not_null", kind, "ExpectColumnValuesToNotBeNull", {"column": col},
                description=f"{col} is never null")


def unique(key: tuple[str, ...]) -> Rule:
    if len(key) == 1:
        return Rule(f"{key[0]}_unique", "keys", "ExpectColumnValuesToBeUnique", {"column": key[0]},
                    description=f"{key[0]} identifies a row")
    return Rule("key_unique", "keys", "ExpectCompoundColumnsToBeUnique", {"column_list": list(key)},
                description=f"({', '.join(key)}) identifies a row")


def in_set(col: str, values, kind: str = "value_set") -> Rule:
    return Rule(f"{col}_in_set", kind, "ExpectColumnValuesToBeInSet",
                {"column": col, "value_set": list(values)},
                description=f"{col} is one of {', '.join(map(str, values))}")


def between(col: str, min_value=None, max_value=None, strict_min: bool = False, rule_id: str | None = None,
            kind: str = "range", frame: str = ROWS, index: tuple[str, ...] = (), description: str = "",
            mostly: float | None = None) -> Rule:
    kw: dict[str, Any] = {"column": col}
    if mostly is not None and mostly < 1:
        kw["mostly"] = mostly
    if min_value is not None:
        kw["min_value"] = min_value
        if strict_min:
            kw["strict_min"] = True
    if max_value is not None:
        kw["max_value"] = max_value
    if not description:
        lo = "" if min_value is None else f"{'>' if strict_min else '>='} {min_value}"
        hi = "" if max_value is None else f"<= {max_value}"
        description = f"{col} {' and '.join(p for p in (lo, hi) if p)}"
    description += _mostly_note(mostly)
    return Rule(rule_id or f"{col}_range", kind, "ExpectColumnValuesToBeBetween", kw, frame, index, description)


def not_before(later: str, earlier: str, kind: str = "ordering", rule_id: str | None = None,
               description: str = "", mostly: float | None = None) -> Rule:
    kw: dict[str, Any] = {"column_A": later, "column_B": earlier, "or_equal": True,
                          "ignore_row_if": "either_value_is_missing"}
    if mostly is not None and mostly < 1:
        kw["mostly"] = mostly
    return Rule(rule_id or f"{later}_not_before_{earlier}", kind, "ExpectColumnPairValuesAToBeGreaterThanB", kw,
                description=(description or f"{later} >= {earlier} (when both are set)") + _mostly_note(mostly))


def _mostly_note(mostly: float | None) -> str:
    if mostly is None or mostly >= 1:
        return ""
    return f" (fails when more than {100 * (1 - mostly):g}% of the rows break it)"


def equal_columns(rule_id: str, a: str, b: str, frame: str, index: tuple[str, ...], description: str,
                  kind: str = "reconciliation") -> Rule:
    return Rule(rule_id, kind, "ExpectColumnPairValuesToBeEqual", {"column_A": a, "column_B": b},
                frame, index, description)


def schema_rule(description: str) -> Rule:
    return equal_columns("columns_and_types", "actual_type", "expected_type", "schema", ("column_name",),
                         description, kind="schema")
