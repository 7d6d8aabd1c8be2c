-- AOV per device over the as-of month and the 11 months before it, new vs
-- returning customers: the report's AOV chart, summed from mart_aov_by_device
-- so that it matches the monthly figures and mart_kpis.aov_12m.
with months as (

    select aov.*
    from {{ ref('mart_aov_by_device') }} as aov
    cross join {{ ref('int_as_of_date') }} as as_of
    where aov.order_month > {{ add_months(-12, 'as_of.as_of_month') }}

),

aggregated as (

    select
        device,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue,
        sum(new_customer_orders) as new_customer_orders,
        sum(new_customer_net_revenue) as new_customer_net_revenue,
        sum(returning_customer_orders) as returning_customer_orders,
        sum(returning_customer_net_revenue) as returning_customer_net_revenue
    from months
    group by device

)

select
    device,
    cast(orders as bigint) as orders,
    cast(net_revenue as {{ type_money() }}) as net_revenue,
    cast({{ safe_ratio('net_revenue', 'orders') }} as {{ type_double() }}) as aov,
    cast(new_customer_orders as bigint) as new_customer_orders,
    cast({{ safe_ratio('new_customer_net_revenue', 'new_customer_orders') }} as {{ type_double() }}) as new_customer_aov,
    cast(returning_customer_orders as bigint) as returning_customer_orders,
    cast({{ safe_ratio('returning_customer_net_revenue', 'returning_customer_orders') }} as {{ type_double() }}) as returning_customer_aov
from aggregated
