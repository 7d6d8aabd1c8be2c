-- Speed anchor, not a second implementation: the required marts (cohort
-- retention, retention rate, customer churn, CLV, AOV by device) in bare
-- DuckDB SQL over the deduplicated tables of bench/anchors.py
-- (read_dedupe_persist), to measure what the dbt step costs beyond the SQL
-- itself. Nothing in the product reads these tables. The definitions follow
-- the dbt models in spirit (qualifying orders, shop-local dates, the same
-- as-of date, churn and activity windows) without their tests, incremental
-- logic or portability macros; dbt_project/ stays the one definition.
-- Placeholders: shop_timezone, churn_after_days, active_window_days in
-- braces, filled by anchors.run_marts. Comment lines are dropped before.
create schema anchor_marts;

create table anchor_marts.orders as
with lines as (
    select
        order_id,
        count(*) as line_count,
        case when count(unit_cost) = count(*) then sum(quantity * unit_cost) end as cost_of_goods
    from raw.order_lines
    group by order_id
),
local as (
    select
        o.order_id,
        o.customer_id,
        o.status,
        o.device,
        o.created_at,
        cast(timezone('{shop_timezone}', timezone('UTC', o.created_at)) as date) as order_date,
        o.subtotal - coalesce(o.discount, 0) - coalesce(o.refunded_amount, 0) as net_revenue,
        lines.cost_of_goods
    from raw.orders as o
    left join lines on lines.order_id = o.order_id
)
select
    *,
    date_trunc('month', order_date) as order_month,
    net_revenue - cost_of_goods as gross_margin,
    status <> 'cancelled' and net_revenue > 0 as is_qualifying
from local
where order_date <= (select max(order_date) from local);

create table anchor_marts.as_of as
select max(order_date) as as_of_date, date_trunc('month', max(order_date)) as as_of_month
from anchor_marts.orders;

create table anchor_marts.customer_orders as
with sequenced as (
    select
        order_id, customer_id, created_at, order_date, order_month, device, net_revenue, gross_margin,
        row_number() over w as customer_order_number,
        lag(order_date) over w as previous_order_date,
        lead(order_date) over w as next_order_date,
        min(order_date) over (partition by customer_id) as first_order_date
    from anchor_marts.orders
    where is_qualifying and customer_id is not null
    window w as (partition by customer_id order by created_at, order_id)
)
select
    s.*,
    s.order_date - s.previous_order_date as days_since_previous_order,
    s.next_order_date - s.order_date as days_to_next_order,
    date_trunc('month', s.first_order_date) as cohort_month,
    case
        when (s.next_order_date is null or s.next_order_date - s.order_date > {churn_after_days})
            and s.order_date + {churn_after_days} + 1 <= a.as_of_date
            then s.order_date + {churn_after_days} + 1
    end as churned_on
from sequenced as s
cross join anchor_marts.as_of as a;

create table anchor_marts.customer_summary as
with aggregated as (
    select
        customer_id,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        min(cohort_month) as cohort_month,
        count(*) as orders_count,
        sum(net_revenue) as net_revenue,
        sum(gross_margin) as gross_margin,
        median(days_since_previous_order) as typical_interorder_days
    from anchor_marts.customer_orders
    group by customer_id
)
select
    g.*,
    a.as_of_date,
    a.as_of_date - g.last_order_date as days_since_last_order,
    a.as_of_date - g.last_order_date > {churn_after_days} as is_churned,
    case
        when a.as_of_date - g.last_order_date > {churn_after_days} then g.last_order_date + {churn_after_days}
        else a.as_of_date
    end as retained_until_date
from aggregated as g
cross join anchor_marts.as_of as a;

create table anchor_marts.months as
with bounds as (
    select min(order_month) as first_month, min(order_date) as first_order_date
    from anchor_marts.orders
    where is_qualifying
)
select
    cast(m.month as date) as month,
    least(cast(m.month + interval 1 month - interval 1 day as date), a.as_of_date) as period_end_date,
    cast(m.month + interval 1 month - interval 1 day as date) <= a.as_of_date as is_complete_month,
    cast(m.month + interval 1 month - interval 1 day as date) < b.first_order_date + {active_window_days} as is_window_warming_up
from bounds as b
cross join anchor_marts.as_of as a
cross join lateral (select unnest(generate_series(b.first_month, a.as_of_month, interval 1 month)) as month) as m;

create table anchor_marts.mart_cohort_retention as
with cohorts as (
    select cohort_month, count(*) as cohort_size from anchor_marts.customer_summary group by cohort_month
),
activity as (
    select cohort_month, order_month, count(distinct customer_id) as active_customers, sum(net_revenue) as net_revenue
    from anchor_marts.customer_orders
    group by cohort_month, order_month
),
joined as (
    select
        c.cohort_month,
        datediff('month', c.cohort_month, m.month) as months_since_first_order,
        m.month as activity_month,
        c.cohort_size,
        coalesce(a.active_customers, 0) as active_customers,
        coalesce(a.net_revenue, 0) as net_revenue
    from cohorts as c
    join anchor_marts.months as m on m.month >= c.cohort_month
    left join activity as a on a.cohort_month = c.cohort_month and a.order_month = m.month
)
select
    *,
    active_customers / cohort_size as retention_rate,
    sum(net_revenue) over (partition by cohort_month order by months_since_first_order) / cohort_size
        as cumulative_net_revenue_per_customer
from joined;

create table anchor_marts.mart_retention_rate as
with intervals as (
    select
        order_date as opens_on,
        case
            when next_order_date < order_date + {active_window_days} then next_order_date
            else order_date + {active_window_days}
        end as closes_on
    from anchor_marts.customer_orders
),
daily_change as (
    select event_date, sum(change) as change
    from (
        select opens_on as event_date, 1 as change from intervals
        union all
        select closes_on, -1 from intervals
    )
    group by event_date
),
active as (
    select
        m.month,
        sum(case when d.event_date <= m.month - 1 then d.change else 0 end) as customers_at_start,
        sum(d.change) as customers_at_end
    from anchor_marts.months as m
    join daily_change as d on d.event_date <= m.period_end_date
    group by m.month
),
new_customers as (
    select cohort_month as month, count(*) as new_customers from anchor_marts.customer_summary group by 1
),
status_changes as (
    select customer_id, cohort_month, order_date as change_date, 1 as change
    from anchor_marts.customer_orders
    where previous_order_date is null or order_date > previous_order_date + {active_window_days}
    union all
    select customer_id, cohort_month, order_date + {active_window_days}, -1
    from anchor_marts.customer_orders
    where next_order_date is null or next_order_date > order_date + {active_window_days}
),
customer_month_changes as (
    select m.month, c.customer_id, max(c.cohort_month) as cohort_month, sum(c.change) as net_change
    from status_changes as c
    join anchor_marts.months as m
        on date_trunc('month', c.change_date) = m.month and c.change_date <= m.period_end_date
    group by m.month, c.customer_id
),
turnover as (
    select
        month,
        count(*) filter (where net_change < 0) as lapsed_customers,
        count(*) filter (where net_change > 0 and cohort_month < month) as reactivated_customers
    from customer_month_changes
    group by month
)
select
    m.month,
    m.period_end_date,
    m.is_complete_month,
    m.is_window_warming_up,
    coalesce(a.customers_at_start, 0) as customers_at_start,
    coalesce(n.new_customers, 0) as new_customers,
    coalesce(a.customers_at_end, 0) as customers_at_end,
    coalesce(a.customers_at_start, 0) - coalesce(t.lapsed_customers, 0) as retained_customers,
    coalesce(t.reactivated_customers, 0) as reactivated_customers,
    (coalesce(a.customers_at_start, 0) - coalesce(t.lapsed_customers, 0)) / nullif(a.customers_at_start, 0)
        as retention_rate,
    coalesce(t.reactivated_customers, 0) / nullif(a.customers_at_start, 0) as reactivation_rate,
    (coalesce(a.customers_at_end, 0) - coalesce(n.new_customers, 0)) / nullif(a.customers_at_start, 0)
        as textbook_retention_rate
from anchor_marts.months as m
left join active as a on a.month = m.month
left join new_customers as n on n.month = m.month
left join turnover as t on t.month = m.month;

create table anchor_marts.mart_customer_churn as
select
    customer_id, first_order_at, last_order_at, first_order_date, last_order_date, orders_count,
    as_of_date, days_since_last_order, typical_interorder_days, is_churned,
    case when is_churned then last_order_date + {churn_after_days} + 1 end as churned_on
from anchor_marts.customer_summary;

create table anchor_marts.mart_customer_clv as
select
    customer_id,
    cohort_month,
    orders_count,
    net_revenue,
    gross_margin,
    net_revenue / orders_count as aov,
    orders_count / ((retained_until_date - first_order_date + 1) / 365.0) as orders_per_year,
    retained_until_date - first_order_date + 1 as tenure_days,
    (retained_until_date - first_order_date + 1) / 365.0 as tenure_years,
    is_churned,
    net_revenue as historical_clv
from anchor_marts.customer_summary;

create table anchor_marts.mart_aov_by_device as
with classified as (
    select
        o.order_month,
        o.device,
        o.customer_id,
        o.net_revenue,
        case
            when o.customer_id is null then 'guest'
            when c.customer_order_number = 1 then 'new'
            else 'returning'
        end as customer_type
    from anchor_marts.orders as o
    left join anchor_marts.customer_orders as c on c.order_id = o.order_id
    where o.is_qualifying
)
select
    order_month,
    device,
    count(*) as orders,
    count(distinct customer_id) as customers,
    sum(net_revenue) as net_revenue,
    sum(net_revenue) / count(*) as aov,
    count(*) filter (where customer_type = 'new') as new_customer_orders,
    avg(net_revenue) filter (where customer_type = 'new') as new_customer_aov,
    count(*) filter (where customer_type = 'returning') as returning_customer_orders,
    avg(net_revenue) filter (where customer_type = 'returning') as returning_customer_aov,
    count(*) filter (where customer_type = 'guest') as guest_orders,
    avg(net_revenue) filter (where customer_type = 'guest') as guest_aov
from classified
group by order_month, device;
