-- The 1st -> 2nd -> 3rd -> 4th qualifying order funnel per cohort month, plus
-- an all-cohorts row: conversion between steps, median days to the second
-- order, and how much revenue repeat customers bring.
{#- The same measures per cohort and for all cohorts together. -#}
{%- set aggregates -%}
count(*) as customers,
        sum(case when orders_count >= 2 then 1 else 0 end) as customers_with_2_orders,
        sum(case when orders_count >= 3 then 1 else 0 end) as customers_with_3_orders,
        sum(case when orders_count >= 4 then 1 else 0 end) as customers_with_4_orders,
        {{ median('days_to_second_order') }} as median_days_to_second_order,
        sum(net_revenue) as net_revenue,
        sum(case when orders_count >= 2 then net_revenue else 0 end) as repeat_customer_net_revenue,
        sum(net_revenue - first_order_net_revenue) as returning_order_net_revenue
{%- endset %}

with summary as (

    select * from {{ ref('int_customer_order_summary') }}

),

customer_rows as (

    select
        cohort_month,
        customer_id,
        orders_count,
        net_revenue,
        first_order_net_revenue,
        days_to_second_order
    from summary

),

by_cohort as (

    select
        cast(cohort_month as {{ dbt.type_string() }}) as cohort,
        cohort_month,
        {{ aggregates }}
    from customer_rows
    group by cohort_month

),

all_cohorts as (

    select
        'all' as cohort,
        cast(null as date) as cohort_month,
        {{ aggregates }}
    from customer_rows
    having count(*) > 0

),

unioned as (

    select * from by_cohort
    union all
    select * from all_cohorts

)

select
    cast(cohort as {{ dbt.type_string() }}) as cohort,
    cohort_month,
    cast(customers as bigint) as customers,
    cast(customers_with_2_orders as bigint) as customers_with_2_orders,
    cast(customers_with_3_orders as bigint) as customers_with_3_orders,
    cast(customers_with_4_orders as bigint) as customers_with_4_orders,
    cast({{ safe_ratio('customers_with_2_orders', 'customers') }} as {{ type_double() }}) as conversion_1_to_2,
    cast({{ safe_ratio('customers_with_3_orders', 'customers_with_2_orders') }} as {{ type_double() }}) as conversion_2_to_3,
    cast({{ safe_ratio('customers_with_4_orders', 'customers_with_3_orders') }} as {{ type_double() }}) as conversion_3_to_4,
    cast(median_days_to_second_order as {{ type_double() }}) as median_days_to_second_order,
    cast(net_revenue as {{ type_money() }}) as net_revenue,
    cast(repeat_customer_net_revenue as {{ type_money() }}) as repeat_customer_net_revenue,
    cast({{ safe_ratio('repeat_customer_net_revenue', 'net_revenue') }} as {{ type_double() }}) as repeat_customer_revenue_share,
    cast({{ safe_ratio('returning_order_net_revenue', 'net_revenue') }} as {{ type_double() }}) as returning_order_revenue_share,
    cast({{ safe_ratio('customers_with_2_orders', 'customers') }} as {{ type_double() }}) as repeat_customer_share
from unioned
