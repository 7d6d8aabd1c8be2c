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
  gives every verdict, count, percentage, `mostly` and example. The run lists
  no unexpected values (a clean batch has none); when a row rule met some,
  the Checkpoint runs again listing them, and that run is the one reported.

A frame row names itself in `_example` (the row as JSON), which GX returns
as the unexpected index (`unexpected_index_column_names`): the day, cohort
or column an aggregate rule failed on.

GX is imported inside the functions (`gx_runtime`), never at module import.
"""

from __future__ import annotations

from copy import copy
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
# The project's severities as GX's (an expectation's `severity`)
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
    part = part_of(suite, rule)
    # a SQL expectation (gx_expectations) takes no row condition: its query reads its part of `{batch}`; Data
    # Docs show its description, so it gets the rule's (with the rule's thresholds)
    where = {"row_condition": Column(FRAME) == part} if "row_condition" in cls.__fields__ else \
        {"part_column": FRAME, "part": part, "description": rule.description}
    return cls(**rule.kwargs, **where, severity=GX_SEVERITY[severity],
               meta={"rule_id": rule.id, "kind": rule.kind, "severity": severity, "part": part,
                     "notes": rule.description})


def _custom(name: str):
    from . import gx_expectations  # noqa: PLC0415 - the project's own expectations, registered on import

    return getattr(gx_expectations, name)


# The connection the data sources read: this run's. The GX objects of a suite (data source, query asset, batch
# definition, suite, ValidationDefinition) are made once per process and reused while the suite is unchanged:
# GX's add_or_update compares every expectation (~1 s for 40), and the asset's query never changes (the
# batch is stored in its table each run).
_CURRENT: dict[str, Any] = {}
_MADE: dict[tuple[int, str], tuple[str, Any]] = {}
_CHECKPOINT_HOLDS: dict[tuple[int, str], str] = {}


def _current_connection():
    return _CURRENT["con"]


def _validation_definition(ctx, suite: Suite, rules: list[Rule], severities: dict[str, str]):
    """The suite's ValidationDefinition on its query asset, made when new or changed."""
    gx = _gx()
    from .gx_duckdb import add_duckdb  # noqa: PLC0415 - registers the data source type

    key = (id(ctx), suite.name)
    made_of = repr((suite.description, suite.table, [(r, severities[r.id], part_of(suite, r)) for r in rules]))
    if key in _MADE and _MADE[key][0] == made_of:
        return _MADE[key][1]
    ds = add_duckdb(ctx, f"{DATASOURCE}.{suite.name}", _current_connection)
    batch = ds.add_query_asset(suite.name, query=f"SELECT * FROM {frame_table(suite, 'batch')}") \
        .add_batch_definition_whole_table("in_scope")
    for store in (ctx.validation_definitions, ctx.suites):
        try:
            store.delete(suite.name)
        except Exception:  # noqa: BLE001 - not stored yet (GX raises its own not-found errors)
            pass
    gsuite = ctx.suites.add(gx.ExpectationSuite(
        name=suite.name, expectations=[expectation(suite, r, severities[r.id]) for r in rules],
        meta={"notes": suite.description, "table": suite.table}))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=batch, suite=gsuite))
    _MADE[key] = (made_of, vd)
    _CHECKPOINT_HOLDS.pop((id(ctx), suite.layer), None)
    return vd


def _checkpoint(ctx, suite: Suite, vd, examples: int):
    """The layer's Checkpoint, holding the ValidationDefinition of the suite this check runs."""
    gx = _gx()
    key = (id(ctx), suite.layer)
    if _CHECKPOINT_HOLDS.get(key) != f"{suite.name}/{examples}":
        ctx.checkpoints.add_or_update(gx.Checkpoint(name=suite.layer, validation_definitions=[vd],
                                                    result_format=result_format(examples)))
        _CHECKPOINT_HOLDS[key] = f"{suite.name}/{examples}"
    return ctx.checkpoints.get(suite.layer)


def _store_batch(con, suite: Suite, query: str, copy: bool) -> None:
    """The batch the query asset reads: a copy of a night's rows (GX's ~3 metric queries per expectation then
    read a small table, not the raw table behind the union each time), else a view (a first or full run: the
    table itself, not copied)."""
    name = f"{suite.name}__batch"
    found = con.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                        [CACHE_SCHEMA, name]).fetchone()
    if found:
        con.execute(f"DROP {'VIEW' if found[0] == 'VIEW' else 'TABLE'} {frame_table(suite, 'batch')}")
    con.execute(f"CREATE {'TABLE' if copy else 'VIEW'} {frame_table(suite, 'batch')} AS {query}")


def result_format(max_examples: int, index: bool = False) -> dict:
    """GX's SUMMARY; with `index`, each unexpected row also named by `_example` (GX then computes the unexpected
    index of every expectation, passed or not: ~2x the cost of a suite, so only asked for failed frame rules).

    `max_examples` 0: no unexpected values listed (GX's documented way to suppress them): GX's query for
    them (one per row rule, each a pass over the batch; for a uniqueness rule a second window over the
    keys) is then limited to no rows."""
    out: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": max_examples}
    if index:
        out["unexpected_index_column_names"] = [EXAMPLE]
    return out


def _has_unexpected_rows(result) -> bool:
    """Whether a row rule (passed under `mostly` or failed) met unexpected rows: their examples are reported
    (console, audit, Data Docs), so the suite is validated again listing them."""
    return any((r.result or {}).get("unexpected_count") and r.expectation_config.meta.get("part") in (ROWS, KEYS)
               for r in result.results)


def _named_rows(vd, result, max_examples: int) -> dict[str, Any]:
    """Failed frame rules validated again by GX on the same batch, asking for the unexpected index: rule id ->
    GX's result naming the offending frame rows (the day, the cohort, the column)."""
    gx = _gx()
    # (the project's SQL expectations name their rows themselves: `details.unexpected_rows`)
    failed = [r.expectation_config for r in result.results
              if not r.success and r.expectation_config.meta.get("part") not in (ROWS, KEYS)
              and "unexpected_rows" not in ((r.result or {}).get("details") or {})]
    if not failed:
        return {}
    again = gx.ExpectationSuite(name=f"{vd.suite.name}.failed_frames",
                                expectations=[copy(c.to_domain_obj()) for c in failed])
    out = vd.data.get_batch().validate(again, result_format=result_format(max_examples, index=True))
    return {r.expectation_config.meta["rule_id"]: r for r in out.results}


def validate(con, suite: Suite, rules: list[Rule], severities: dict[str, str], since: datetime | None,
             run_id: str, run_time: datetime, max_examples: int):
    """GX validates `rules` of `suite` on the build warehouse behind `con`.

    Returns the Checkpoint's suite validation result, its identifier, and for
    each failed frame rule GX's result with the offending rows named
    (`_named_rows`).

    The frames the rules use must be materialized (`materialize_frames`).
    """
    from great_expectations.core.run_identifier import RunIdentifier  # noqa: PLC0415

    ctx = validation_context()
    parts = {part_of(suite, r) for r in rules}
    _store_batch(con, suite, batch_query(con, suite, part_queries(suite, parts, since)), since is not None)
    _CURRENT["con"] = con
    vd = _validation_definition(ctx, suite, rules, severities)
    run = RunIdentifier(run_name=run_id, run_time=run_time.replace(tzinfo=timezone.utc))
    try:
        # without examples first: on a clean batch (the usual night) no row rule has any to list
        out = _checkpoint(ctx, suite, vd, 0).run(run_id=run)
        ((result_id, result),) = out.run_results.items()
        if max_examples and _has_unexpected_rows(result):
            out = _checkpoint(ctx, suite, vd, max_examples).run(run_id=run)
            ((result_id, result),) = out.run_results.items()
        named = _named_rows(vd, result, max_examples)
    finally:
        # the next run may read another connection: the kept one is closed, the next opens from _CURRENT
        vd.data.data_asset.datasource.get_execution_engine().close()
        _CURRENT.pop("con", None)
    return result, result_id, named
