-- Per shop-local month: customers active at its start and at its end (a
-- qualifying order in the trailing `active_window_days` days), new customers
-- (first qualifying order inside the month) and customers who churned in it.
-- The one definition of "active" used by mart_retention_rate and mart_churn_monthly.
with months as (

    select * from {{ ref('int_months') }}

),

customer_days as (

    select distinct customer_id, order_date
    from {{ ref('int_customer_orders') }}

),

windows as (

    select
        month,
        period_end_date,
        -- start: the window days before the month's first day, that day excluded
        {{ add_days(-1 * var('active_window_days'), 'month') }} as start_window_first_day,
        {{ add_days(-1, 'month') }} as start_window_last_day,
        -- end: the window days ending on the month's last day (the as-of date in the as-of month), included
        {{ add_days('1 - ' ~ var('active_window_days'), 'period_end_date') }} as end_window_first_day
    from months

),

active as (

    select
        windows.month,
        count(distinct case
            when customer_days.order_date between windows.start_window_first_day and windows.start_window_last_day
                then customer_days.customer_id
        end) as customers_at_start,
        count(distinct case
            when customer_days.order_date between windows.end_window_first_day and windows.period_end_date
                then customer_days.customer_id
        end) as customers_at_end
    from windows
    left join customer_days
        on customer_days.order_date between windows.start_window_first_day and windows.period_end_date
    group by windows.month

),

new_customers as (

    select cohort_month as month, count(*) as new_customers
    from {{ ref('int_customer_order_summary') }}
    group by cohort_month

),

churned as (

    select {{ month_start('churned_on') }} as month, count(distinct customer_id) as churned_customers
    from {{ ref('int_customer_orders') }}
    where churned_on is not null
    group by {{ month_start('churned_on') }}

)

select
    months.month,
    months.period_end_date,
    months.is_complete_month,
    coalesce(active.customers_at_start, 0) as customers_at_start,
    coalesce(active.customers_at_end, 0) as customers_at_end,
    coalesce(new_customers.new_customers, 0) as new_customers,
    coalesce(churned.churned_customers, 0) as churned_customers
from months
left join active on months.month = active.month
left join new_customers on months.month = new_customers.month
left join churned on months.month = churned.month
