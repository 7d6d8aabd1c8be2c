-- One row per customer with at least one qualifying order: first/last order,
-- counts, revenue and margin, purchase cadence, churn status and retained
-- tenure as of the as-of date. The one definition of churned, typical
-- inter-order days and tenure.
--
-- The as-of-date independent facts come from the incremental
-- int_customer_order_facts; only recency, churn and tenure are computed here,
-- a projection of one row per customer with no aggregation over orders.
with facts as (

    select * from {{ ref('int_customer_order_facts') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

churn as (

    select
        facts.customer_id,
        facts.first_order_at,
        facts.last_order_at,
        facts.first_order_date,
        facts.last_order_date,
        facts.cohort_month,
        facts.orders_count,
        facts.net_revenue,
        facts.first_order_net_revenue,
        facts.gross_margin,
        facts.orders_with_margin,
        facts.days_to_second_order,
        facts.typical_interorder_days,
        as_of.as_of_date,
        {{ dbt.datediff('facts.last_order_date', 'as_of.as_of_date', 'day') }} as days_since_last_order
    from facts
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
