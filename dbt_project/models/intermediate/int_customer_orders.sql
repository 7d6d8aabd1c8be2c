-- Qualifying orders of known customers, in order: sequence number, previous
-- and next order dates, gaps in whole shop-local days, cohort month, and the
-- churn date that follows an order when no next order came within
-- `churn_after_days` days.
with orders as (

    select * from {{ ref('int_orders') }}
    where is_qualifying and customer_id is not null

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

sequenced as (

    select
        order_id,
        customer_id,
        created_at,
        order_date,
        order_month,
        device,
        channel,
        net_revenue,
        gross_margin,
        row_number() over (
            partition by customer_id order by created_at, order_id
        ) as customer_order_number,
        lag(order_date) over (
            partition by customer_id order by created_at, order_id
        ) as previous_order_date,
        lead(order_date) over (
            partition by customer_id order by created_at, order_id
        ) as next_order_date,
        min(order_date) over (partition by customer_id) as first_order_date
    from orders

),

gaps as (

    select
        *,
        {{ dbt.datediff('previous_order_date', 'order_date', 'day') }} as days_since_previous_order,
        {{ dbt.datediff('order_date', 'next_order_date', 'day') }} as days_to_next_order,
        {{ month_start('first_order_date') }} as cohort_month,
        {{ add_days(var('churn_after_days') ~ ' + 1', 'order_date') }} as churn_date_if_no_next_order
    from sequenced

)

select
    gaps.order_id,
    gaps.customer_id,
    gaps.created_at,
    gaps.order_date,
    gaps.order_month,
    gaps.device,
    gaps.channel,
    gaps.net_revenue,
    gaps.gross_margin,
    gaps.customer_order_number,
    gaps.customer_order_number = 1 as is_first_order,
    gaps.previous_order_date,
    gaps.days_since_previous_order,
    gaps.next_order_date,
    gaps.days_to_next_order,
    gaps.first_order_date,
    gaps.cohort_month,
    {{ dbt.datediff('gaps.cohort_month', 'gaps.order_month', 'month') }} as months_since_first_order,
    case
        when (gaps.next_order_date is null or gaps.days_to_next_order > {{ var('churn_after_days') }})
            and gaps.churn_date_if_no_next_order <= as_of.as_of_date
            then gaps.churn_date_if_no_next_order
    end as churned_on
from gaps
cross join as_of
