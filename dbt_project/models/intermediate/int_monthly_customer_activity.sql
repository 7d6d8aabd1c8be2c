-- Per shop-local month: customers active at its start and at its end (a
-- qualifying order in the trailing `active_window_days` days), new customers
-- (first qualifying order inside the month) and customers who churned in it;
-- the customers at its end split into those already active at its start
-- (retained), those back after their window had lapsed (reactivated) and new
-- customers still active. The one definition of "active" used by
-- mart_retention_rate and mart_churn_monthly.
with months as (

    select * from {{ ref('int_months') }}

),

-- Active customers are counted without a range join of customer-days
-- against months (each customer-day matched ~13 month windows): every
-- qualifying order opens the interval of days on which it keeps its customer
-- active, [order_date, order_date + window - 1], cut short at the customer's
-- next order date. A customer's intervals are then disjoint and cover exactly
-- the days on which they are active, so the number of active customers on a
-- day is the running sum of +1 (interval opens) and -1 (interval closes)
-- events up to that day. Several orders on one day open and close on the same
-- day and cancel out.
intervals as (

    {{ active_intervals() }}

),

daily_change as (

    select event_date, sum(change) as change
    from (
        select opens_on as event_date, 1 as change from intervals
        union all
        select closes_on as event_date, -1 as change from intervals
    ) as events
    group by event_date

),

-- A customer's status changes only on these days: they become active on an
-- order placed when no earlier order is within the window (their first order,
-- or a return after a lapse), and inactive the day the window of an order
-- with no next order inside it runs out. The changes of one customer alternate
-- and fall on distinct days (a lapse ends strictly before the return), so over
-- a month, becoming active minus becoming inactive is (active at the end) -
-- (active at the start): +1 came back (new or reactivated), -1 lapsed, 0 no
-- change. Only customers with a change in the month are looked at.
status_changes as (

    {{ activity_status_changes() }}

),

windows as (

    select
        month,
        period_end_date,
        -- start: active on the day before the month's first day (orders in the window days before it)
        {{ add_days(-1, 'month') }} as start_day,
        -- end: active on the month's last day (the as-of date in the as-of month)
        period_end_date as end_day
    from months

),

active as (

    select
        windows.month,
        sum(case when daily_change.event_date <= windows.start_day then daily_change.change else 0 end) as customers_at_start,
        sum(daily_change.change) as customers_at_end
    from windows
    inner join daily_change
        on daily_change.event_date <= windows.end_day
    group by windows.month

),

customer_month_changes as (

    select
        windows.month,
        status_changes.customer_id,
        max(status_changes.cohort_month) as cohort_month,
        sum(status_changes.change) as net_change
    from status_changes
    inner join windows
        on {{ month_start('status_changes.change_date') }} = windows.month
        and status_changes.change_date <= windows.end_day
    group by windows.month, status_changes.customer_id

),

turnover as (

    select
        month,
        sum(case when net_change < 0 then 1 else 0 end) as lapsed_customers,
        sum(case when net_change > 0 and cohort_month < month then 1 else 0 end) as reactivated_customers,
        sum(case when net_change > 0 and cohort_month = month then 1 else 0 end) as new_customers_at_end
    from customer_month_changes
    group by month

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
    months.is_window_warming_up,
    coalesce(active.customers_at_start, 0) as customers_at_start,
    coalesce(active.customers_at_end, 0) as customers_at_end,
    coalesce(new_customers.new_customers, 0) as new_customers,
    -- active at the start and still at the end (a lapse and return inside the month included)
    coalesce(active.customers_at_start, 0) - coalesce(turnover.lapsed_customers, 0) as retained_customers,
    coalesce(turnover.reactivated_customers, 0) as reactivated_customers,
    coalesce(turnover.new_customers_at_end, 0) as new_customers_at_end,
    coalesce(churned.churned_customers, 0) as churned_customers
from months
left join active on months.month = active.month
left join turnover on months.month = turnover.month
left join new_customers on months.month = new_customers.month
left join churned on months.month = churned.month
