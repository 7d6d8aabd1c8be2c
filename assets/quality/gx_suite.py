"""A suite as Great Expectations validates it: one batch, one ValidationDefinition, a Checkpoint per layer.

For one `rules.Suite` and one run:

- the aggregate frames the rules use (column types, row count against the
  previous run, daily volumes, quarantine, mart-vs-staging totals) are
  computed by DuckDB once into small tables (`quality_cache."<suite>__<frame>"`);
- one GX query asset on the build warehouse's SQL data source
  (`gx_duckdb.DuckDBDatasource`) unions what the run judges, each row tagged
  with its part in `_frame`: `rows`, the table's rows in scope (for a raw
  table those loaded after the suite's last successful validation: the
  batch grows with the night, not with the table); `keys`, the key columns
  of every row whose key a row in scope holds (uniqueness needs the older
  holder of a repeated key); and one part per frame;
- each `Rule` becomes the GX expectation it names, restricted to its part
  by a `row_condition` (`_frame == 'rows'`), with its severity
  (ERROR -> critical, WARN -> warning) and the rule's id in `meta`;
- the suite is a GX `ExpectationSuite`, validated by one `ValidationDefinition`
  on the asset's whole-table batch definition, run by the layer's
  `Checkpoint` (`raw`, `marts`). GX computes every metric in DuckDB and
  gives every verdict, count, percentage, `mostly` and example.

A frame row names itself in `_example` (the row as JSON), which GX returns
as the unexpected index (`unexpected_index_column_names`): the day, cohort
or column an aggregate rule failed on.

GX is imported inside the functions (`gx_runtime`), never at module import.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from assets.warehouse import quote_ident

from .gx_runtime import _gx, validation_context
from .rules import COMPOUND_UNIQUE, ROWS, UNIQUE, Rule, Suite

FRAME = "_frame"
EXAMPLE = "_example"
KEYS = "keys"
CACHE_SCHEMA = "quality_cache"
DATASOURCE = "build_warehouse"
# GX's severities for the project's
GX_SEVERITY = {"ERROR": "critical", "WARN": "warning"}

q = quote_ident


def literal(value: Any) -> str:
    """A DuckDB literal for a query asset's text (GX query assets take no bound parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def frame_table(suite: Suite, frame: str) -> str:
    return f"{CACHE_SCHEMA}.{q(f'{suite.name}__{frame}')}"


def part_of(suite: Suite, rule: Rule) -> str:
    """The part of the batch a rule judges: its frame, `keys` for uniqueness on a stamped table, else `rows`."""
    if rule.frame != ROWS:
        return rule.frame
    if suite.loaded_at_column and rule.expectation in (UNIQUE, COMPOUND_UNIQUE):
        return KEYS
    return ROWS


def materialize_frames(con, suite: Suite, frames: set[str], params_of) -> None:
    """Each frame's SQL computed once by DuckDB into its table (`params_of(sql)`: the values it binds)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {CACHE_SCHEMA}")
    for frame in sorted(frames):
        sql = suite.frames[frame]
        params = params_of(sql)
        stmt = f"CREATE OR REPLACE TABLE {frame_table(suite, frame)} AS {sql}"
        con.execute(stmt, params) if params else con.execute(stmt)


def scope_sql(column: str | None, since: datetime | None) -> str:
    """The rows in scope: all (no stamp column, or no earlier success), else those stamped after `since`."""
    if column is None or since is None:
        return "true"
    c = q(column)
    return f"({c} IS NULL OR {c} > {literal(since)})"


def part_queries(suite: Suite, parts: set[str], since: datetime | None) -> dict[str, str]:
    """part -> SELECT of its columns (`_example` included)."""
    out: dict[str, str] = {}
    scope = scope_sql(suite.loaded_at_column, since)
    if ROWS in parts:
        cols = ", ".join(q(c) for c in suite.row_columns)
        out[ROWS] = f"SELECT NULL::JSON AS {EXAMPLE}, {cols} FROM {suite.table} WHERE {scope}"
    if KEYS in parts:
        keys = ", ".join(f"t.{q(c)}" for c in suite.key)
        if scope == "true":
            out[KEYS] = f"SELECT NULL::JSON AS {EXAMPLE}, {keys} FROM {suite.table} t"
        else:
            on = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM s.{q(c)}" for c in suite.key)
            held = ", ".join(q(c) for c in suite.key)
            out[KEYS] = (f"SELECT NULL::JSON AS {EXAMPLE}, {keys} FROM {suite.table} t "
                         f"SEMI JOIN (SELECT {held} FROM {suite.table} WHERE {scope}) s ON {on}")
    for frame in sorted(parts - {ROWS, KEYS}):
        out[frame] = f"SELECT to_json(f) AS {EXAMPLE}, f.* FROM {frame_table(suite, frame)} f"
    return out


def batch_query(con, suite: Suite, parts: dict[str, str]) -> str:
    """The parts as one UNION ALL, every column in every part (NULL where a part lacks it).

    A column two parts both hold must have one type in both: a rule reads it
    in one part only, but the union has one type per column.
    """
    types: dict[str, tuple[str, str]] = {}
    described: dict[str, list[str]] = {}
    for part, sql in parts.items():
        described[part] = []
        for name, typ, *_ in con.execute(f"DESCRIBE {sql}").fetchall():
            described[part].append(name)
            if name in types and types[name][0] != typ:
                raise ValueError(f"quality suite {suite.name}: column {name!r} is {types[name][0]} in part "
                                 f"{types[name][1]!r} and {typ} in part {part!r}; rename it in one of them")
            types.setdefault(name, (typ, part))
    columns = list(types)
    selects = []
    for part, sql in parts.items():
        have = set(described[part])
        cols = ", ".join(q(c) if c in have else f"NULL::{types[c][0]} AS {q(c)}" for c in columns)
        selects.append(f"SELECT {literal(part)} AS {FRAME}, {cols} FROM ({sql}) AS p")
    return "\nUNION ALL\n".join(selects)


def expectation(suite: Suite, rule: Rule, severity: str):
    """The GX expectation a rule names, judged on its part of the batch."""
    import great_expectations.expectations as gxe  # noqa: PLC0415
    from great_expectations.expectations.row_conditions import Column  # noqa: PLC0415

    cls = getattr(gxe, rule.expectation, None) or _custom(rule.expectation)
    return cls(**rule.kwargs, row_condition=Column(FRAME) == part_of(suite, rule),
               severity=GX_SEVERITY[severity],
               meta={"rule_id": rule.id, "kind": rule.kind, "severity": severity, "part": part_of(suite, rule),
                     "notes": rule.description})


def _custom(name: str):
    from . import gx_expectations  # noqa: PLC0415 - the project's own expectations, registered on import

    return getattr(gx_expectations, name)


def result_format(max_examples: int) -> dict:
    return {"result_format": "SUMMARY", "partial_unexpected_count": max_examples,
            "unexpected_index_column_names": [EXAMPLE]}


def validate(con, suite: Suite, rules: list[Rule], severities: dict[str, str], since: datetime | None,
             run_id: str, run_time: datetime, max_examples: int):
    """GX validates `rules` of `suite` on the build warehouse behind `con`: (suite validation result, result id).

    The frames the rules use must be materialized (`materialize_frames`).
    """
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier  # noqa: PLC0415

    from .gx_duckdb import add_duckdb  # noqa: PLC0415 - registers the data source type

    ctx = validation_context()
    parts = {part_of(suite, r) for r in rules}
    query = batch_query(con, suite, part_queries(suite, parts, since))
    # a data source per suite: re-pointing it at this run's connection drops only this suite's asset, so the
    # layer's Checkpoint, which still names the previous suite's, resolves
    ds = add_duckdb(ctx, f"{DATASOURCE}.{suite.name}", con)
    try:
        batch = ds.add_query_asset(suite.name, query=query).add_batch_definition_whole_table("in_scope")
        gsuite = ctx.suites.add_or_update(gx.ExpectationSuite(
            name=suite.name, expectations=[expectation(suite, r, severities[r.id]) for r in rules],
            meta={"notes": suite.description, "table": suite.table}))
        vd = ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=suite.name, data=batch,
                                                                              suite=gsuite))
        checkpoint = ctx.checkpoints.add_or_update(gx.Checkpoint(
            name=suite.layer, validation_definitions=[vd], result_format=result_format(max_examples)))
        out = checkpoint.run(run_id=RunIdentifier(run_name=run_id, run_time=run_time.replace(tzinfo=timezone.utc)))
    finally:
        ds.get_execution_engine().close()
    ((result_id, result),) = out.run_results.items()
    return result, result_id
