-- RFM scores and a named segment per customer with a qualifying order, the
-- top-20%-by-revenue flag and the customer's purchase cadence.
with summary as (

    select * from {{ ref('int_customer_order_summary') }}

),

customers as (

    select customer_id, loyalty_tier from {{ ref('int_customers') }}

),

ranked as (

    select
        summary.customer_id,
        customers.loyalty_tier,
        summary.days_since_last_order,
        summary.orders_count,
        summary.net_revenue,
        summary.typical_interorder_days,
        -- percent_rank gives ties the same rank, so equal customers get equal scores
        percent_rank() over (order by summary.days_since_last_order desc) as recency_rank,
        percent_rank() over (order by summary.orders_count) as frequency_rank,
        percent_rank() over (order by summary.net_revenue) as monetary_rank,
        cume_dist() over (order by summary.net_revenue desc) as revenue_cume_share
    from summary
    left join customers on summary.customer_id = customers.customer_id

),

scored as (

    select
        *,
        least(5, 1 + cast(floor(recency_rank * 5) as integer)) as recency_score,
        least(5, 1 + cast(floor(frequency_rank * 5) as integer)) as frequency_score,
        least(5, 1 + cast(floor(monetary_rank * 5) as integer)) as monetary_score
    from ranked

)

select
    customer_id,
    loyalty_tier,
    cast(days_since_last_order as integer) as days_since_last_order,
    cast(orders_count as bigint) as orders_count,
    cast(net_revenue as {{ type_money() }}) as net_revenue,
    cast(recency_score as integer) as recency_score,
    cast(frequency_score as integer) as frequency_score,
    cast(monetary_score as integer) as monetary_score,
    cast(case
        when recency_score >= 4 and frequency_score >= 4 then 'champions'
        when recency_score >= 3 and frequency_score >= 3 then 'loyal'
        when recency_score <= 2 and frequency_score >= 3 then 'at_risk'
        when recency_score >= 4 and orders_count = 1 then 'new'
        when recency_score >= 3 then 'promising'
        else 'hibernating'
    end as {{ dbt.type_string() }}) as segment,
    revenue_cume_share <= 0.2 as is_top_20_percent,
    cast(typical_interorder_days as {{ type_double() }}) as purchase_cadence_days
from scored
