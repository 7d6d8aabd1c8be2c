"""Running a suite: DuckDB computes and projects, Great Expectations judges.

For one suite (`suites.Suite`):

1. every aggregate frame is one DuckDB query (column types, row count next to
   the previous successful run's, daily volumes, freshness lag, mart-vs-staging
   totals; the staging side computed once per run, `ensure_staging_reference`);
2. the row rules cover the rows in scope - for a raw table, those stamped
   (`_loaded_at`) after the suite's last successful validation
   (`audit.validated_through`), else every row. Rules with a DuckDB
   translation are counted by one aggregate (`rowsql.py`), and each rule's
   share of unexpected rows goes into a one-row frame GX judges; the others
   are handed to GX on pandas, column-projected, in hash-partitioned chunks
   whose results are merged (`_merge`);
3. GX validates the frames, one-row frames side by side in one batch
   (`frame_batches`); each result reads as GX's (the row rules' as a GX row
   batch would report them);
4. the results go to `audit.validation_results` / `audit.suite_runs` and, as
   one GX suite validation result, to the GX project and its Data Docs page
   (`data_docs.py`; offline: `offline_docs.py`).

Great Expectations is imported lazily (`gx_runtime._gx()`), never at module
import: `orchestration.definitions` must not pay for it.
"""

from __future__ import annotations

import gc
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from assets.extraction.contract import tracked_entities

from . import audit, rowsql
from .data_docs import docs_context, docs_index, store_and_build_docs  # noqa: F401 - docs_index: the checks' link
from .gx_runtime import _gx, validation_context  # noqa: F401 - _gx: the benchmark times the import
from .config import DEFAULT_CONFIG, ERROR, WARN, QualityConfig
from .results import RuleResult, SuiteRun
from .suites import MART_AS_OF_SQL, ROWS, STAGING_REFERENCE, STAGING_REFERENCE_SQL, Rule, Suite

log = logging.getLogger(__name__)

GX_DATASOURCE = "duckdb_batches"


# One dataframe asset serves every batch: each new asset rewrites the context's
# config (~15 ms), and a batch's name is not reported (results carry the rule ids).
BATCH_ASSET = "frames"
_BATCH_DEFINITIONS: dict[int, Any] = {}


def _batch_definition(ctx, asset_name: str = BATCH_ASSET):
    if asset_name == BATCH_ASSET and id(ctx) in _BATCH_DEFINITIONS:
        return _BATCH_DEFINITIONS[id(ctx)]
    bd = _new_batch_definition(ctx, asset_name)
    if asset_name == BATCH_ASSET:
        _BATCH_DEFINITIONS[id(ctx)] = bd
    return bd


def _new_batch_definition(ctx, asset_name: str):
    try:
        ds = ctx.data_sources.get(GX_DATASOURCE)
    except (KeyError, ValueError, LookupError):
        ds = ctx.data_sources.add_pandas(GX_DATASOURCE)
    try:
        asset = ds.get_asset(asset_name)
    except LookupError:
        asset = ds.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition("batch")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("batch")


def build_expectation(rule: Rule, severity: str):
    import great_expectations.expectations as gxe  # noqa: PLC0415

    cls = getattr(gxe, rule.expectation)
    return cls(**rule.kwargs, meta={"rule_id": rule.id, "kind": rule.kind, "severity": severity,
                                    "batch": rule.frame, "notes": rule.description})


# --- merging per-chunk results --------------------------------------------------------


def _merge(chunk_results: list, max_examples: int):
    """One ExpectationValidationResult from the per-chunk results of one expectation."""
    from great_expectations.core import ExpectationValidationResult  # noqa: PLC0415

    first = chunk_results[0]
    if len(chunk_results) == 1:
        return first
    success = all(r.success for r in chunk_results)
    mostly = (first.expectation_config.kwargs or {}).get("mostly")
    exception = next((r.exception_info for r in chunk_results
                      if r.exception_info and r.exception_info.get("raised_exception")), None)
    merged: dict[str, Any] = {}
    sums = ("element_count", "unexpected_count", "missing_count")
    for key in sums:
        vals = [r.result.get(key) for r in chunk_results if r.result and r.result.get(key) is not None]
        if vals:
            merged[key] = int(sum(vals))
    examples: list = []
    counts: dict[str, dict] = {}
    for r in chunk_results:
        res = r.result or {}
        examples += list(res.get("partial_unexpected_list") or [])
        for item in res.get("partial_unexpected_counts") or []:
            k = repr(item.get("value"))
            counts.setdefault(k, {"value": item.get("value"), "count": 0})["count"] += item.get("count", 0)
    if "element_count" in merged:
        n = merged["element_count"]
        missing = merged.get("missing_count", 0)
        unexpected = merged.get("unexpected_count", 0)
        merged["unexpected_percent"] = 100.0 * unexpected / (n - missing) if n - missing else 0.0
        merged["unexpected_percent_total"] = 100.0 * unexpected / n if n else 0.0
        if mostly is not None and exception is None:
            # the share is judged over the whole table, not chunk by chunk
            success = merged["unexpected_percent"] <= 100.0 * (1 - mostly) + 1e-9
        if "missing_count" in merged:
            merged["missing_percent"] = 100.0 * missing / n if n else 0.0
        merged["partial_unexpected_list"] = examples[:max_examples]
        merged["partial_unexpected_counts"] = sorted(counts.values(), key=lambda c: -c["count"])[:max_examples]
    elif first.result and "observed_value" in first.result:
        merged["observed_value"] = first.result["observed_value"]
    return ExpectationValidationResult(
        success=success,
        expectation_config=first.expectation_config,
        result=merged,
        meta=first.meta,
        exception_info=exception or first.exception_info,
    )


# --- running a suite ------------------------------------------------------------------

_PARAM = re.compile(r"\$([a-z_]+)")


def _params(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    return {name: values.get(name) for name in set(_PARAM.findall(sql))}


def _query_df(con, sql: str, values: dict[str, Any]):
    params = _params(sql, values)
    return (con.execute(sql, params) if params else con.execute(sql)).df()


def chunk_queries(suite: Suite, rows: int, chunk_rows: int, scope: str = "true",
                  rules: list[Rule] | None = None) -> list[str]:
    """SELECTs of the columns `rules` need (all row rules by default), in chunks of about `chunk_rows` rows."""
    cols = list(suite.key)
    for r in rules if rules is not None else [r for r in suite.rules if r.frame == ROWS]:
        cols += [c for c in r.columns if c not in cols]
    projected = ", ".join(f'"{c}"' for c in cols)
    n = max(1, math.ceil(rows / max(1, chunk_rows)))
    if n == 1:
        return [f"SELECT {projected} FROM {suite.table} WHERE {scope}"]
    key = ", ".join(f'"{c}"' for c in suite.key)
    return [f"SELECT {projected} FROM {suite.table} WHERE ({scope}) AND hash({key}) % {n} = {i}" for i in range(n)]


# The frame of the row rules' shares of unexpected rows (one row, a column per rule).
SHARES = "row_shares"


@dataclass
class RowCounts:
    checks: list
    element_count: int
    per_check: dict[str, tuple[int, int, float]]  # rule id -> (missing, unexpected, share)
    shares: Any  # one-row pandas frame: rule id -> share of unexpected rows


def ensure_staging_reference(con, run_id: str) -> bool:
    """(Re)compute `STAGING_REFERENCE` unless this run already did for the same as-of date; True if computed.

    It lives in its own schema, which is neither published nor read by dbt.
    """
    schema = STAGING_REFERENCE.split(".")[0]
    as_of = con.execute(MART_AS_OF_SQL).fetchone()[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.reference_state (run_id VARCHAR, as_of_date DATE)")
    if con.execute(f"SELECT count(*) FROM {schema}.reference_state WHERE run_id = ? AND as_of_date IS NOT DISTINCT "
                   f"FROM ?", [run_id, as_of]).fetchone()[0] and audit.table_exists(con, *STAGING_REFERENCE.split(".")):
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TABLE {STAGING_REFERENCE} AS {STAGING_REFERENCE_SQL}")
        con.execute(f"DELETE FROM {schema}.reference_state")
        con.execute(f"INSERT INTO {schema}.reference_state VALUES (?, ?)", [run_id, as_of])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return True


def _count_rows_in_duckdb(con, suite: Suite, rules: list[Rule], since) -> RowCounts:
    """Row rules counted by one DuckDB aggregate over the rows in scope (`rowsql`)."""
    import pandas as pd  # noqa: PLC0415

    checks = [rowsql.row_check(r, i) for i, r in enumerate(rules)]
    scope = rowsql.scope_sql(suite.loaded_at_column)
    params = {"since": since} if "$since" in scope else {}
    cur = con.execute(rowsql.counts_sql(suite, checks, scope, since is not None), params)
    counts = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    n = int(counts["element_count"])
    per_check = {}
    for ch in checks:
        missing = int(counts.get(f"missing_{ch.index}") or 0)
        unexpected = int(counts[f"unexpected_{ch.index}"])
        per_check[ch.rule.id] = (missing, unexpected, rowsql.unexpected_share(ch, n, missing, unexpected))
    shares = pd.DataFrame({ch.rule.id: [per_check[ch.rule.id][2]] for ch in checks})
    return RowCounts(checks, n, per_check, shares)


def _row_results(con, suite: Suite, counted: RowCounts, verdicts: dict, expectations: dict, since,
                 config: QualityConfig) -> dict[str, Any]:
    """Each row rule's result as a GX row batch reports it, with GX's verdict on its share."""
    from great_expectations.core import ExpectationValidationResult  # noqa: PLC0415

    scope = rowsql.scope_sql(suite.loaded_at_column)
    params = {"since": since} if "$since" in scope else {}
    out: dict[str, Any] = {}
    for ch in counted.checks:
        missing, unexpected, _ = counted.per_check[ch.rule.id]
        examples: list = []
        value_counts: list[dict] = []
        if unexpected:
            incremental = since is not None
            ex = _query_df(con, rowsql.examples_sql(suite, ch, scope, incremental, config.max_examples), params)
            examples = [rowsql.example_value(ch, row) for row in ex.to_dict("records")]
            vc = _query_df(con, rowsql.value_counts_sql(suite, ch, scope, incremental, config.max_examples), params)
            value_counts = [{"value": rowsql.example_value(ch, row), "count": int(row["_n"])}
                            for row in vc.to_dict("records")]
        verdict = verdicts[ch.rule.id]
        out[ch.rule.id] = ExpectationValidationResult(
            success=bool(verdict.success),
            expectation_config=expectations[ch.rule.id].configuration,
            result=rowsql.gx_result(ch, counted.element_count, missing, unexpected, examples, value_counts),
            exception_info=verdict.exception_info,
        )
    return out


def frame_batches(frames: dict[str, Any]) -> list[list[str]]:
    """Frames grouped into GX batches: one-row frames whose columns do not clash share one; others alone.

    Each batch is one GX validation (~0.05-0.1 s of GX overhead, whatever its size).
    """
    batches: list[list[str]] = []
    shared: list[tuple[list[str], set[str]]] = []
    for name, df in frames.items():
        if len(df) != 1:
            batches.append([name])
            continue
        cols = set(df.columns)
        for names, used in shared:
            if not cols & used:
                names.append(name)
                used |= cols
                break
        else:
            shared.append(([name], cols))
    return [names for names, _ in shared] + batches


def _validate_rows_in_gx(con, suite: Suite, rules: list[Rule], expectations: dict, since, row_count: int,
                         config: QualityConfig, say) -> tuple[int, list[str], dict[str, Any]]:
    """Row rules GX validates on the rows themselves, column-projected, in hash-partitioned chunks."""
    gx = _gx()
    scope, params = "true", {}
    if since is not None and not any(r.expectation in (rowsql.UNIQUE, rowsql.COMPOUND_UNIQUE) for r in rules):
        # (GX sees only what it is handed: uniqueness needs the older rows too, so it gets the whole table)
        scope, params = rowsql.scope_sql(suite.loaded_at_column), {"since": since}
    scoped_rows = row_count if not params else int(
        con.execute(f"SELECT count(*) FROM {suite.table} WHERE {scope}", params).fetchone()[0])
    queries = chunk_queries(suite, scoped_rows, config.chunk_rows, scope, rules)
    gsuite = gx.ExpectationSuite(name=f"{suite.name}.rows", expectations=[expectations[r.id].copy() for r in rules])
    bd = _batch_definition(validation_context())
    per_rule: dict[str, list] = {r.id: [] for r in rules}
    handed = 0
    for i, sql in enumerate(queries):
        df = (con.execute(sql, params) if params else con.execute(sql)).df()
        handed += len(df)
        out = bd.get_batch(batch_parameters={"dataframe": df}).validate(
            gsuite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": config.max_examples})
        for evr in out.results:
            per_rule[evr.expectation_config.meta["rule_id"]].append(evr)
        del df, out
        gc.collect()
        if len(queries) > 1:
            say(f"{suite.name}: chunk {i + 1}/{len(queries)} validated ({handed:,} rows)")
    return handed, queries, {rid: _merge(chunk_evrs, config.max_examples) for rid, chunk_evrs in per_rule.items()}


def _to_rule_result(rule: Rule, severity: str, evr, frame_df, max_examples: int) -> RuleResult:
    res = dict(evr.result or {})
    exc = None
    if evr.exception_info and evr.exception_info.get("raised_exception"):
        exc = str(evr.exception_info.get("exception_message") or "exception")[:500]
    examples: list = []
    index_list = res.get("partial_unexpected_index_list") or []
    if rule.index and index_list and isinstance(index_list[0], dict):
        # aggregate frames: the offending row named by its index columns (e.g. the empty day)
        # (a batch of several frames names a row by the union of their index columns: keep the rule's)
        examples = [{k: v for k, v in e.items() if k in rule.index or k in rule.columns}
                    for e in index_list][:max_examples]
    elif res.get("partial_unexpected_list"):
        examples = list(res["partial_unexpected_list"])[:max_examples]
    observed: Any = res.get("observed_value")
    if observed is None and frame_df is not None and len(frame_df) == 1:
        cols = [c for c in dict.fromkeys(rule.columns + rule.index) if c in frame_df.columns]
        observed = {c: _plain(frame_df[c].iloc[0]) for c in cols}
    elif observed is None and res.get("element_count") is not None:
        observed = f"{res.get('unexpected_count', 0)} of {res['element_count']} rows unexpected"
    return RuleResult(
        rule_id=rule.id,
        kind=rule.kind,
        expectation=evr.expectation_config.type,
        column=rule.column,
        success=bool(evr.success) and exc is None,
        severity=severity,
        observed_value=observed,
        element_count=res.get("element_count"),
        unexpected_count=res.get("unexpected_count"),
        examples=[_plain(e) for e in examples],
        description=rule.description,
        exception=exc,
    )


def _plain(value: Any) -> Any:
    """JSON-friendly copies of numpy / pandas scalars and containers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    try:
        import pandas as pd  # noqa: PLC0415

        if pd.api.types.is_scalar(value) and pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def run_suite(
    con,
    suite: Suite,
    run_id: str,
    config: QualityConfig = DEFAULT_CONFIG,
    as_of_setting: date | None = None,
    docs_root: Path | None = None,
    write_audit: bool = True,
    log_fn=None,
    full: bool = False,
) -> SuiteRun:
    """Validate one suite against the warehouse behind `con` (read-write to keep the audit).

    Row rules cover the rows stamped after the suite's last successful
    validation (`audit.validated_through`), or every row with `full` or when
    there is none; whole-table rules (frames) always see the whole table.
    """
    previous_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute(f"SET memory_limit = '{config.duckdb_memory_limit}'")
    try:
        return _run_suite(con, suite, run_id, config, as_of_setting, docs_root, write_audit, log_fn, full)
    finally:
        con.execute(f"SET memory_limit = '{previous_limit}'")


NOT_TRACKED = "not tracked by this shop (no rows)"


def is_untracked(con, suite: Suite) -> bool:
    """An optional raw entity with no rows loaded or quarantined: the shop does not deliver it."""
    return suite.entity is not None and not suite.required_entity and suite.entity not in tracked_entities(con)


def _run_suite(con, suite, run_id, config, as_of_setting, docs_root, write_audit, log_fn, full) -> SuiteRun:
    say = log_fn or log.info
    started = time.monotonic()
    validated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    if is_untracked(con, suite):
        run = SuiteRun(suite=suite, run_id=run_id, results=[], row_count=0, rows_validated=0, chunks=0,
                       seconds=round(time.monotonic() - started, 3), as_of=None, validated_at=validated_at,
                       note=NOT_TRACKED)
        if write_audit:
            audit.write_suite_run(con, run)
        say(f"{suite.name}: {NOT_TRACKED}; its rules did not run")
        return run
    gx = _gx()
    ctx = validation_context()

    if any(STAGING_REFERENCE in sql for sql in suite.frames.values()):
        ensure_staging_reference(con, run_id)
    previous = audit.previous_row_count(con, suite.name, run_id)
    as_of = None
    if suite.as_of_sql:
        p = _params(suite.as_of_sql, {"as_of_setting": as_of_setting})
        as_of = con.execute(suite.as_of_sql, p).fetchone()[0]
    # the row rules' boundary: rows stamped after the last successful validation (None: every row)
    since = loaded_through = None
    if suite.loaded_at_column:
        col = rowsql.q(suite.loaded_at_column)
        stamps = [con.execute(f"SELECT max({col}) FROM {t}").fetchone()[0] for t in (suite.table, *suite.also_stamped)
                  if audit.table_exists(con, *t.split("."))]
        loaded_through = max((t for t in stamps if t is not None), default=None)
        since = None if full else audit.validated_through(con, suite.name)
    # the daily rules' boundary: days after the newest validated day are new, those before the oldest history
    validated_from, validated_through = audit.validated_days(con, suite.name) if suite.entity else (None, None)
    values = {"as_of": as_of, "previous_row_count": previous, "since": since,
              "validated_from": validated_from, "validated_through": validated_through}

    severities = {r.id: config.severity(suite.name, r.id, r.kind) for r in suite.rules}
    expectations = {r.id: build_expectation(r, severities[r.id]) for r in suite.rules}
    evrs: dict[str, Any] = {}
    frames: dict[str, Any] = {}

    # 1. aggregate frames, computed by DuckDB
    by_frame: dict[str, list[Rule]] = {}
    for r in suite.rules:
        by_frame.setdefault(r.frame, []).append(r)
    for frame in by_frame:
        if frame != ROWS:
            frames[frame] = _query_df(con, suite.frames[frame], values)

    # 2. row rules, over the rows loaded since the last successful validation
    row_rules = by_frame.get(ROWS, [])
    row_count = int(con.execute(f"SELECT count(*) FROM {suite.table}").fetchone()[0])
    in_duckdb = [r for r in row_rules if config.row_rules_in_duckdb and rowsql.translatable(r)]
    in_gx = [r for r in row_rules if r not in in_duckdb]
    rows_validated = 0
    queries: list[str] = []
    counted = None
    if in_duckdb:
        counted = _count_rows_in_duckdb(con, suite, in_duckdb, since)
        rows_validated = counted.element_count
        frames[SHARES] = counted.shares
    if in_gx:
        handed, queries, found = _validate_rows_in_gx(con, suite, in_gx, expectations, since, row_count, config, say)
        rows_validated = max(rows_validated, handed)
        evrs.update(found)

    # 3. GX validates the frames whole, one-row frames with distinct columns side by side in one batch
    frame_rules = {f: rules for f, rules in by_frame.items() if f != ROWS}
    if counted is not None:
        frame_rules[SHARES] = [Rule(ch.rule.id, ch.rule.kind, "ExpectColumnValuesToBeBetween",
                                    {"column": ch.rule.id, "min_value": 0, "max_value": ch.tolerance}, SHARES)
                               for ch in counted.checks]
    verdicts: dict[str, Any] = {}
    for batch_frames in frame_batches({f: frames[f] for f in frame_rules}):
        import pandas as pd  # noqa: PLC0415

        df = frames[batch_frames[0]] if len(batch_frames) == 1 else pd.concat(
            [frames[f].reset_index(drop=True) for f in batch_frames], axis=1)
        rules = [r for f in batch_frames for r in frame_rules[f]]
        exps = [build_expectation(r, "ERROR").copy() if r.frame == SHARES else expectations[r.id].copy()
                for r in rules]
        index = sorted({c for r in rules for c in r.index if c in df.columns})
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": config.max_examples}
        if index:
            result_format["unexpected_index_column_names"] = index
        out = _batch_definition(ctx).get_batch(batch_parameters={"dataframe": df}).validate(
            gx.ExpectationSuite(name=f"{suite.name}.{'+'.join(batch_frames)}", expectations=exps),
            result_format=result_format)
        for evr in out.results:
            meta = evr.expectation_config.meta
            (verdicts if meta.get("batch") == SHARES else evrs)[meta["rule_id"]] = evr
    if counted is not None:
        evrs.update(_row_results(con, suite, counted, verdicts, expectations, since, config))

    results = [
        _to_rule_result(r, severities[r.id], evrs[r.id], frames.get(r.frame), config.max_examples)
        for r in suite.rules
    ]
    run = SuiteRun(
        suite=suite, run_id=run_id, results=results, row_count=row_count, rows_validated=rows_validated,
        chunks=len(queries), seconds=0.0, as_of=as_of, validated_at=validated_at,
        validated_since=since, loaded_through=loaded_through,
    )
    if suite.entity:
        run.days_from, run.days_through = _days_covered(frames.get("stats"), as_of)
    if docs_root is not None and config.build_data_docs:
        try:
            run.data_docs = store_and_build_docs(docs_context(docs_root), suite, [evrs[r.id] for r in suite.rules],
                                                 [expectations[r.id] for r in suite.rules], run, config)
        except Exception as exc:  # docs are a view; never fail a validation over them
            say(f"{suite.name}: Data Docs not built: {type(exc).__name__}: {exc}")
    run.seconds = round(time.monotonic() - started, 3)
    if write_audit:
        audit.write_suite_run(con, run)
    say(
        f"{suite.name}: {len(results) - len(run.failed())}/{len(results)} expectations passed "
        f"({len(run.failed(ERROR))} ERROR, {len(run.failed(WARN))} WARN failed); row rules over {rows_validated:,} "
        f"of {row_count:,} rows ({'loaded after ' + str(since) if since else 'all'}), {run.seconds:.1f}s"
    )
    return run


def _days_covered(stats, as_of) -> tuple[date | None, date | None]:
    """First and newest day of the time column (the newest capped at the as-of date), from the stats frame."""
    if stats is None or "first_date" not in stats.columns or len(stats) != 1:
        return None, None
    import pandas as pd  # noqa: PLC0415

    first, newest = (None if pd.isna(v) else pd.Timestamp(v).date()
                     for v in (stats[c].iloc[0] for c in ("first_date", "newest_date")))
    if newest is not None and as_of is not None:
        newest = min(newest, as_of)
    return first, newest
