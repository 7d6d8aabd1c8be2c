{%- set customer_dimensions = change_customer_dimensions() -%}
{%- set string = dbt.type_string() -%}
-- For each period pair of int_change_periods, side (current / previous),
-- metric, dimension and segment: the numerator and denominator of the
-- metric in that segment. Additive metrics (net revenue, orders, customer
-- counts) have no denominator; a ratio metric is numerator / denominator.
-- mart_metric_changes decomposes the movement from these.
--
-- Dimensions: `total` (segment `all`), `new_vs_returning`, `device` (order
-- and cart metrics), the customer attributes of change_customer_dimensions
-- (macros/metric_changes.sql), and `cohort_month`: the
-- three latest first-order months up to the current period's end, each its
-- own segment, every older cohort `earlier`. Guest orders are the segment
-- `guest` of every customer dimension. Retention and churn (complete months
-- only) are split by the customer attributes; their cohort_month split is
-- left out (a new cohort has no customers at a month's start).
with periods as (

    select * from {{ ref('int_change_periods') }}

),

side_list as (

    select period, period_start, 'current' as side, period_start as side_start, period_end as side_end,
        period_end as anchor_end
    from periods
    union all
    select period, period_start, 'previous' as side, previous_start as side_start, previous_end as side_end,
        period_end as anchor_end
    from periods

),

-- Each distinct span of days a side covers, once. The 7- and 28-day windows
-- tile the history (a pair's previous window is the next pair's current one)
-- and a month is the current side of one pair and the previous side of up
-- to two others, so an order falls in about three spans against eight sides.
-- Orders, customers and carts are grouped per span, and the small groups are
-- then laid on every side that covers that span.
spans as (

    select side_start, side_end, row_number() over (order by side_start, side_end) as span_id
    from (select distinct side_start, side_end from side_list) as distinct_spans

),

sides as (

    select side_list.period, side_list.period_start, side_list.side, side_list.anchor_end, spans.span_id
    from side_list
    inner join spans
        on side_list.side_start = spans.side_start and side_list.side_end = spans.side_end

),

series as (

    {{ integer_series() }}

),

-- Each span as its days, so orders and carts find their spans by an equi-join
-- on the date (a range join of every order against every span is a nested
-- loop on some engines).
span_days as (

    select
        spans.span_id,
        {{ add_days('series.n', 'spans.side_start') }} as day
    from spans
    cross join series
    where series.n <= {{ dbt.datediff('spans.side_start', 'spans.side_end', 'day') }}

),

attrs as (

    select * from {{ ref('int_change_customer_attributes') }}

),

orders as (

    select
        orders.order_id,
        orders.order_date,
        orders.customer_id,
        orders.device,
        orders.net_revenue,
        case
            when orders.customer_id is null then 'guest'
            when customer_orders.is_first_order then 'new'
            else 'returning'
        end as order_type
    from {{ ref('int_orders') }} as orders
    left join {{ ref('int_customer_orders') }} as customer_orders
        on orders.order_id = customer_orders.order_id
    where orders.is_qualifying

),

order_spans as (

    select
        span_days.span_id,
        orders.customer_id,
        orders.device,
        orders.net_revenue,
        orders.order_type,
        attrs.cohort_month,
        attrs.country,
        attrs.acquisition_channel,
        attrs.loyalty_tier,
        attrs.rfm_segment
    from orders
    inner join span_days
        on orders.order_date = span_days.day
    left join attrs
        on orders.customer_id = attrs.customer_id

),

-- Grouped on the customer alone, the attributes joined after: a customer's
-- attributes are one row of attrs, and a narrow key keeps the grouping small.
customer_span_orders as (

    select
        span_id,
        customer_id,
        -- new in the period: their first qualifying order falls in it
        max(case when order_type = 'new' then 1 else 0 end) as is_new
    from order_spans
    where customer_id is not null
    group by span_id, customer_id

),

-- Each group of orders and of customers once per dimension: one scan crossed
-- with the list of dimensions (a UNION ALL of one select per dimension would
-- read the groups once per dimension, and an engine that keeps a CTE read
-- many times holds all of them in memory at once).
{% set order_dimensions = [
    ('total', "'all'"),
    ('new_vs_returning', 'attrs.order_type'),
    ('device', "coalesce(attrs.device, 'unknown')"),
    ('cohort_month', "case when attrs.cohort_month >= " ~ add_months(-2, month_start('attrs.anchor_end'))
        ~ " then cast(attrs.cohort_month as " ~ string ~ ") else 'earlier' end"),
] + customer_dimensions %}
{% set customer_dims = [
    ('total', "'all'"),
    ('new_vs_returning', "case when attrs.is_new = 1 then 'new' else 'returning' end"),
    ('cohort_month', "case when attrs.cohort_month >= " ~ add_months(-2, month_start('attrs.anchor_end'))
        ~ " then cast(attrs.cohort_month as " ~ string ~ ") else 'earlier' end"),
] + customer_dimensions %}
order_dimensions as (

    {%- for dimension, expression in order_dimensions %}
    select cast('{{ dimension }}' as {{ string }}) as dimension
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

-- The orders grouped per span on everything a segment is made of (a few
-- thousand rows per span), laid on the sides of the span, then crossed with
-- the dimensions: the cross product then reads small groups, not every
-- order (revenue is a decimal: the sums are exact in any grouping).
order_span_groups as (

    select
        span_id,
        customer_id is null as is_guest,
        order_type,
        device,
        cohort_month,
        country,
        acquisition_channel,
        loyalty_tier,
        rfm_segment,
        sum(net_revenue) as net_revenue,
        count(*) as orders
    from order_spans
    group by span_id, customer_id is null, order_type, device, cohort_month, country, acquisition_channel,
        loyalty_tier, rfm_segment

),

order_groups as (

    select
        sides.period,
        sides.period_start,
        sides.side,
        sides.anchor_end,
        groups.is_guest,
        groups.order_type,
        groups.device,
        groups.cohort_month,
        groups.country,
        groups.acquisition_channel,
        groups.loyalty_tier,
        groups.rfm_segment,
        groups.net_revenue,
        groups.orders
    from order_span_groups as groups
    inner join sides
        on groups.span_id = sides.span_id

),

order_segments as (

    select
        attrs.period,
        attrs.period_start,
        attrs.side,
        dims.dimension,
        case
            when attrs.is_guest and dims.dimension not in ('total', 'new_vs_returning', 'device')
                then 'guest'
            {%- for dimension, expression in order_dimensions %}
            when dims.dimension = '{{ dimension }}' then cast({{ expression }} as {{ string }})
            {%- endfor %}
        end as segment,
        attrs.net_revenue,
        attrs.orders
    from order_groups as attrs
    cross join order_dimensions as dims

),

customer_dimensions as (

    {%- for dimension, expression in customer_dims %}
    select cast('{{ dimension }}' as {{ string }}) as dimension
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

-- Customers counted per span and combination of what their segments are
-- made of, laid on the sides of the span, then crossed with the dimensions.
customer_span_groups as (

    select
        customer_span.span_id,
        attrs.cohort_month,
        attrs.country,
        attrs.acquisition_channel,
        attrs.loyalty_tier,
        attrs.rfm_segment,
        customer_span.is_new,
        count(*) as customers
    from customer_span_orders as customer_span
    left join attrs
        on customer_span.customer_id = attrs.customer_id
    group by customer_span.span_id, attrs.cohort_month, attrs.country, attrs.acquisition_channel,
        attrs.loyalty_tier, attrs.rfm_segment, customer_span.is_new

),

customer_groups as (

    select
        sides.period,
        sides.period_start,
        sides.side,
        sides.anchor_end,
        groups.cohort_month,
        groups.country,
        groups.acquisition_channel,
        groups.loyalty_tier,
        groups.rfm_segment,
        groups.is_new,
        groups.customers
    from customer_span_groups as groups
    inner join sides
        on groups.span_id = sides.span_id

),

customer_segments as (

    select
        attrs.period,
        attrs.period_start,
        attrs.side,
        dims.dimension,
        case
            {%- for dimension, expression in customer_dims %}
            when dims.dimension = '{{ dimension }}' then cast({{ expression }} as {{ string }})
            {%- endfor %}
        end as segment,
        attrs.is_new,
        attrs.customers
    from customer_groups as attrs
    cross join customer_dimensions as dims

),

order_totals as (

    select period, period_start, side, dimension, segment,
        sum(net_revenue) as net_revenue, sum(orders) as orders
    from order_segments
    group by period, period_start, side, dimension, segment

),

customer_totals as (

    select period, period_start, side, dimension, segment,
        sum(customers) as customers, sum(is_new * customers) as new_customers
    from customer_segments
    group by period, period_start, side, dimension, segment

),

activity_sides as (

    select
        sides.period,
        sides.period_start,
        sides.side,
        activity.dimension,
        activity.segment,
        activity.customers_at_start,
        activity.customers_at_end,
        activity.new_customers,
        activity.retained_customers,
        activity.churned_customers
    from side_list as sides
    inner join {{ ref('int_change_segment_activity') }} as activity
        on activity.month = sides.side_start
    where sides.period like 'month%'

),

{{ metric_segments_carts() }}

-- The four sources of counts side by side, so each is read once (engines
-- that inline CTEs would recompute a source for every metric read from it).
sourced as (

    select 'orders' as source, period, period_start, side, dimension, segment,
        cast(net_revenue as {{ type_double() }}) as a, cast(orders as {{ type_double() }}) as b,
        cast(null as {{ type_double() }}) as c
    from order_totals
    union all
    select 'customers', period, period_start, side, dimension, segment, customers, new_customers, null
    from customer_totals
    union all
    select 'activity', period, period_start, side, dimension, segment,
        customers_at_start, retained_customers, churned_customers
    from activity_sides
    union all
    select 'carts', period, period_start, side, dimension, segment, abandoned_carts, closed_carts, recovered_carts
    from cart_totals

),

metric_sources as (

    select 'net_revenue' as metric, 'orders' as source
    union all select 'orders', 'orders'
    union all select 'aov', 'orders'
    union all select 'customers_ordering', 'customers'
    union all select 'new_customers', 'customers'
    union all select 'returning_customers', 'customers'
    union all select 'repeat_rate', 'customers'
    union all select 'retention_rate', 'activity'
    union all select 'churn_rate', 'activity'
    union all select 'cart_abandonment_rate', 'carts'
    union all select 'cart_recovery_rate', 'carts'

),

-- numerator and denominator of each metric from its source's counts:
-- orders (a = net revenue, b = orders), customers (a = ordering, b = new),
-- activity (a = active at start, b = at end - new, c = churned),
-- carts (a = abandoned, b = closed, c = recovered)
measured as (

    select
        sourced.period,
        sourced.period_start,
        sourced.side,
        metric_sources.metric,
        sourced.dimension,
        sourced.segment,
        case metric_sources.metric
            when 'net_revenue' then sourced.a
            when 'orders' then sourced.b
            when 'aov' then sourced.a
            when 'customers_ordering' then sourced.a
            when 'new_customers' then sourced.b
            when 'returning_customers' then sourced.a - sourced.b
            when 'repeat_rate' then sourced.a - sourced.b
            when 'retention_rate' then sourced.b
            when 'churn_rate' then sourced.c
            when 'cart_abandonment_rate' then sourced.a
            when 'cart_recovery_rate' then sourced.c
        end as numerator,
        case metric_sources.metric
            when 'aov' then sourced.b
            when 'repeat_rate' then sourced.a
            when 'retention_rate' then sourced.a
            when 'churn_rate' then sourced.a
            when 'cart_abandonment_rate' then sourced.b
            when 'cart_recovery_rate' then sourced.a
        end as denominator
    from sourced
    inner join metric_sources
        on sourced.source = metric_sources.source
    -- new / returning customers split by new vs returning would only restate themselves
    where not (sourced.dimension = 'new_vs_returning'
        and metric_sources.metric in ('new_customers', 'returning_customers', 'repeat_rate'))

),

-- Every period has a total row of each metric it measures, zero when
-- neither side has any data (a quiet week is 0 against 0, not missing).
spine as (

    select periods.period, periods.period_start, metric_sources.metric
    from periods
    cross join metric_sources
    cross join carts_tracked
    where (metric_sources.source <> 'activity' or periods.period like 'month%')
        and (metric_sources.source <> 'carts' or carts_tracked.is_tracked)

),

combined as (

    select period, period_start, metric, dimension, segment, side, numerator, denominator
    from measured
    union all
    select period, period_start, metric, 'total', 'all', 'current', 0, 0
    from spine

)

select
    periods.period,
    periods.period_start,
    periods.period_end,
    periods.previous_start,
    periods.previous_end,
    periods.periods_back,
    cast(combined.metric as {{ string }}) as metric,
    cast(combined.dimension as {{ string }}) as dimension,
    cast(combined.segment as {{ string }}) as segment,
    cast(case when combined.metric in ('net_revenue', 'orders', 'customers_ordering', 'new_customers',
        'returning_customers') then 'additive' else 'ratio' end as {{ string }}) as metric_kind,
    cast(coalesce(sum(case when combined.side = 'current' then combined.numerator end), 0) as {{ type_double() }})
        as numerator,
    cast(coalesce(sum(case when combined.side = 'current' then combined.denominator end), 0) as {{ type_double() }})
        as denominator,
    cast(coalesce(sum(case when combined.side = 'previous' then combined.numerator end), 0) as {{ type_double() }})
        as previous_numerator,
    cast(coalesce(sum(case when combined.side = 'previous' then combined.denominator end), 0) as {{ type_double() }})
        as previous_denominator
from combined
inner join periods
    on combined.period = periods.period and combined.period_start = periods.period_start
group by periods.period, periods.period_start, periods.period_end, periods.previous_start, periods.previous_end,
    periods.periods_back, combined.metric, combined.dimension, combined.segment
