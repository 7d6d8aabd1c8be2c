{#
    The audiences, each defined once (docs/metrics.md, "Audiences").

    `audience_members_sql(cutoffs, predictions)` is a query (use it as a
    subquery) with one row per cutoff date x customer x audience the customer
    is in on that date: cutoff_date, customer_id, audience, reason, score,
    predicted_clv_12m, p_alive, expected_next_order_date, last_order_date.

    - `cutoffs`: a relation or subquery with one column `cutoff_date`;
    - `predictions`: a relation or subquery keyed by (cutoff_date,
      customer_id) with p_alive, predicted_clv_12m, churn_risk,
      expected_next_order_date, typical_days_between_orders, cadence_method,
      fitted on the orders known on that cutoff date.

    - `sampled`: when true, `cutoffs` also has `sample_last_key`: null when
      every customer is rebuilt on that cutoff, else the largest md5 of the
      customer id in the cutoff's sample (the customers with the smallest
      md5, int_audience_backtest_predictions); orders, carts and tickets of
      the other customers are then left out, so every audience, and every
      share among customers (the second-order window, the top shares by
      revenue and CLV), is computed within the sample.

    Everything else is read here and cut at the cutoff: qualifying orders
    dated on or before it, carts and tickets opened on or before it, a
    resolution (and its CSAT) only when it happened by then. So the same
    SQL gives today's audiences (mart_audience_members, one cutoff: the
    as-of date) and their past memberships without hindsight
    (mart_audience_backtest, six month-ends). Thresholds are the
    `audience_*` vars (dbt_project.yml; retention.yml section `audiences`).
#}
{% macro audience_members_sql(cutoffs, predictions, sampled=false) -%}
{%- set v = 'audience_' -%}
with cutoffs as (

    select cutoff_date{% if sampled %}, sample_last_key{% endif %} from {{ cutoffs }} as c

),

known_orders as (

    select
        cutoffs.cutoff_date,
        o.customer_id,
        o.created_at,
        o.order_date,
        o.net_revenue,
        o.customer_order_number,
        o.days_since_previous_order
    {%- if sampled %}
    from (
        select * from (
            select o.*, {{ dbt.hash('o.customer_id') }} as sample_key
            from {{ ref('int_customer_orders') }} as o
        ) as keyed
        -- customers of no cutoff's sample are left out before the join with the cutoffs (a md5 is at most 32 f's)
        where sample_key <= (select max(coalesce(sample_last_key, '{{ "f" * 32 }}')) from cutoffs)
    ) as o
    inner join cutoffs on o.order_date <= cutoffs.cutoff_date and {{ audience_in_sample('o.sample_key') }}
    {%- else %}
    from {{ ref('int_customer_orders') }} as o
    inner join cutoffs on o.order_date <= cutoffs.cutoff_date
    {%- endif %}

),

customers as (

    select
        cutoff_date,
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        max(created_at) as last_order_at,
        count(*) as orders_count,
        sum(net_revenue) as net_revenue
    from known_orders
    group by cutoff_date, customer_id

),

-- When the shop's second orders usually come: days from the first to the
-- second order of the customers who made one by the cutoff.
second_order_window as (

    select
        cutoff_date,
        count(*) as second_orders,
        floor({{ percentile_cont('days_since_previous_order', var(v ~ 'second_order_nudge__window_low_percentile')) }}) as window_start_days,
        ceil({{ percentile_cont('days_since_previous_order', var(v ~ 'second_order_nudge__window_high_percentile')) }}) as window_end_days
    from known_orders
    where customer_order_number = 2
    group by cutoff_date

),

profiles as (

    select
        customers.*,
        {{ dbt.datediff('customers.first_order_date', 'customers.cutoff_date', 'day') }} as days_since_first_order,
        {{ dbt.datediff('customers.last_order_date', 'customers.cutoff_date', 'day') }} as days_since_last_order,
        p.p_alive,
        p.predicted_clv_12m,
        p.churn_risk,
        p.expected_next_order_date,
        p.typical_days_between_orders,
        p.cadence_method,
        cume_dist() over (partition by customers.cutoff_date order by customers.net_revenue desc) as revenue_top_share,
        -- customers without a CLV rank among themselves and are never used
        cume_dist() over (
            partition by customers.cutoff_date, p.predicted_clv_12m is null order by p.predicted_clv_12m desc
        ) as clv_top_share
    from customers
    left join {{ predictions }} as p
        on p.cutoff_date = customers.cutoff_date and p.customer_id = customers.customer_id

),

-- Known customers' abandoned carts (a recovered cart was abandoned first) of
-- the last `within_hours`, counted in whole shop days, with no order after them.
open_carts as (

    select
        cutoffs.cutoff_date,
        carts.customer_id,
        max(carts.cart_date) as last_cart_date,
        max(carts.cart_value) as top_cart_value,
        count(*) as carts
    from {{ ref('stg_shop__carts') }} as carts
    inner join cutoffs
        on carts.cart_date <= cutoffs.cutoff_date
        and carts.cart_date > {{ add_days(-((var(v ~ 'cart_recovery__within_hours') / 24) | int), 'cutoffs.cutoff_date') }}
    left join customers
        on customers.cutoff_date = cutoffs.cutoff_date and customers.customer_id = carts.customer_id
    where carts.customer_id is not null
        {%- if sampled %} and {{ audience_in_sample(dbt.hash('carts.customer_id')) }}{% endif %}
        and (carts.status = 'abandoned' or carts.is_recovered)
        and (customers.last_order_at is null or customers.last_order_at <= carts.created_at)
    group by cutoffs.cutoff_date, carts.customer_id

),

-- Tickets of the last `lookback_days` with a low CSAT or a slow resolution as
-- known on the cutoff (an unresolved ticket counts its whole days open so far),
-- and no order after them.
bad_tickets as (

    select
        cutoffs.cutoff_date,
        t.customer_id,
        t.created_at,
        t.ticket_date,
        case when t.resolved_at is null or {{ shop_date('t.resolved_at', var('shop_timezone')) }} <= cutoffs.cutoff_date
            then t.csat_score end as known_csat,
        case
            when t.resolved_at is not null and {{ shop_date('t.resolved_at', var('shop_timezone')) }} <= cutoffs.cutoff_date
                then {{ dbt.datediff('t.created_at', 't.resolved_at', 'second') }} / cast(3600 as {{ type_double() }})
            else cast({{ dbt.datediff('t.ticket_date', 'cutoffs.cutoff_date', 'day') }} * 24 as {{ type_double() }})
        end as hours_to_resolve,
        t.resolved_at is null or {{ shop_date('t.resolved_at', var('shop_timezone')) }} > cutoffs.cutoff_date as is_open
    from {{ ref('stg_shop__support_tickets') }} as t
    inner join cutoffs
        on t.ticket_date <= cutoffs.cutoff_date
        and t.ticket_date > {{ add_days(-var(v ~ 'after_bad_support__lookback_days'), 'cutoffs.cutoff_date') }}
    where t.customer_id is not null
        {%- if sampled %} and {{ audience_in_sample(dbt.hash('t.customer_id')) }}{% endif %}

),

bad_support as (

    select
        bad_tickets.cutoff_date,
        bad_tickets.customer_id,
        max(bad_tickets.ticket_date) as last_ticket_date,
        min(bad_tickets.known_csat) as lowest_csat,
        max(bad_tickets.hours_to_resolve) as slowest_hours,
        max(case when bad_tickets.is_open then 1 else 0 end) as any_open
    from bad_tickets
    left join customers
        on customers.cutoff_date = bad_tickets.cutoff_date and customers.customer_id = bad_tickets.customer_id
    where (bad_tickets.known_csat <= {{ var(v ~ 'after_bad_support__low_csat_max') }}
            or bad_tickets.hours_to_resolve > {{ var(v ~ 'after_bad_support__slow_resolution_hours') }})
        and (customers.last_order_at is null or customers.last_order_at <= bad_tickets.created_at)
    group by bad_tickets.cutoff_date, bad_tickets.customer_id

),

members as (

    select
        profiles.cutoff_date,
        profiles.customer_id,
        'second_order_nudge' as audience,
        {{ dbt.concat(["'one order, '", audience_text('profiles.days_since_first_order'),
            "' days ago; second orders usually come '", audience_int('w.window_start_days'),
            "'-'", audience_int('w.window_end_days'), "' days after the first'"]) }} as reason,
        coalesce(profiles.p_alive, 0) as score
    from profiles
    inner join second_order_window as w on w.cutoff_date = profiles.cutoff_date
    where profiles.orders_count = 1
        and w.second_orders >= {{ var(v ~ 'second_order_nudge__min_second_orders') }}
        and profiles.days_since_first_order between w.window_start_days and w.window_end_days

    union all

    select
        cutoff_date,
        customer_id,
        'due_for_next_order' as audience,
        {{ dbt.concat(["'orders about every '", audience_int('typical_days_between_orders'),
            "' days ('", "cadence_method", "' cadence); next order expected on '",
            audience_text('expected_next_order_date')]) }} as reason,
        coalesce(p_alive, 0) as score
    from profiles
    where expected_next_order_date > cutoff_date
        and expected_next_order_date <= {{ add_days(var(v ~ 'due_for_next_order__within_days'), 'cutoff_date') }}

    union all

    select
        cutoff_date,
        customer_id,
        'win_back' as audience,
        {{ dbt.concat(["'top '", audience_int('ceil(revenue_top_share * 100)'), "'% by revenue; '",
            "case when p_alive < " ~ var(v ~ 'win_back__max_p_alive') ~ " then "
                ~ dbt.concat(["'P(alive) '", audience_text('round(p_alive, 2)')])
                ~ " else " ~ dbt.concat(["'last order '", audience_text('days_since_last_order'),
                    "' days ago, usually every '", audience_int('typical_days_between_orders'), "' days'"])
                ~ " end"]) }} as reason,
        cast(net_revenue as {{ type_double() }}) as score
    from profiles
    where revenue_top_share <= {{ var(v ~ 'win_back__min_value_share') }}
        and (p_alive < {{ var(v ~ 'win_back__max_p_alive') }}
            or (cadence_method = 'personal'
                and days_since_last_order > {{ var(v ~ 'win_back__gap_multiple') }} * typical_days_between_orders
                and days_since_last_order >= {{ var(v ~ 'win_back__min_days_since_last_order') }}))

    union all

    select
        cutoff_date,
        customer_id,
        'vip_at_risk' as audience,
        {{ dbt.concat(["'top '", audience_int('ceil(clv_top_share * 100)'), "'% by predicted CLV; '",
            "churn_risk", "' churn risk (P(alive) '", audience_text('round(p_alive, 2)'), "')'"]) }} as reason,
        predicted_clv_12m as score
    from profiles
    where predicted_clv_12m is not null
        and clv_top_share <= {{ var(v ~ 'vip_at_risk__top_share') }}
        and churn_risk in ('medium', 'high')

    union all

    select
        cutoff_date,
        customer_id,
        'cart_recovery' as audience,
        {{ dbt.concat(["'abandoned '", audience_text('carts'), "' cart(s), the last on '",
            audience_text('last_cart_date'), "', worth up to '", audience_text('top_cart_value'),
            "'; no order since'"]) }} as reason,
        cast(top_cart_value as {{ type_double() }}) as score
    from open_carts

    union all

    select
        bad_support.cutoff_date,
        bad_support.customer_id,
        'after_bad_support' as audience,
        {{ dbt.concat(["'ticket on '", audience_text('bad_support.last_ticket_date'), "': '",
            "case when bad_support.lowest_csat <= " ~ var(v ~ 'after_bad_support__low_csat_max') ~ " then "
                ~ dbt.concat(["'CSAT '", audience_text('bad_support.lowest_csat')]) ~ " when bad_support.any_open = 1 then "
                ~ dbt.concat(["'still open after '", audience_int('bad_support.slowest_hours'), "' h'"])
                ~ " else " ~ dbt.concat(["'resolved after '", audience_int('bad_support.slowest_hours'), "' h'"])
                ~ " end", "'; no order since'"]) }} as reason,
        cast(coalesce(customers.net_revenue, 0) as {{ type_double() }}) as score
    from bad_support
    left join customers
        on customers.cutoff_date = bad_support.cutoff_date and customers.customer_id = bad_support.customer_id

)

select
    members.cutoff_date,
    members.customer_id,
    members.audience,
    members.reason,
    cast(members.score as {{ type_double() }}) as score,
    cast(profiles.predicted_clv_12m as {{ type_double() }}) as predicted_clv_12m,
    cast(profiles.p_alive as {{ type_double() }}) as p_alive,
    profiles.expected_next_order_date,
    profiles.last_order_date
from members
left join profiles
    on profiles.cutoff_date = members.cutoff_date and profiles.customer_id = members.customer_id
{%- endmacro %}

{# A value as text for a reason (dates as YYYY-MM-DD, whole numbers without decimals). #}
{% macro audience_text(expression) -%}
    cast({{ expression }} as {{ dbt.type_string() }})
{%- endmacro %}

{# A number as whole-number text for a reason. #}
{% macro audience_int(expression) -%}
    cast(cast(round({{ expression }}) as bigint) as {{ dbt.type_string() }})
{%- endmacro %}

{# Whether the customer whose id has the md5 `key` is in the sample of `cutoffs` (audience_members_sql). #}
{% macro audience_in_sample(key) -%}
    (cutoffs.sample_last_key is null or {{ key }} <= cutoffs.sample_last_key)
{%- endmacro %}
