-- Every order up to the as-of date (guests included) with its net revenue,
-- cost of goods, gross margin and whether it qualifies. The one definition of
-- net revenue and of a qualifying order.
with orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_lines as (

    select * from {{ ref('stg_shop__order_lines') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

line_totals as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as item_count,
        -- unknown when any line lacks a unit cost: a partial cost would inflate margin
        case
            when count(unit_cost) = count(*) then sum(quantity * unit_cost)
        end as cost_of_goods
    from order_lines
    group by order_id

),

priced as (

    select
        orders.order_id,
        orders.customer_id,
        orders.customer_id is null as is_guest_order,
        orders.status,
        orders.device,
        orders.channel,
        orders.coupon_code,
        orders.created_at,
        orders.order_date,
        orders.order_month,
        orders.subtotal,
        orders.discount,
        orders.refunded_amount,
        orders.subtotal - orders.discount - orders.refunded_amount as net_revenue,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.item_count, 0) as item_count,
        line_totals.cost_of_goods
    from orders
    cross join as_of
    left join line_totals
        on orders.order_id = line_totals.order_id
    where orders.order_date <= as_of.as_of_date

)

select
    *,
    net_revenue - cost_of_goods as gross_margin,
    status <> 'cancelled' and net_revenue > 0 as is_qualifying
from priced
