-- Retention and value of customers (with a qualifying order) by support
-- experience: no ticket vs ticket, by channel used, by slowest resolution
-- time, by lowest CSAT. A customer appears once per dimension, except for
-- `channel` where a customer who used several channels counts in each.
with customers as (

    select * from {{ ref('int_customer_order_summary') }}

),

experience as (

    select * from {{ ref('int_customer_support_experience') }}

),

customer_channels as (

    select distinct customer_id, channel
    from {{ ref('int_support_tickets') }}
    where customer_id is not null

),

groups as (

    select
        'ticket' as dimension,
        case when experience.customer_id is null then 'no_ticket' else 'ticket' end as support_group,
        customers.customer_id
    from customers
    left join experience on customers.customer_id = experience.customer_id

    union all

    select 'channel', customer_channels.channel, customers.customer_id
    from customers
    inner join customer_channels on customers.customer_id = customer_channels.customer_id

    union all

    select 'resolution_time', experience.resolution_time_bucket, customers.customer_id
    from customers
    inner join experience on customers.customer_id = experience.customer_id

    union all

    select 'csat', experience.csat_band, customers.customer_id
    from customers
    inner join experience on customers.customer_id = experience.customer_id

),

aggregated as (

    select
        groups.dimension,
        groups.support_group,
        count(*) as customers,
        sum(case when customers.is_churned then 1 else 0 end) as churned_customers,
        sum(case when customers.orders_count >= 2 then 1 else 0 end) as repeat_customers,
        sum(customers.orders_count) as orders,
        sum(customers.net_revenue) as net_revenue,
        sum(coalesce(experience.tickets, 0)) as tickets
    from groups
    inner join customers on groups.customer_id = customers.customer_id
    left join experience on groups.customer_id = experience.customer_id
    group by groups.dimension, groups.support_group

)

select
    cast(dimension as {{ dbt.type_string() }}) as dimension,
    cast(support_group as {{ dbt.type_string() }}) as support_group,
    cast(customers as bigint) as customers,
    cast(churned_customers as bigint) as churned_customers,
    cast({{ safe_ratio('customers - churned_customers', 'customers') }} as {{ type_double() }}) as not_churned_rate,
    cast({{ safe_ratio('repeat_customers', 'customers') }} as {{ type_double() }}) as repeat_customer_share,
    cast({{ safe_ratio('orders', 'customers') }} as {{ type_double() }}) as avg_orders,
    cast({{ safe_ratio('net_revenue', 'customers') }} as {{ type_double() }}) as avg_historical_clv,
    cast({{ safe_ratio('tickets', 'customers') }} as {{ type_double() }}) as avg_tickets
from aggregated
