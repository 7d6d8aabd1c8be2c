{%- set customer_dimensions = change_customer_dimensions() -%}
-- Per month of int_months and customer segment (`total` / `all` and each
-- attribute of change_customer_dimensions): customers active at the month's
-- start and end, new customers, retained customers (active at the start and
-- still at the end) and churned customers, with the definitions
-- of int_monthly_customer_activity (a data test checks the total segment's
-- rates against mart_retention_rate and mart_churn_monthly). Active
-- customers per segment are running sums of +1 / -1 events: each
-- qualifying order keeps its customer active from its date until the next
-- order or `active_window_days` later, whichever comes first, so a
-- customer's intervals never overlap. The month boundaries are added as
-- zero events so the running sum is read off on exactly those days.
with months as (

    select month, month_end_date from {{ ref('int_months') }}

),

attrs as (

    select * from {{ ref('int_change_customer_attributes') }}

),

customer_segments as (

    {%- for dimension, expression in [('total', "'all'")] + customer_dimensions %}
    select attrs.customer_id, attrs.cohort_month, '{{ dimension }}' as dimension,
        cast({{ expression }} as {{ dbt.type_string() }}) as segment
    from attrs
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

intervals as (

    {{ active_intervals() }}

),

daily as (

    select dims.dimension, dims.segment, events.event_date, sum(events.change) as change
    from (
        select customer_id, opens_on as event_date, 1 as change from intervals
        union all
        select customer_id, closes_on as event_date, -1 as change from intervals
    ) as events
    inner join customer_segments as dims
        on events.customer_id = dims.customer_id
    group by dims.dimension, dims.segment, events.event_date

),

segments as (

    select distinct dimension, segment from customer_segments

),

running as (

    select
        dimension,
        segment,
        event_date,
        is_boundary,
        sum(change) over (
            partition by dimension, segment order by event_date
            range between unbounded preceding and current row
        ) as active
    from (
        select dimension, segment, event_date, change, 0 as is_boundary from daily
        union all
        select segments.dimension, segments.segment, boundaries.day, 0, 1
        from segments
        cross join (
            select {{ add_days(-1, 'month') }} as day from months
            union
            select month_end_date as day from months
        ) as boundaries
    ) as events

),

active_on as (

    select distinct dimension, segment, event_date as day, active
    from running
    where is_boundary = 1

),

new_customers as (

    select dimension, segment, cohort_month as month, count(*) as customers
    from customer_segments
    group by dimension, segment, cohort_month

),

-- Customers active at the month's start who are not at its end: a customer
-- whose status changes in the month net to -1 lapsed. Starting customers minus these are the retained ones
-- (a lapse and return inside the month stays retained).
status_changes as (

    {{ activity_status_changes() }}

),

lapsed as (

    select dims.dimension, dims.segment, net.month, count(*) as customers
    from (
        select months.month, status_changes.customer_id
        from status_changes
        inner join months
            on {{ month_start('status_changes.change_date') }} = months.month
            and status_changes.change_date <= months.month_end_date
        group by months.month, status_changes.customer_id
        having sum(status_changes.change) < 0
    ) as net
    inner join customer_segments as dims
        on net.customer_id = dims.customer_id
    group by dims.dimension, dims.segment, net.month

),

churned as (

    select dims.dimension, dims.segment, churn.month, count(distinct churn.customer_id) as customers
    from (
        select customer_id, {{ month_start('churned_on') }} as month
        from {{ ref('int_customer_orders') }}
        where churned_on is not null
    ) as churn
    inner join customer_segments as dims
        on churn.customer_id = dims.customer_id
    group by dims.dimension, dims.segment, churn.month

)

select
    months.month,
    cast(segments.dimension as {{ dbt.type_string() }}) as dimension,
    cast(segments.segment as {{ dbt.type_string() }}) as segment,
    coalesce(at_start.active, 0) as customers_at_start,
    coalesce(at_end.active, 0) as customers_at_end,
    coalesce(new_customers.customers, 0) as new_customers,
    coalesce(at_start.active, 0) - coalesce(lapsed.customers, 0) as retained_customers,
    coalesce(churned.customers, 0) as churned_customers
from months
cross join segments
left join active_on as at_start
    on at_start.dimension = segments.dimension and at_start.segment = segments.segment
    and at_start.day = {{ add_days(-1, 'months.month') }}
left join active_on as at_end
    on at_end.dimension = segments.dimension and at_end.segment = segments.segment
    and at_end.day = months.month_end_date
left join new_customers
    on new_customers.dimension = segments.dimension and new_customers.segment = segments.segment
    and new_customers.month = months.month
left join lapsed
    on lapsed.dimension = segments.dimension and lapsed.segment = segments.segment
    and lapsed.month = months.month
left join churned
    on churned.dimension = segments.dimension and churned.segment = segments.segment
    and churned.month = months.month
