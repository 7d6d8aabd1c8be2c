-- Company-wide CLV, the seed formula, per cohort year and for all customers:
-- clv = avg order value x avg orders per year x avg years retained;
-- margin_clv uses the average gross margin per order instead of the AOV.
{%- set aggregates -%}
count(*) as customers,
        sum(orders_count) as orders,
        sum(net_revenue) as net_revenue,
        sum(gross_margin) as gross_margin,
        sum(orders_with_margin) as orders_with_margin,
        {{ deterministic_sum('tenure_years', 'customer_id') }} as customer_years
{%- endset %}

with summary as (

    select * from {{ ref('int_customer_order_summary') }}

),

by_cohort_year as (

    select
        cast(cast(extract(year from cohort_month) as integer) as {{ dbt.type_string() }}) as cohort,
        cast(extract(year from cohort_month) as integer) as cohort_year,
        {{ aggregates }}
    from summary
    group by extract(year from cohort_month)

),

all_customers as (

    select
        'all' as cohort,
        cast(null as integer) as cohort_year,
        {{ aggregates }}
    from summary

),

unioned as (

    select * from by_cohort_year
    union all
    select * from all_customers
    where customers > 0

),

averages as (

    select
        *,
        {{ safe_ratio('net_revenue', 'orders') }} as avg_order_value,
        {{ safe_ratio('gross_margin', 'orders_with_margin') }} as avg_margin_per_order,
        {{ safe_ratio('orders', 'customer_years') }} as avg_orders_per_year,
        {{ safe_ratio('customer_years', 'customers') }} as avg_retention_years
    from unioned

)

select
    cast(cohort as {{ dbt.type_string() }}) as cohort,
    cohort_year,
    cast(customers as bigint) as customers,
    cast(orders as bigint) as orders,
    cast(net_revenue as {{ type_money() }}) as net_revenue,
    cast(gross_margin as {{ type_money() }}) as gross_margin,
    cast(avg_order_value as {{ type_double() }}) as avg_order_value,
    cast(avg_margin_per_order as {{ type_double() }}) as avg_margin_per_order,
    cast(avg_orders_per_year as {{ type_double() }}) as avg_orders_per_year,
    cast(avg_retention_years as {{ type_double() }}) as avg_retention_years,
    cast(avg_order_value * avg_orders_per_year * avg_retention_years as {{ type_double() }}) as clv,
    cast(avg_margin_per_order * avg_orders_per_year * avg_retention_years as {{ type_double() }}) as margin_clv
from averages
