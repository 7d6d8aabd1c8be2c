"""The SQL of the suites' aggregate frames and of the staging reference (DuckDB), as text.

Each function returns one query a suite's frame is computed by (`gx_suite.materialize_frames`
stores its result for GX to validate); `$name` placeholders are bound by the engine
(`$as_of`, `$previous_row_count`, `$since`, `$validated_from`). No module here imports
Great Expectations.
"""

from __future__ import annotations

from assets.extraction.contract import OTHER, RAW_SCHEMA

from .days import local_quarter_hours_sql
from .rules import CONFLICT_REASON

AS_OF_DATE_SQL = "select as_of_date from intermediate.int_as_of_date"


def schema_sql(schema: str, table: str, expected: list[tuple[str, str]], strict: bool) -> str:
    """Expected vs actual column types; `strict` also lists columns the contract does not have."""
    values = ", ".join(f"('{c}', '{t.upper()}', {i})" for i, (c, t) in enumerate(expected))
    join = "full join" if strict else "left join"
    return f"""
with expected(column_name, expected_type, position) as (values {values}),
actual as (
    select column_name, upper(data_type) as data_type
    from information_schema.columns
    where table_schema = '{schema}' and table_name = '{table}'
)
select
    coalesce(expected.column_name, actual.column_name) as column_name,
    coalesce(actual.data_type, 'MISSING') as actual_type,
    coalesce(expected.expected_type, 'NOT IN CONTRACT') as expected_type
from expected {join} actual on expected.column_name = actual.column_name
order by coalesce(expected.position, 1000), column_name
"""


def stats_sql(table: str, time_column: str | None = None, time_unit: str = "day",
              nightly_only: bool = False, timezone: str | None = None) -> str:
    """Row count next to the previous successful run's, and the freshness lag.

    The lag is NULL (not judged: GX skips nulls) when the table has no dated
    record and, with `nightly_only`, when no earlier run of the suite
    validated rows successfully: a first import of history is not late.
    With `nightly_only` (raw tables) the ratio also leaves out the rows dated
    before the oldest day already validated (`$validated_from`): a backfill
    of older history is described by the daily rules, not blocked for its size.

    `timezone`: `time_column` is a UTC timestamp whose days are counted in the shop's zone, from
    its rows per quarter-hour (`days.local_quarter_hours_sql`).
    """
    fresh = ""
    count = "count(*)"
    source = table
    if time_column and timezone is not None:
        count = "sum(n)"
        source = f"(select local as {time_column}, n from ({local_quarter_hours_sql(table, time_column, timezone)})) per_slot"
    compared = count
    if time_column and nightly_only:
        compared = (f"{count} filter (where $validated_from::date is null or {time_column} is null "
                    f"or {time_column}::date >= $validated_from::date)")
    if time_column:
        judged = "coalesce($previous_row_count, 0) > 0" if nightly_only else "true"
        fresh = f""",
    min({time_column})::date as first_date,
    max({time_column})::date as newest_date,
    $as_of::date as as_of_date,
    case when {judged} then date_diff('{time_unit}', date_trunc('{time_unit}', max({time_column})::date),
                                      date_trunc('{time_unit}', $as_of::date)) end as freshness_lag_{time_unit}s"""
    return f"""
select
    coalesce({count}, 0)::bigint as row_count,
    $previous_row_count::bigint as previous_row_count,
    case when coalesce($previous_row_count, 0) = 0 then 1.0
         else coalesce({compared}, 0)::double / $previous_row_count end as row_count_ratio{fresh}
from {source}
"""


def quarantine_sql(entity: str) -> str:
    """Quarantined rows / rows read (loaded + quarantined), over everything in the warehouse.

    Only the counts: `gx_expectations.ExpectQuarantineRateToBeAtMost` judges
    them (the rate, from how many quarantined rows on).
    """
    return f"""
with q as (
    select count(*)::bigint as quarantined_rows,
           count(*) filter (where reason = '{CONFLICT_REASON}')::bigint as conflicting_rows
    from {RAW_SCHEMA}.quarantine where entity = '{entity}'
),
l as (select count(*)::bigint as loaded_rows from {RAW_SCHEMA}.{entity}),
top_reasons as (
    select string_agg(reason || ' (' || n || ')', ', ' order by n desc, reason) as top_reasons
    from (select split_part(split_part(reason, ';', 1), '=', 1) as reason, count(*) as n
          from {RAW_SCHEMA}.quarantine where entity = '{entity}' group by 1 order by 2 desc, 1 limit 5)
)
select loaded_rows, quarantined_rows, loaded_rows + quarantined_rows as rows_read,
       case when loaded_rows + quarantined_rows = 0 then 0.0
            else quarantined_rows::double / (loaded_rows + quarantined_rows) end as quarantine_rate,
       conflicting_rows, top_reasons
from q, l, top_reasons
"""


def other_values_sql(table: str, column: str, original: str, max_examples: int) -> str:
    """Rows loaded as `other` in an open-set column, with the most frequent exported texts."""
    return f"""
with others as (select {original} as original from {table} where {column} = '{OTHER}'),
top as (
    select string_agg(coalesce(original, '(blank)') || ' (' || n || ')', ', ' order by n desc, original)
        as top_original_values
    from (select original, count(*) as n from others group by 1 order by 2 desc, 1 limit {max_examples})
)
select (select count(*) from others)::bigint as other_rows,
       (select count(*) from {table})::bigint as row_count,
       case when (select count(*) from {table}) = 0 then 0.0
            else (select count(*) from others)::double / (select count(*) from {table}) end as other_rate,
       top_original_values
from top
"""


def subtotal_sql(tolerance: float, max_examples: int) -> str:
    """Orders that have lines: subtotal vs sum(quantity x unit_price) of the lines.

    Judged, like the row rules, over the orders loaded - or whose lines were
    loaded - after `$since` (the suite's last successful validation; NULL:
    every order), so a night joins its own orders, not the whole history.
    """
    loaded = "_loaded_at is null or _loaded_at > $since::timestamp"
    return f"""
with touched as (
    select order_id from {RAW_SCHEMA}.orders where {loaded}
    union
    select order_id from {RAW_SCHEMA}.order_lines where {loaded}
),
lines as (
    select order_id, sum(quantity * unit_price) as lines_total
    from {RAW_SCHEMA}.order_lines
    where $since::timestamp is null or order_id in (select order_id from touched)
    group by order_id
),
compared as (
    select o.order_id, o.subtotal, l.lines_total, abs(o.subtotal - l.lines_total) > {tolerance} as is_off
    from {RAW_SCHEMA}.orders o join lines l on o.order_id = l.order_id
),
examples as (
    select string_agg(order_id || ': ' || subtotal || ' vs ' || lines_total, ', ' order by order_id)
        as example_orders
    from (select * from compared where is_off order by order_id limit {max_examples})
)
select count(*)::bigint as orders_with_lines,
       count(*) filter (where is_off)::bigint as orders_off,
       case when count(*) = 0 then 0.0 else (count(*) filter (where is_off))::double / count(*) end
           as subtotal_mismatch_rate,
       (select example_orders from examples) as example_orders
from compared
"""


# The staging orders that count as revenue (int_orders: net revenue =
# subtotal - discount - refunded_amount; qualifying = not cancelled and net > 0),
# restated here on purpose so the marts are checked against an independent sum.
# Computed once per run into this small table (`engine.ensure_staging_reference`,
# `STAGING_REFERENCE_SQL`): the mart suites of one run all reconcile against
# the same staging snapshot, and the staging view is read once, not by each.
STAGING_REFERENCE = "quality_cache.staging_reference"
QUALIFYING_STAGING_ORDERS = f"""
select
    order_id, customer_id, order_date, order_month,
    subtotal - discount - refunded_amount as net_revenue
from staging.stg_shop__orders
where order_date <= ({AS_OF_DATE_SQL})
  and status <> 'cancelled'
  and subtotal - discount - refunded_amount > 0
"""

# What the mart suites compare with, per month of qualifying orders (orders, net
# revenue, customers' net revenue) and per cohort month (customers whose first
# qualifying order falls in it): a few hundred rows, from one read of staging.
STAGING_REFERENCE_SQL = f"""
with q as materialized ({QUALIFYING_STAGING_ORDERS}),
firsts as (select customer_id, min(order_month) as cohort_month from q where customer_id is not null group by 1)
select 'month' as grain, order_month as month, count(*)::bigint as orders, sum(net_revenue) as net_revenue,
       coalesce(sum(net_revenue) filter (where customer_id is not null), 0) as customer_net_revenue,
       null::bigint as customers
from q group by order_month
union all
select 'cohort', cohort_month, null, null, null, count(*)::bigint from firsts group by cohort_month
"""
