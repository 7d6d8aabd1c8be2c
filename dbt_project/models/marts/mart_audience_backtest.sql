-- Each audience rebuilt on each of the latest six month-ends whose following
-- 90 days lie inside the data (int_audience_backtest_predictions), with the
-- same rules as today's audiences (macros/audiences.sql) on the orders,
-- carts, tickets and model fit known on that date only; then what members
-- and all active customers did in the next 30 and 90 days: share who placed
-- a qualifying order, net revenue per head, and the lift (member share over
-- active share). A shop with more customers known on a month-end than the
-- backtest's sample (models/backtest.py, BACKTEST_CUSTOMERS) is rebuilt and
-- measured within that sample: the customers whose id has the smallest md5,
-- those the predictions score; the cost is then bounded by the sample.
{%- set cutoffs_sql %}
    (
        select
            cutoff_date,
            count(*) as sample_customers,
            max(customers_known) as known_customers,
            -- the sample is the customers up to the largest md5 scored; null: every customer
            case when count(*) < max(customers_known) then max({{ dbt.hash('customer_id') }}) end as sample_last_key
        from {{ ref('int_audience_backtest_predictions') }}
        group by cutoff_date
    )
{%- endset %}

with cutoffs as (

    select * from {{ cutoffs_sql }} as c

),

members as (

    select *
    from ({{ audience_members_sql(cutoffs_sql, ref('int_audience_backtest_predictions'), sampled=true) }}) as m

),

-- The orders of the customers of some cutoff's sample (a md5 is at most 32 f's).
orders as (

    select customer_id, order_date, net_revenue, sample_key
    from (
        select customer_id, order_date, net_revenue, {{ dbt.hash('customer_id') }} as sample_key
        from {{ ref('int_customer_orders') }}
    ) as keyed
    where sample_key <= (select max(coalesce(sample_last_key, '{{ "f" * 32 }}')) from cutoffs)

),

-- What each customer did after each cutoff (orders after it only).
outcomes as (

    select
        cutoffs.cutoff_date,
        orders.customer_id,
        max(case when orders.order_date <= {{ add_days(30, 'cutoffs.cutoff_date') }} then 1 else 0 end) as ordered_30d,
        1 as ordered_90d,
        sum(case when orders.order_date <= {{ add_days(30, 'cutoffs.cutoff_date') }} then orders.net_revenue else 0 end) as revenue_30d,
        sum(orders.net_revenue) as revenue_90d
    from orders
    inner join cutoffs
        on orders.order_date > cutoffs.cutoff_date
        and orders.order_date <= {{ add_days(90, 'cutoffs.cutoff_date') }}
        and {{ audience_in_sample('orders.sample_key') }}
    group by cutoffs.cutoff_date, orders.customer_id

),

-- Active on the cutoff: a qualifying order in the trailing active window.
active as (

    select cutoffs.cutoff_date, orders.customer_id
    from orders
    inner join cutoffs
        on orders.order_date <= cutoffs.cutoff_date
        and orders.order_date > {{ add_days(-var('active_window_days'), 'cutoffs.cutoff_date') }}
        and {{ audience_in_sample('orders.sample_key') }}
    group by cutoffs.cutoff_date, orders.customer_id

),

member_results as (

    select
        members.audience,
        members.cutoff_date,
        count(*) as members,
        sum(coalesce(outcomes.ordered_30d, 0)) as ordered_30d,
        sum(coalesce(outcomes.ordered_90d, 0)) as ordered_90d,
        sum(coalesce(outcomes.revenue_30d, 0)) as revenue_30d,
        sum(coalesce(outcomes.revenue_90d, 0)) as revenue_90d
    from members
    left join outcomes
        on outcomes.cutoff_date = members.cutoff_date and outcomes.customer_id = members.customer_id
    group by members.audience, members.cutoff_date

),

active_results as (

    select
        active.cutoff_date,
        count(*) as active_customers,
        sum(coalesce(outcomes.ordered_30d, 0)) as ordered_30d,
        sum(coalesce(outcomes.ordered_90d, 0)) as ordered_90d,
        sum(coalesce(outcomes.revenue_30d, 0)) as revenue_30d,
        sum(coalesce(outcomes.revenue_90d, 0)) as revenue_90d
    from active
    left join outcomes
        on outcomes.cutoff_date = active.cutoff_date and outcomes.customer_id = active.customer_id
    group by active.cutoff_date

),

grid as (

    select audiences.audience, cutoffs.cutoff_date
    from {{ audience_list() }} as audiences
    cross join cutoffs

),

shares as (

    select
        grid.audience,
        grid.cutoff_date,
        cutoffs.sample_customers,
        cutoffs.known_customers,
        coalesce(m.members, 0) as members,
        coalesce(m.ordered_30d, 0) as members_ordered_30d,
        coalesce(m.ordered_90d, 0) as members_ordered_90d,
        {{ safe_ratio('m.ordered_30d', 'm.members') }} as member_order_rate_30d,
        {{ safe_ratio('m.ordered_90d', 'm.members') }} as member_order_rate_90d,
        {{ safe_ratio('m.revenue_30d', 'm.members') }} as revenue_per_member_30d,
        {{ safe_ratio('m.revenue_90d', 'm.members') }} as revenue_per_member_90d,
        coalesce(a.active_customers, 0) as active_customers,
        {{ safe_ratio('a.ordered_30d', 'a.active_customers') }} as active_order_rate_30d,
        {{ safe_ratio('a.ordered_90d', 'a.active_customers') }} as active_order_rate_90d,
        {{ safe_ratio('a.revenue_30d', 'a.active_customers') }} as revenue_per_active_30d,
        {{ safe_ratio('a.revenue_90d', 'a.active_customers') }} as revenue_per_active_90d
    from grid
    left join member_results as m on m.audience = grid.audience and m.cutoff_date = grid.cutoff_date
    left join active_results as a on a.cutoff_date = grid.cutoff_date
    inner join cutoffs on cutoffs.cutoff_date = grid.cutoff_date

)

select
    cast(audience as {{ dbt.type_string() }}) as audience,
    cutoff_date,
    cast(sample_customers as bigint) as sample_customers,
    cast(known_customers as bigint) as known_customers,
    cast(members as bigint) as members,
    cast(members_ordered_30d as bigint) as members_ordered_30d,
    cast(members_ordered_90d as bigint) as members_ordered_90d,
    cast(member_order_rate_30d as {{ type_double() }}) as member_order_rate_30d,
    cast(member_order_rate_90d as {{ type_double() }}) as member_order_rate_90d,
    cast(revenue_per_member_30d as {{ type_double() }}) as revenue_per_member_30d,
    cast(revenue_per_member_90d as {{ type_double() }}) as revenue_per_member_90d,
    cast(active_customers as bigint) as active_customers,
    cast(active_order_rate_30d as {{ type_double() }}) as active_order_rate_30d,
    cast(active_order_rate_90d as {{ type_double() }}) as active_order_rate_90d,
    cast(revenue_per_active_30d as {{ type_double() }}) as revenue_per_active_30d,
    cast(revenue_per_active_90d as {{ type_double() }}) as revenue_per_active_90d,
    cast({{ safe_ratio('member_order_rate_30d', 'active_order_rate_30d') }} as {{ type_double() }}) as order_rate_lift_30d,
    cast({{ safe_ratio('member_order_rate_90d', 'active_order_rate_90d') }} as {{ type_double() }}) as order_rate_lift_90d
from shares
