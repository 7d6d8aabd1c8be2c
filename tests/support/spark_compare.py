"""Cell-by-cell comparison of one table as built by two engines.

Rows are matched on the table's key columns, then every other cell must be
equal: exactly for money (Decimal), dates, strings, integers and booleans;
floating-point cells (rates, averages) within a relative tolerance, since
two engines may round the last bits of a division or a sum differently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from assets.marts import spark_parity_keys

RATE_TOLERANCE = 1e-9

# The marts both engines must build alike, each with the columns that identify a row:
# those whose yml sets `meta.retention.spark_parity_key` (assets/marts.py).
REQUIRED_MARTS = spark_parity_keys()
# Columns filled by the predictions. A dbt build on Spark by hand has none (the
# pipeline fits them between two Spark builds, docs/spark.md): the Connect test
# leaves them out of its comparison and expects nulls on Spark.
PREDICTED_COLUMNS = {"mart_customer_churn": ("p_alive",)}


def floats_match(a: float, b: float, tolerance: float = RATE_TOLERANCE) -> bool:
    """Equal within `tolerance`, relative to the larger magnitude (absolute below 1)."""
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def cells_match(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and floats_match(float(a), float(b))
    return type(a) is type(b) and a == b


def table_differences(
    columns: Sequence[str],
    key: Sequence[str],
    left: Sequence[tuple],
    right: Sequence[tuple],
    limit: int = 10,
) -> list[str]:
    """Human-readable differences between two row lists of the same columns (empty: identical).

    `left` and `right` are matched on `key`; a key present on one side only,
    a key that is not unique, or a cell that differs is one line each (at
    most `limit` lines).
    """
    missing = [k for k in key if k not in columns]
    if missing:
        raise ValueError(f"key columns {missing} are not among the table's columns {list(columns)}")
    positions = [columns.index(k) for k in key]

    def by_key(rows: Sequence[tuple], side: str, out: list[str]) -> dict[tuple, tuple]:
        keyed: dict[tuple, tuple] = {}
        for row in rows:
            k = tuple(row[i] for i in positions)
            if k in keyed:
                out.append(f"{side}: key {dict(zip(key, k))} appears more than once")
            keyed[k] = row
        return keyed

    out: list[str] = []
    a, b = by_key(left, "left", out), by_key(right, "right", out)
    for k in sorted(a.keys() - b.keys(), key=repr):
        out.append(f"left only: {dict(zip(key, k))}")
    for k in sorted(b.keys() - a.keys(), key=repr):
        out.append(f"right only: {dict(zip(key, k))}")
    for k in sorted(a.keys() & b.keys(), key=repr):
        for name, x, y in zip(columns, a[k], b[k]):
            if not cells_match(x, y):
                out.append(f"{dict(zip(key, k))} {name}: left {x!r} != right {y!r}")
    return out[:limit]


def built_mart_differences(con, mart: str, spark_relation: str, engine: str = "Spark") -> list[str]:
    """What differs between DuckDB's `marts.<mart>` and a Spark build of it read as `spark_relation` (empty: equal).

    Both come from a dbt build by hand, with no predictions fitted: the
    mart's predicted columns are left out of the comparison and must be
    null on Spark. Columns, then a non-empty DuckDB side, then every cell.
    """
    predicted = PREDICTED_COLUMNS.get(mart, ())
    exclude = f" EXCLUDE ({', '.join(predicted)})" if predicted else ""
    duck = con.execute(f"SELECT *{exclude} FROM marts.{mart}")
    duck_columns, duck_rows = [d[0] for d in duck.description], duck.fetchall()
    spark = con.execute(f"SELECT *{exclude} FROM {spark_relation}")
    spark_columns, spark_rows = [d[0] for d in spark.description], spark.fetchall()
    problems = []
    for column in predicted:
        filled = con.execute(f"SELECT count({column}) FROM {spark_relation}").fetchone()[0]
        if filled:
            problems.append(f"{mart}.{column} has {filled} values on {engine}; expected null (no predictions fitted)")
    if spark_columns != duck_columns:
        return problems + [f"{mart}: {engine} columns {spark_columns} != DuckDB columns {duck_columns}"]
    if not duck_rows:
        return problems + [f"{mart} is empty on DuckDB: the sample shop should fill it"]
    differences = table_differences(duck_columns, REQUIRED_MARTS[mart], duck_rows, spark_rows)
    if differences:
        problems.append(f"{mart}: DuckDB (left) and {engine} (right) differ:\n" + "\n".join(differences))
    return problems
