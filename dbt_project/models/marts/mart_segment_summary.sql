-- Customers and net revenue per RFM segment, with their shares of all
-- customers and revenue: the report's segment chart.
with segments as (

    select * from {{ ref('mart_customer_segments') }}

),

totals as (

    select count(*) as customers, sum(net_revenue) as net_revenue from segments

),

aggregated as (

    select
        segment,
        count(*) as customers,
        sum(net_revenue) as net_revenue,
        sum(orders_count) as orders
    from segments
    group by segment

)

select
    aggregated.segment,
    cast(aggregated.customers as bigint) as customers,
    cast({{ safe_ratio('aggregated.customers', 'totals.customers') }} as {{ type_double() }}) as customer_share,
    cast(aggregated.net_revenue as {{ type_money() }}) as net_revenue,
    cast({{ safe_ratio('aggregated.net_revenue', 'totals.net_revenue') }} as {{ type_double() }}) as revenue_share,
    cast({{ safe_ratio('aggregated.orders', 'aggregated.customers') }} as {{ type_double() }}) as avg_orders
from aggregated
cross join totals
