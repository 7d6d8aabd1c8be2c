-- Per first-order cohort and activity month with orders: the cohort's active
-- customers and net revenue that month. Independent of the as-of date, so
-- mart_cohort_retention only lays it on its grid of months.
--
-- Incremental (delete+insert on cohort_month): a run recomputes the cohorts
-- of customers with an order (qualifying or not) reprocessed in int_orders
-- since the newest `_loaded_at` here, and the cohorts whose customer or
-- order count in int_customer_order_facts differs from the stored one (a
-- customer who left the cohort, or lost an order to another customer, has no
-- new order of their own there). The post-hook drops cohorts left without
-- customers. On Spark (plain Parquet) the table is rebuilt whole. See
-- macros/incremental.sql.
-- depends_on: {{ ref('int_orders') }}
{{ config(**keyed_incremental('cohort_month',
    kept_keys="select cohort_month from {{ ref('int_customer_order_facts') }}")) }}

with facts as (

    select customer_id, cohort_month, orders_count from {{ ref('int_customer_order_facts') }}

),

cohort_totals as (

    select
        cohort_month,
        count(*) as cohort_customers,
        sum(orders_count) as cohort_orders
    from facts
    group by cohort_month

),

{% if is_incremental() %}
loaded_after as (

    {{ incremental_loaded_after(this) }}

),

touched_cohorts as (

    select facts.cohort_month
    from facts
    where facts.customer_id in (
        select int_orders.customer_id
        from {{ ref('int_orders') }} as int_orders
        cross join loaded_after
        where int_orders.customer_id is not null
            and int_orders._loaded_at > loaded_after.loaded_after
    )
    union
    select cohort_totals.cohort_month
    from cohort_totals
    left join (
        select distinct cohort_month, cohort_customers, cohort_orders from {{ this }}
    ) as stored
        on cohort_totals.cohort_month = stored.cohort_month
    where stored.cohort_month is null
        or stored.cohort_customers <> cohort_totals.cohort_customers
        or stored.cohort_orders <> cohort_totals.cohort_orders

),
{% endif %}

customer_orders as (

    select cohort_month, order_month, customer_id, net_revenue, _loaded_at
    from {{ ref('int_customer_orders') }}
    {% if is_incremental() %}
    where cohort_month in (select cohort_month from touched_cohorts)
    {% endif %}

),

activity as (

    select
        cohort_month,
        order_month as activity_month,
        count(distinct customer_id) as active_customers,
        sum(net_revenue) as net_revenue,
        max(_loaded_at) as _loaded_at
    from customer_orders
    group by cohort_month, order_month

)

select
    activity.cohort_month,
    activity.activity_month,
    activity.active_customers,
    activity.net_revenue,
    cohort_totals.cohort_customers,
    cohort_totals.cohort_orders,
    activity._loaded_at,
    {{ incremental_build_key() }} as _build_key
from activity
inner join cohort_totals
    on activity.cohort_month = cohort_totals.cohort_month
