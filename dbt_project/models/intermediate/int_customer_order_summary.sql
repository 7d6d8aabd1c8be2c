-- One row per customer with at least one qualifying order: first/last order,
-- counts, revenue and margin, purchase cadence, churn status and retained
-- tenure as of the as-of date. The one definition of churned, typical
-- inter-order days and tenure.
with customer_orders as (

    select * from {{ ref('int_customer_orders') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

aggregated as (

    select
        customer_id,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        min(cohort_month) as cohort_month,
        count(*) as orders_count,
        sum(net_revenue) as net_revenue,
        sum(case when is_first_order then net_revenue end) as first_order_net_revenue,
        sum(gross_margin) as gross_margin,
        count(gross_margin) as orders_with_margin,
        max(case when customer_order_number = 2 then days_since_previous_order end) as days_to_second_order,
        {{ median('days_since_previous_order') }} as typical_interorder_days
    from customer_orders
    group by customer_id

),

churn as (

    select
        aggregated.*,
        as_of.as_of_date,
        {{ dbt.datediff('aggregated.last_order_date', 'as_of.as_of_date', 'day') }} as days_since_last_order
    from aggregated
    cross join as_of

),

tenure as (

    select
        *,
        days_since_last_order > {{ var('churn_after_days') }} as is_churned,
        -- retained from the first order until churned (last order + churn window) or the as-of date
        case
            when days_since_last_order > {{ var('churn_after_days') }}
                then {{ add_days(var('churn_after_days'), 'last_order_date') }}
            else as_of_date
        end as retained_until_date
    from churn

)

select
    customer_id,
    first_order_at,
    last_order_at,
    first_order_date,
    last_order_date,
    cohort_month,
    orders_count,
    net_revenue,
    first_order_net_revenue,
    gross_margin,
    orders_with_margin,
    days_to_second_order,
    typical_interorder_days,
    as_of_date,
    days_since_last_order,
    is_churned,
    case when is_churned then {{ add_days(var('churn_after_days') ~ ' + 1', 'last_order_date') }} end as churned_on,
    retained_until_date,
    {{ dbt.datediff('first_order_date', 'retained_until_date', 'day') }} + 1 as tenure_days,
    ({{ dbt.datediff('first_order_date', 'retained_until_date', 'day') }} + 1) / cast(365 as {{ type_double() }}) as tenure_years
from tenure
