-- Average order value per shop-local month and device over qualifying orders,
-- split into new-customer, returning-customer and guest orders.
with orders as (

    select * from {{ ref('int_orders') }}
    where is_qualifying

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

customer_orders as (

    select order_id, customer_order_number from {{ ref('int_customer_orders') }}

),

classified as (

    select
        orders.order_month,
        orders.device,
        orders.customer_id,
        orders.net_revenue,
        case
            when orders.customer_id is null then 'guest'
            when customer_orders.customer_order_number = 1 then 'new'
            else 'returning'
        end as customer_type
    from orders
    left join customer_orders
        on orders.order_id = customer_orders.order_id

),

aggregated as (

    select
        order_month,
        device,
        count(*) as orders,
        count(distinct customer_id) as customers,
        sum(net_revenue) as net_revenue,
        sum(case when customer_type = 'new' then 1 else 0 end) as new_customer_orders,
        sum(case when customer_type = 'new' then net_revenue end) as new_customer_net_revenue,
        sum(case when customer_type = 'returning' then 1 else 0 end) as returning_customer_orders,
        sum(case when customer_type = 'returning' then net_revenue end) as returning_customer_net_revenue,
        sum(case when customer_type = 'guest' then 1 else 0 end) as guest_orders,
        sum(case when customer_type = 'guest' then net_revenue end) as guest_net_revenue
    from classified
    group by order_month, device

)

select
    aggregated.order_month,
    aggregated.device,
    {{ is_complete_month('aggregated.order_month', 'as_of.as_of_date') }} as is_complete_month,
    cast(orders as bigint) as orders,
    cast(customers as bigint) as customers,
    cast(net_revenue as {{ type_money() }}) as net_revenue,
    cast({{ safe_ratio('net_revenue', 'orders') }} as {{ type_double() }}) as aov,
    cast(new_customer_orders as bigint) as new_customer_orders,
    cast(coalesce(new_customer_net_revenue, 0) as {{ type_money() }}) as new_customer_net_revenue,
    cast({{ safe_ratio('new_customer_net_revenue', 'new_customer_orders') }} as {{ type_double() }}) as new_customer_aov,
    cast(returning_customer_orders as bigint) as returning_customer_orders,
    cast(coalesce(returning_customer_net_revenue, 0) as {{ type_money() }}) as returning_customer_net_revenue,
    cast({{ safe_ratio('returning_customer_net_revenue', 'returning_customer_orders') }} as {{ type_double() }}) as returning_customer_aov,
    cast(guest_orders as bigint) as guest_orders,
    cast({{ safe_ratio('guest_net_revenue', 'guest_orders') }} as {{ type_double() }}) as guest_aov
from aggregated
cross join as_of
