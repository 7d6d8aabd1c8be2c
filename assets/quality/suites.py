"""Expectation suites as code: one per raw entity, one per required mart.

A suite is a list of `Rule`s. Each rule names a Great Expectations
expectation class and its arguments; the engine (`engine.py`) builds the real
GX expectations from them and GX evaluates every one. A rule runs on one of
two kinds of batch:

- `rows` - the table itself, column-projected and cut into hash-partitioned
  chunks of `chunk_rows` rows (rows with the same key always land in the same
  chunk, so GX's uniqueness expectations stay exact);
- a named aggregate *frame* - a small table computed by DuckDB in one SQL
  query (the column types, the row count next to the previous successful
  run's, daily volumes, freshness lag, mart-vs-staging totals) that GX then
  validates whole.

Raw suites are derived from the source contract (`assets.extraction.contract`):
required columns, keys, enum sets and ranges are not copied here, so a
contract change changes the suite. Mart suites are written out: they are the
published product's promises.

No module here imports Great Expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assets.extraction.contract import (
    DEVICES,
    ENTITIES,
    LINEAGE_COLUMNS,
    RAW_SCHEMA,
    Entity,
)

from .config import DEFAULT_CONFIG, QualityConfig

ROWS = "rows"


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
    # frame name -> SQL (DuckDB), may use $as_of (DATE) and $previous_row_count (BIGINT)
    frames: dict[str, str] = field(default_factory=dict)
    # SQL returning the as-of date (one value); may use $as_of_setting (DATE or NULL)
    as_of_sql: str = ""
    description: str = ""

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
            kind: str = "range", frame: str = ROWS, index: tuple[str, ...] = (), description: str = "") -> Rule:
    kw: dict[str, Any] = {"column": col}
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
    return Rule(rule_id or f"{col}_range", kind, "ExpectColumnValuesToBeBetween", kw, frame, index, description)


def not_before(later: str, earlier: str, kind: str = "ordering", rule_id: str | None = None,
               description: str = "") -> Rule:
    return Rule(rule_id or f"{later}_not_before_{earlier}", kind, "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": later, "column_B": earlier, "or_equal": True,
                 "ignore_row_if": "either_value_is_missing"},
                description=description or f"{later} >= {earlier} (when both are set)")


def equal_columns(rule_id: str, a: str, b: str, frame: str, index: tuple[str, ...], description: str,
                  kind: str = "reconciliation") -> Rule:
    return Rule(rule_id, kind, "ExpectColumnPairValuesToBeEqual", {"column_A": a, "column_B": b},
                frame, index, description)


def schema_rule(description: str) -> Rule:
    return equal_columns("columns_and_types", "actual_type", "expected_type", "schema", ("column_name",),
                         description, kind="schema")


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


def stats_sql(table: str, time_column: str | None = None, time_unit: str = "day") -> str:
    fresh = ""
    if time_column:
        fresh = f""",
    max({time_column})::date as newest_date,
    $as_of::date as as_of_date,
    coalesce(date_diff('{time_unit}', date_trunc('{time_unit}', max({time_column})::date),
                       date_trunc('{time_unit}', $as_of::date)), 999999) as freshness_lag_{time_unit}s"""
    return f"""
select
    count(*)::bigint as row_count,
    $previous_row_count::bigint as previous_row_count,
    case when coalesce($previous_row_count, 0) = 0 then 1.0
         else count(*)::double / $previous_row_count end as row_count_ratio{fresh}
from {table}
"""


def daily_sql(table: str, time_column: str, window: int, min_typical: int) -> str:
    return f"""
with per_day as (
    select {time_column}::date as day, count(*) as records from {table} group by 1
),
bounds as (
    select min(day) as first_day, greatest(max(day), $as_of::date) as last_day from per_day
),
days as (
    select unnest(generate_series(first_day, last_day, interval 1 day))::date as day from bounds
),
filled as (
    select days.day, coalesce(per_day.records, 0)::bigint as records
    from days left join per_day on days.day = per_day.day
),
windowed as (
    select day, records, median(records) over (
        order by day rows between {window} preceding and {window} following) as nearby_median
    from filled
)
select
    day,
    records,
    nearby_median,
    -- judged only where the days around normally have >= {min_typical} records
    case when nearby_median >= {min_typical} then records end as records_on_busy_days,
    case when nearby_median >= {min_typical} then records / nearby_median end as ratio_to_nearby_median
from windowed
order by day
"""


def volume_rules(band: tuple[float, float]) -> list[Rule]:
    return [
        between("row_count", min_value=1, rule_id="not_empty", kind="volume", frame="stats",
                index=("row_count",), description="the table has rows"),
        between("row_count_ratio", min_value=band[0], max_value=band[1], rule_id="row_count_vs_previous_run",
                kind="volume", frame="stats", index=("row_count", "previous_row_count"),
                description=f"row count within {band[0]:g}x-{band[1]:g}x of the previous successful run"),
    ]


# --- raw suites -----------------------------------------------------------------------

RAW_AS_OF_SQL = f"""
select coalesce($as_of_setting::date, (select max(created_at)::date from {RAW_SCHEMA}.orders))
"""


def raw_suite(entity: Entity, config: QualityConfig = DEFAULT_CONFIG, currency: str = "USD") -> Suite:
    table = f"{RAW_SCHEMA}.{entity.name}"
    pk = entity.primary_key
    rules: list[Rule] = []
    frames: dict[str, str] = {}

    expected = entity.raw_columns + list(LINEAGE_COLUMNS)
    frames["schema"] = schema_sql(RAW_SCHEMA, entity.name, expected, strict=True)
    rules.append(schema_rule("the columns and types of the source contract, plus lineage columns"))

    rules += [not_null(c, kind="keys") for c in pk]
    rules.append(unique(pk))
    rules += [not_null(c.name) for c in entity.columns if c.required and c.name not in pk]

    for c in entity.columns:
        if c.allowed:
            rules.append(in_set(c.name, c.allowed))
        if c.is_currency:
            rules.append(in_set(c.name, [currency]))
        if c.non_negative:
            rules.append(between(c.name, min_value=0))
        elif c.min_value is not None or c.max_value is not None:
            rules.append(between(c.name, c.min_value, c.max_value))

    for later, earlier in entity.ordering:
        rules.append(not_before(later, earlier))

    ts = config.time_columns[entity.name]
    lag = config.freshness_lag_days[entity.name]
    frames["stats"] = stats_sql(table, ts)
    rules += volume_rules(config.raw_volume_band)
    if entity.name in config.no_empty_day_entities or entity.name in config.daily_spike_entities:
        frames["daily"] = daily_sql(table, ts, config.daily_spike_window_days, config.daily_min_typical_records)
    if entity.name in config.no_empty_day_entities:
        rules.append(between("records_on_busy_days", min_value=1, rule_id="no_empty_day", kind="volume",
                             frame="daily", index=("day", "nearby_median"),
                             description=f"every day from the first {ts} to the as-of date has rows (days "
                                         f"around it normally have >= {config.daily_min_typical_records})"))
    if entity.name in config.daily_spike_entities:
        f = config.daily_spike_factor
        rules.append(between("ratio_to_nearby_median", max_value=f, rule_id="daily_volume_spike", kind="volume",
                             frame="daily", index=("day", "records", "nearby_median"),
                             description=f"no day with more than {f:g}x the median volume of the days around it "
                                         "(a duplicated day)"))
    rules.append(between("freshness_lag_days", max_value=lag, rule_id="freshness", kind="freshness",
                         frame="stats", index=("newest_date", "as_of_date"),
                         description=f"newest {ts} at most {lag} day(s) before the as-of date"))
    return Suite(
        name=f"raw_{entity.name}",
        table=table,
        asset_key=("raw", entity.name),
        key=pk,
        rules=tuple(rules),
        frames=frames,
        as_of_sql=RAW_AS_OF_SQL,
        description=f"Raw {entity.name} as extracted (contract, keys, volume, freshness).",
    )


# --- mart suites ----------------------------------------------------------------------

MARTS_SCHEMA = "marts"
AS_OF_DATE_SQL = "select as_of_date from intermediate.int_as_of_date"
# The as-of date the marts were built with (dbt var or newest order).
MART_AS_OF_SQL = AS_OF_DATE_SQL

# The staging orders that count as revenue (int_orders: net revenue =
# subtotal - discount - refunded_amount; qualifying = not cancelled and net > 0),
# restated here on purpose so the marts are checked against an independent sum.
QUALIFYING_STAGING_ORDERS = f"""
select
    order_id, customer_id, order_date, order_month,
    subtotal - discount - refunded_amount as net_revenue
from staging.stg_shop__orders
where order_date <= ({AS_OF_DATE_SQL})
  and status <> 'cancelled'
  and subtotal - discount - refunded_amount > 0
"""


def revenue_sql(mart_total_sql: str, customers_only: bool) -> str:
    where = "where customer_id is not null" if customers_only else ""
    return f"""
with mart as ({mart_total_sql}),
stg as (select sum(net_revenue) as total from ({QUALIFYING_STAGING_ORDERS}) {where})
select
    cast(round(coalesce((select total from mart), 0) * 100) as bigint) as mart_net_revenue_cents,
    cast(round(coalesce((select total from stg), 0) * 100) as bigint) as staging_net_revenue_cents,
    cast(round(coalesce((select total from mart), 0) * 100) as bigint)
      - cast(round(coalesce((select total from stg), 0) * 100) as bigint) as revenue_diff_cents
"""


def revenue_rule(config: QualityConfig, scope: str) -> Rule:
    tol = config.revenue_tolerance_cents
    return between("revenue_diff_cents", min_value=-tol, max_value=tol, rule_id="net_revenue_matches_staging",
                   kind="reconciliation", frame="revenue",
                   index=("mart_net_revenue_cents", "staging_net_revenue_cents"),
                   description=f"total net revenue equals the staging total of {scope} (to the cent)")


def mart_suite(name: str, columns: dict[str, str], key: tuple[str, ...], rules: list[Rule],
               frames: dict[str, str], config: QualityConfig, description: str) -> Suite:
    table = f"{MARTS_SCHEMA}.{name}"
    all_frames = {
        "schema": schema_sql(MARTS_SCHEMA, name, list(columns.items()), strict=False),
        "stats": frames.pop("stats", None) or stats_sql(table),
        **frames,
    }
    all_rules = [schema_rule("the mart's published columns and types")]
    all_rules += [not_null(c, kind="keys") for c in key]
    all_rules.append(unique(key))
    all_rules += rules
    all_rules += volume_rules(config.mart_volume_band)
    return Suite(name=name, table=table, asset_key=("marts", name), key=key, rules=tuple(all_rules),
                 frames=all_frames, as_of_sql=MART_AS_OF_SQL, description=description)


def rate_rule(col: str) -> Rule:
    return between(col, 0, 1, description=f"{col} is a rate in [0, 1]")


def mart_suites(config: QualityConfig = DEFAULT_CONFIG) -> list[Suite]:
    t = "marts"
    suites = [
        mart_suite(
            "mart_cohort_retention",
            {"cohort_month": "DATE", "months_since_first_order": "INTEGER", "cohort_size": "BIGINT",
             "active_customers": "BIGINT", "retention_rate": "DOUBLE", "net_revenue": "DECIMAL(18,2)",
             "cumulative_net_revenue_per_customer": "DOUBLE"},
            ("cohort_month", "months_since_first_order"),
            [
                rate_rule("retention_rate"),
                between("months_since_first_order", min_value=0),
                between("cohort_size", min_value=1),
                between("active_customers", min_value=0),
                between("net_revenue", min_value=0),
                not_before("cohort_size", "active_customers", kind="range", rule_id="active_customers_within_cohort",
                           description="active_customers <= cohort_size"),
                equal_columns("cohort_size_matches_first_orders", "mart_cohort_size", "staging_customers",
                              "cohorts", ("cohort_month",),
                              "every cohort's size equals the customers whose first qualifying order is in "
                              "that month (staging)"),
                revenue_rule(config, "customers' qualifying orders"),
            ],
            {
                "cohorts": f"""
with mart as (
    select cohort_month, min(cohort_size) as mart_cohort_size
    from {t}.mart_cohort_retention group by cohort_month
),
firsts as (
    select customer_id, min(order_month) as cohort_month
    from ({QUALIFYING_STAGING_ORDERS}) where customer_id is not null group by customer_id
),
stg as (select cohort_month, count(*) as staging_customers from firsts group by cohort_month)
select coalesce(mart.cohort_month, stg.cohort_month) as cohort_month,
       coalesce(mart.mart_cohort_size, 0)::bigint as mart_cohort_size,
       coalesce(stg.staging_customers, 0)::bigint as staging_customers
from mart full join stg on mart.cohort_month = stg.cohort_month
order by 1
""",
                "revenue": revenue_sql(f"select sum(net_revenue) as total from {t}.mart_cohort_retention", True),
            },
            config,
            "Cohort retention grid: rates, cohort sizes and revenue reconcile with staging.",
        ),
        mart_suite(
            "mart_retention_rate",
            {"month": "DATE", "customers_at_start": "BIGINT", "new_customers": "BIGINT",
             "customers_at_end": "BIGINT", "retention_rate": "DOUBLE"},
            ("month",),
            [
                rate_rule("retention_rate"),
                between("customers_at_start", min_value=0),
                between("new_customers", min_value=0),
                between("customers_at_end", min_value=0),
                between("freshness_lag_months", 0, 0, rule_id="freshness", kind="freshness", frame="stats",
                        index=("newest_date", "as_of_date"), description="the newest month is the as-of month"),
            ],
            {"stats": stats_sql(f"{t}.mart_retention_rate", "month", "month")},
            config,
            "Monthly retention rate.",
        ),
        mart_suite(
            "mart_customer_churn",
            {"customer_id": "VARCHAR", "first_order_at": "TIMESTAMP", "last_order_at": "TIMESTAMP",
             "orders_count": "BIGINT", "days_since_last_order": "INTEGER", "typical_interorder_days": "DOUBLE",
             "is_churned": "BOOLEAN"},
            ("customer_id",),
            [
                not_null("is_churned"),
                between("orders_count", min_value=1),
                between("days_since_last_order", min_value=0),
                between("typical_interorder_days", min_value=0),
                not_before("last_order_at", "first_order_at"),
                equal_columns("customers_match_staging", "mart_customers", "staging_customers", "customers", (),
                              "one row per customer with a qualifying order in staging"),
            ],
            {"customers": f"""
select (select count(*) from {t}.mart_customer_churn)::bigint as mart_customers,
       (select count(distinct customer_id) from ({QUALIFYING_STAGING_ORDERS}))::bigint as staging_customers
"""},
            config,
            "Churn status per customer.",
        ),
        mart_suite(
            "mart_churn_monthly",
            {"month": "DATE", "active_at_start": "BIGINT", "churned_in_month": "BIGINT", "churn_rate": "DOUBLE"},
            ("month",),
            [
                rate_rule("churn_rate"),
                between("active_at_start", min_value=0),
                between("churned_in_month", min_value=0),
            ],
            {},
            config,
            "Monthly churn rate.",
        ),
        mart_suite(
            "mart_customer_clv",
            {"customer_id": "VARCHAR", "cohort_month": "DATE", "orders_count": "BIGINT",
             "net_revenue": "DECIMAL(18,2)", "gross_margin": "DECIMAL(18,2)", "aov": "DOUBLE",
             "orders_per_year": "DOUBLE", "tenure_years": "DOUBLE", "historical_clv": "DECIMAL(18,2)"},
            ("customer_id",),
            [
                not_null("cohort_month"),
                between("orders_count", min_value=1),
                between("net_revenue", min_value=0, strict_min=True),
                between("aov", min_value=0, strict_min=True),
                between("orders_per_year", min_value=0, strict_min=True),
                between("tenure_years", min_value=0, strict_min=True),
                between("historical_clv", min_value=0),
                revenue_rule(config, "customers' qualifying orders"),
            ],
            {"revenue": revenue_sql(f"select sum(net_revenue) as total from {t}.mart_customer_clv", True)},
            config,
            "Historical CLV per customer.",
        ),
        mart_suite(
            "mart_clv_summary",
            {"cohort": "VARCHAR", "cohort_year": "INTEGER", "customers": "BIGINT", "orders": "BIGINT",
             "net_revenue": "DECIMAL(18,2)", "avg_order_value": "DOUBLE", "avg_orders_per_year": "DOUBLE",
             "avg_retention_years": "DOUBLE", "clv": "DOUBLE"},
            ("cohort",),
            [
                between("customers", min_value=1),
                between("orders", min_value=1),
                between("avg_order_value", min_value=0, strict_min=True),
                between("clv", min_value=0),
                revenue_rule(config, "customers' qualifying orders"),
            ],
            {"revenue": revenue_sql(
                f"select sum(net_revenue) as total from {t}.mart_clv_summary where cohort = 'all'", True)},
            config,
            "Company-wide CLV per cohort year and for all customers.",
        ),
        mart_suite(
            "mart_aov_by_device",
            {"order_month": "DATE", "device": "VARCHAR", "orders": "BIGINT", "customers": "BIGINT",
             "net_revenue": "DECIMAL(18,2)", "aov": "DOUBLE"},
            ("order_month", "device"),
            [
                in_set("device", DEVICES),
                between("orders", min_value=1),
                between("customers", min_value=0),
                between("net_revenue", min_value=0, strict_min=True),
                between("aov", min_value=0, strict_min=True),
                revenue_rule(config, "all qualifying orders (guests included)"),
            ],
            {"revenue": revenue_sql(f"select sum(net_revenue) as total from {t}.mart_aov_by_device", False)},
            config,
            "Average order value per month and device.",
        ),
    ]
    return suites


REQUIRED_MARTS = (
    "mart_cohort_retention",
    "mart_retention_rate",
    "mart_customer_churn",
    "mart_churn_monthly",
    "mart_customer_clv",
    "mart_clv_summary",
    "mart_aov_by_device",
)


def raw_suites(config: QualityConfig = DEFAULT_CONFIG, currency: str = "USD") -> list[Suite]:
    return [raw_suite(e, config, currency) for e in ENTITIES.values()]


def all_suites(config: QualityConfig = DEFAULT_CONFIG, currency: str = "USD") -> dict[str, Suite]:
    return {s.name: s for s in raw_suites(config, currency) + mart_suites(config)}
