"""Expectation suites as code: one per raw entity, one per required mart.

A suite is a list of `Rule`s. Each rule names a Great Expectations
expectation class (the gallery's, or the project's own in
`gx_expectations.py`) and its arguments; `gx_suite.py` builds the GX
ExpectationSuite from them and GX validates it on the build warehouse. A
rule judges one part of the suite's batch:

- `rows` - the table's rows (for raw tables, those loaded since the suite's
  last successful validation; uniqueness also sees the older rows holding
  a new row's key);
- a named aggregate *frame* - a small table computed by DuckDB in one SQL
  query (the column types, the row count next to the previous successful
  run's, daily volumes against weekday peers, freshness lag, quarantine
  rate, `other` values, subtotal-vs-lines, cohort sizes against staging).

Raw suites are derived from the source contract (`assets.extraction.contract`):
required columns, keys, enum sets and ranges are not copied here, so a
contract change changes the suite. Mart suites hold the business rules dbt
does not test; their columns, types and the rules dbt's data tests already
check come from the dbt manifest (`manifest.py`).

No module here imports Great Expectations.
"""

from __future__ import annotations

from typing import Any

from assets.extraction.contract import (
    ENTITIES,
    LINEAGE_COLUMNS,
    OTHER,
    RAW_SCHEMA,
    Entity,
)

from assets.manifest import MartContract, load_manifest, mart_contract
from assets.marts import quality_suite_marts
from assets.settings import DBT_PROJECT_DIR

from .config import DEFAULT_CONFIG, QualityConfig
from .days import daily_sql, history_sql, shop_time

from .rules import (  # noqa: F401 - the rule types and helpers, read from here by the suites' users
    CONFLICT_REASON,
    LOADED_AT,
    ROWS,
    Rule,
    Suite,
    _mostly_note,
    between,
    equal_columns,
    in_set,
    not_before,
    not_null,
    schema_rule,
    unique,
)

from .manifest import CONTRACT
from .frame_sql import (  # noqa: F401 - STAGING_REFERENCE_SQL, AS_OF_DATE_SQL: read from here by the engine
    AS_OF_DATE_SQL,
    STAGING_REFERENCE,
    STAGING_REFERENCE_SQL,
    other_values_sql,
    quarantine_sql,
    schema_sql,
    stats_sql,
    subtotal_sql,
)


# The project's expectations (gx_expectations.py) for what the gallery has none for: the days a run brought
# against the same weekday's volume, empty days where records were due, the share the loader quarantined
WEEKDAY_VOLUME = "ExpectNewDaysToMatchWeekdayVolume"
NO_EMPTY_NEW_DAYS = "ExpectNoEmptyNewDays"
QUARANTINE_RATE = "ExpectQuarantineRateToBeAtMost"


def volume_rules(band: tuple[float, float]) -> list[Rule]:
    return [
        between("row_count", min_value=1, rule_id="not_empty", kind="volume", frame="stats",
                index=("row_count",), description="the table has rows"),
        between("row_count_ratio", min_value=band[0], max_value=band[1], rule_id="row_count_vs_previous_run",
                kind="volume", frame="stats", index=("row_count", "previous_row_count"),
                description=f"row count within {band[0]:g}x-{band[1]:g}x of the previous successful run"),
    ]


# --- raw suites -----------------------------------------------------------------------

def raw_as_of_sql(timezone: str = "UTC") -> str:
    """A raw suite's as-of date: the run's date the checks pass (`checks.run_as_of`), else the newest order's
    shop-local day."""
    # Only the orders of the newest UTC days can hold the newest local day (a zone's offsets differ by
    # hours): the conversion reads those, not every order.
    return f"""
select coalesce($as_of_setting::date, (
    select max({shop_time('created_at', timezone)})::date from {RAW_SCHEMA}.orders
    where created_at >= (select max(created_at) from {RAW_SCHEMA}.orders) - interval 2 day))
"""


def raw_suite(entity: Entity, config: QualityConfig = DEFAULT_CONFIG, currency: str = "USD",
              timezone: str = "UTC") -> Suite:
    """`timezone`: the shop's, in which the day-level rules (volume per day, freshness) count days."""
    table = f"{RAW_SCHEMA}.{entity.name}"
    pk = entity.primary_key
    rules: list[Rule] = []
    frames: dict[str, str] = {}
    # Rules one record can break: the loader quarantines such rows, so here
    # they stop the run only when a share of the rows breaks them.
    mostly = 1 - config.row_error_rate

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
            rules.append(between(c.name, min_value=0, mostly=mostly))
        elif c.min_value is not None or c.max_value is not None:
            rules.append(between(c.name, c.min_value, c.max_value, mostly=mostly))

    for later, earlier in entity.ordering:
        rules.append(not_before(later, earlier, mostly=mostly))

    ts = config.time_columns[entity.name]
    lag = config.freshness_lag_days[entity.name]
    frames["stats"] = stats_sql(table, ts, nightly_only=True, timezone=timezone)
    rules += volume_rules(config.raw_volume_band)
    rules += daily_rules(entity.name, table, ts, config, frames, timezone)
    rules.append(between("freshness_lag_days", max_value=lag, rule_id="freshness", kind="freshness",
                         frame="stats", index=("newest_date", "as_of_date"),
                         description=f"newest {ts} at most {lag} day(s) before the run's as-of date (its `until`, "
                                     "else today; judged when an earlier run validated rows: not on a first import)"))
    rules += loader_rules(entity, table, config, frames)
    if entity.name == "orders":
        frames["subtotal"] = subtotal_sql(config.subtotal_tolerance, config.max_examples)
        rules.append(between(
            "subtotal_mismatch_rate", max_value=config.subtotal_mismatch_max_rate,
            rule_id="subtotal_matches_lines", kind="reconciliation", frame="subtotal",
            index=("orders_with_lines", "orders_off", "example_orders"),
            description=f"subtotal within {config.subtotal_tolerance:g} of the sum of quantity x unit_price of "
                        f"its lines (orders that have lines; at most "
                        f"{100 * config.subtotal_mismatch_max_rate:g}% off)"))
    return Suite(
        name=f"raw_{entity.name}",
        table=table,
        asset_key=("raw", entity.name),
        key=pk,
        rules=tuple(rules),
        frames=frames,
        as_of_sql=raw_as_of_sql(timezone),
        description=f"Raw {entity.name} as extracted (contract, keys, volume, freshness, loader outcomes).",
        entity=entity.name,
        required_entity=entity.required_entity,
        loaded_at_column=LOADED_AT,
        also_stamped=(f"{RAW_SCHEMA}.order_lines",) if entity.name == "orders" else (),
    )


def daily_rules(entity: str, table: str, ts: str, config: QualityConfig, frames: dict[str, str],
                timezone: str = "UTC") -> list[Rule]:
    """The new days judged (empty, runs of empty, spikes); the history this run loaded described (WARN).

    `ts`: the time column (naive UTC); days are counted in the shop's `timezone`.
    """
    empty = entity in config.no_empty_day_entities
    spike = entity in config.daily_spike_entities
    if not (empty or spike):
        return []
    frames["daily"] = daily_sql(table, ts, config, timezone)
    frames["history"] = history_sql(table, ts, config, timezone)
    peers = (f"the same weekday normally has >= {config.daily_min_typical_records} records over the last "
             f"{config.daily_window_weeks} weeks; closed days and usual yearly closures excepted")
    rules = []
    if empty:
        n = config.empty_run_days
        rules += [
            Rule("no_empty_day", "volume", NO_EMPTY_NEW_DAYS, {"min_run_days": 1}, frame="daily",
                 description=f"no empty day among the days this run brought where {peers} (a lost export)"),
            Rule("no_empty_run", "volume", NO_EMPTY_NEW_DAYS, {"min_run_days": n}, frame="daily",
                 description=f"no {n} or more consecutive empty days among the days this run brought where "
                             f"{peers}"),
            between("history_gap_days", max_value=0, rule_id="history_gaps", kind="volume", frame="history",
                    index=("history_from", "history_through", "gap_stretches", "suggested_config"),
                    description="the history this run loaded (a first run, or a backfill of older days) has no "
                                "empty days where the same weekday around them is busy (described, never "
                                "blocking: closures, a launch)"),
        ]
    if spike:
        f = config.daily_spike_factor
        rules += [
            Rule("daily_volume_spike", "volume", WEEKDAY_VOLUME, {"max_ratio": f}, frame="daily",
                 description=f"no day this run brought with more than {f:g}x the median volume of the same "
                             "weekday over the last weeks (a duplicated day)"),
            between("history_spike_days", max_value=0, rule_id="history_spikes", kind="volume", frame="history",
                    index=("history_from", "history_through", "spike_examples"),
                    description=f"the history this run loaded has no day above {f:g}x the median of the same "
                                "weekday around it (described, never blocking: a launch, a sale)"),
        ]
    return rules


def loader_rules(entity: Entity, table: str, config: QualityConfig, frames: dict[str, str]) -> list[Rule]:
    """What the loader set aside or could not map: quarantine rate, conflicts, `other` values."""
    frames["quarantine"] = quarantine_sql(entity.name)
    warn, error = config.quarantine_rate_warn, config.quarantine_rate_error
    rules = [
        Rule("quarantine_rate_warn", "quarantine", QUARANTINE_RATE, {"max_rate": warn}, frame="quarantine",
             description=f"at most {100 * warn:g}% of the rows read were quarantined"),
        Rule("quarantine_rate", "quarantine", QUARANTINE_RATE,
             {"max_rate": error, "min_quarantined_rows": config.quarantine_min_rows}, frame="quarantine",
             description=f"at most {100 * error:g}% of the rows read were quarantined (judged from "
                         f"{config.quarantine_min_rows} quarantined rows on)"),
        between("conflicting_rows", max_value=config.conflict_max_rows, rule_id="no_conflicting_duplicates",
                kind="conflict", frame="quarantine", index=("conflicting_rows",),
                description="no key delivered twice with different content (quarantined as "
                            f"{CONFLICT_REASON}; at most {config.conflict_max_rows} rows)"),
    ]
    for c in entity.open_set_columns:
        frame = f"other_{c.name}"
        frames[frame] = other_values_sql(table, c.name, c.original_column, config.max_examples)
        rules.append(between(
            "other_rate", max_value=config.other_value_max_rate, rule_id=f"{c.name}_other_values",
            kind="other_value", frame=frame, index=("other_rows", "top_original_values"),
            description=f"{c.name}: at most {100 * config.other_value_max_rate:g}% of the rows loaded as "
                        f"'{OTHER}' (a value outside the contract's list; the text is in {c.original_column})"))
    return rules


# --- mart suites ----------------------------------------------------------------------

MARTS_SCHEMA = "marts"
# The manifest `dbt parse` (`make manifest`) writes: the marts' columns, types and dbt tests.
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
# The as-of date the marts were built with (dbt var or newest order).
MART_AS_OF_SQL = AS_OF_DATE_SQL

# A rule naming this expectation (gx_expectations.py): the mart's net revenue against the staging reference
REVENUE_MATCHES_STAGING = "ExpectMartRevenueToMatchStaging"


def revenue_rule(config: QualityConfig, scope: str, customers_only: bool, mart_filter: str | None = None) -> Rule:
    """Total net revenue of the mart's rows (those matching `mart_filter`) = the staging reference, in cents.

    GX computes both totals (the project's expectation `ExpectMartRevenueToMatchStaging`).
    """
    kwargs: dict[str, Any] = {"column": "net_revenue", "reference_table": STAGING_REFERENCE,
                              "reference_column": "customer_net_revenue" if customers_only else "net_revenue",
                              "tolerance_cents": config.revenue_tolerance_cents}
    if mart_filter:
        kwargs["mart_filter"] = mart_filter
    return Rule("net_revenue_matches_staging", "reconciliation", REVENUE_MATCHES_STAGING, kwargs,
                description=f"total net revenue equals the staging total of {scope} (to the cent)")


def mart_suite(name: str, key: tuple[str, ...], rules: list[Rule], frames: dict[str, str],
               config: QualityConfig, description: str, contract: "MartContract") -> Suite:
    """A mart's GX rules: what its dbt tests do not declare (each promise is declared once).

    Keys, not null, value sets and bounds a row can be checked against are
    dbt tests in the mart's yml, with their severity; the rules here are the
    rest (reconciliation with staging, volume, freshness, bounds dbt does not
    test). Nothing is subtracted at run time: `test_manifest` fails when a rule
    here is one a dbt test also declares. Columns and types come from the dbt
    manifest (`contract`): dbt's when the contract is enforced, else checked
    here; a rule on a column the mart's yml does not publish is left out
    (`Suite.left_out`).
    """

    table = f"{MARTS_SCHEMA}.{name}"
    all_frames = {"stats": frames.pop("stats", None) or stats_sql(table), **frames}
    candidates = [] if contract.enforced else [schema_rule("the mart's published columns and types (from its yml)")]
    candidates += rules
    candidates += volume_rules(config.mart_volume_band)
    kept: list[Rule] = []
    left_out: list[tuple[str, str]] = []
    published = contract.column_names
    for r in candidates:
        if r.frame == ROWS and not set(r.columns) <= published:
            missing = sorted(set(r.columns) - published)
            left_out.append((r.id, f"{', '.join(missing)} not in the mart's yml"))
            continue
        kept.append(r)
    if not contract.enforced:
        all_frames["schema"] = schema_sql(MARTS_SCHEMA, name, list(contract.columns), strict=False)
    used = {r.frame for r in kept}
    all_frames = {f: sql for f, sql in all_frames.items() if f in used}
    return Suite(name=name, table=table, asset_key=("marts", name), key=key, rules=tuple(kept),
                 frames=all_frames, as_of_sql=MART_AS_OF_SQL, description=description,
                 covered_by_dbt=(("columns_and_types", CONTRACT),) if contract.enforced else (),
                 left_out=tuple(left_out))


def mart_suites(config: QualityConfig = DEFAULT_CONFIG, manifest: dict | None = None) -> list[Suite]:
    """The required marts' suites; columns and the rules dbt tests already check come from `manifest`.

    `manifest` defaults to the one `dbt parse` left in dbt_project/target.
    """

    if manifest is None:
        manifest = load_manifest(MANIFEST_PATH)
    t = "marts"

    def mart_suite_of(name, key, rules, frames, config, description):
        return mart_suite(name, key, rules, frames, config, description, mart_contract(manifest, name))

    suites = [
        mart_suite_of(
            "mart_cohort_retention",
            ("cohort_month", "months_since_first_order"),
            [
                between("active_customers", min_value=0),
                between("net_revenue", min_value=0),
                equal_columns("cohort_size_matches_first_orders", "mart_cohort_size", "staging_customers",
                              "cohorts", ("cohort_month",),
                              "every cohort's size equals the customers whose first qualifying order is in "
                              "that month (staging)"),
                revenue_rule(config, "customers' qualifying orders", customers_only=True),
            ],
            {
                "cohorts": f"""
with mart as (
    select cohort_month, min(cohort_size) as mart_cohort_size
    from {t}.mart_cohort_retention group by cohort_month
),
stg as (select month as cohort_month, customers as staging_customers
        from {STAGING_REFERENCE} where grain = 'cohort')
select coalesce(mart.cohort_month, stg.cohort_month) as cohort_month,
       coalesce(mart.mart_cohort_size, 0)::bigint as mart_cohort_size,
       coalesce(stg.staging_customers, 0)::bigint as staging_customers
from mart full join stg on mart.cohort_month = stg.cohort_month
order by 1
""",
            },
            config,
            "Cohort retention grid: rates, cohort sizes and revenue reconcile with staging.",
        ),
        mart_suite_of(
            "mart_retention_rate",
            ("month",),
            [
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
        mart_suite_of(
            "mart_customer_churn",
            ("customer_id",),
            [
                between("typical_interorder_days", min_value=0),
                not_before("last_order_at", "first_order_at"),
                equal_columns("customers_match_staging", "mart_customers", "staging_customers", "customers", (),
                              "one row per customer with a qualifying order in staging"),
            ],
            {"customers": f"""
select (select count(*) from {t}.mart_customer_churn)::bigint as mart_customers,
       (select coalesce(sum(customers), 0) from {STAGING_REFERENCE} where grain = 'cohort')::bigint
           as staging_customers
"""},
            config,
            "Churn status per customer.",
        ),
        mart_suite_of(
            "mart_churn_monthly",
            ("month",),
            [
                between("active_at_start", min_value=0),
                between("churned_in_month", min_value=0),
            ],
            {},
            config,
            "Monthly churn rate.",
        ),
        mart_suite_of(
            "mart_customer_clv",
            ("customer_id",),
            [
                not_null("cohort_month"),
                between("orders_count", min_value=1),
                between("net_revenue", min_value=0, strict_min=True),
                between("aov", min_value=0, strict_min=True),
                between("orders_per_year", min_value=0, strict_min=True),
                between("tenure_years", min_value=0, strict_min=True),
                between("historical_clv", min_value=0),
                revenue_rule(config, "customers' qualifying orders", customers_only=True),
            ],
            {},
            config,
            "Historical CLV per customer.",
        ),
        mart_suite_of(
            "mart_clv_summary",
            ("cohort",),
            [
                between("customers", min_value=1),
                between("orders", min_value=1),
                between("avg_order_value", min_value=0, strict_min=True),
                between("clv", min_value=0),
                revenue_rule(config, "customers' qualifying orders", customers_only=True, mart_filter="cohort = 'all'"),
            ],
            {},
            config,
            "Company-wide CLV per cohort year and for all customers.",
        ),
        mart_suite_of(
            "mart_aov_by_device",
            ("order_month", "device"),
            [
                between("orders", min_value=1),
                between("customers", min_value=0),
                between("net_revenue", min_value=0, strict_min=True),
                between("aov", min_value=0, strict_min=True),
                revenue_rule(config, "all qualifying orders (guests included)", customers_only=False),
            ],
            {},
            config,
            "Average order value per month and device.",
        ),
        mart_suite_of(
            "mart_kpis",
            ("as_of_date",),
            [
                between("row_count", max_value=1, rule_id="one_row", kind="volume", frame="stats",
                        index=("row_count",), description="the headline KPIs are one row (with not_empty)"),
                equal_columns("as_of_date_is_the_build_as_of_date", "as_of_date", "build_as_of_date", "kpis",
                              ("as_of_date",), "the KPIs are those of the as-of date dbt built with",
                              kind="freshness"),
                between("orders_12m", min_value=0),
                between("aov_12m", min_value=0, strict_min=True),
                between("predicted_clv_12m", min_value=0),
                equal_columns("customers_match_staging", "customers", "staging_customers", "kpis", (),
                              "customers = customers with a qualifying order in staging"),
                equal_columns("orders_12m_match_staging", "orders_12m", "staging_orders_12m", "kpis", (),
                              "orders_12m = qualifying orders (guests included) in staging whose month is one "
                              "of the 12 ending with the as-of month"),
            ],
            {"kpis": f"""
with as_of as (select as_of_date, date_trunc('month', as_of_date)::date as as_of_month
               from intermediate.int_as_of_date),
stg as (select * from {STAGING_REFERENCE})
select k.as_of_date, (select as_of_date from as_of) as build_as_of_date,
       k.customers::bigint as customers, k.orders_12m::bigint as orders_12m,
       (select coalesce(sum(customers), 0) from stg where grain = 'cohort')::bigint as staging_customers,
       (select coalesce(sum(orders), 0) from stg, as_of where grain = 'month'
        and stg.month > as_of.as_of_month - interval 12 month)::bigint as staging_orders_12m
from {t}.mart_kpis k
""",
             "stats": stats_sql(f"{t}.mart_kpis")},
            config,
            "Headline KPIs: one row for the as-of date; customers and 12-month orders reconcile with staging.",
        ),
    ]
    return suites


# The marts whose yml says `quality_suite: true` (assets/marts.py); mart_suites() holds their rules.
REQUIRED_MARTS = quality_suite_marts()


def raw_suites(config: QualityConfig = DEFAULT_CONFIG, currency: str = "USD", timezone: str = "UTC") -> list[Suite]:
    return [raw_suite(e, config, currency, timezone) for e in ENTITIES.values()]


def suite_named(name: str, config: QualityConfig = DEFAULT_CONFIG, currency: str = "USD",
                timezone: str = "UTC") -> Suite:
    """One suite; a raw suite without reading the dbt manifest."""
    if name.startswith("raw_") and name[4:] in ENTITIES:
        return raw_suite(ENTITIES[name[4:]], config, currency, timezone)
    suites = {s.name: s for s in mart_suites(config)}
    if name not in suites:
        raise KeyError(f"quality suite {name!r}: expected raw_<entity> or one of {', '.join(REQUIRED_MARTS)}")
    return suites[name]


def all_suites(config: QualityConfig = DEFAULT_CONFIG, currency: str = "USD",
               manifest: dict | None = None) -> dict[str, Suite]:
    return {s.name: s for s in raw_suites(config, currency) + mart_suites(config, manifest)}
