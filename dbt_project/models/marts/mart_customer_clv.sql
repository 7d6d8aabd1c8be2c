-- Historical customer lifetime value, one row per customer with a qualifying order.
-- aov x orders_per_year x tenure_years = net revenue to date = historical_clv.
with summary as (

    select * from {{ ref('int_customer_order_summary') }}

)

select
    customer_id,
    cohort_month,
    cast(orders_count as bigint) as orders_count,
    cast(net_revenue as {{ type_money() }}) as net_revenue,
    cast(gross_margin as {{ type_money() }}) as gross_margin,
    cast({{ safe_ratio('net_revenue', 'orders_count') }} as {{ type_double() }}) as aov,
    cast({{ safe_ratio('orders_count', 'tenure_years') }} as {{ type_double() }}) as orders_per_year,
    cast(tenure_days as integer) as tenure_days,
    cast(tenure_years as {{ type_double() }}) as tenure_years,
    is_churned,
    cast(net_revenue as {{ type_money() }}) as historical_clv
from summary
