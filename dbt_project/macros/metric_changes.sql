{#
    Pieces of int_metric_segments and int_change_segment_activity.
    `metric_segments_carts` expects the model's `span_days` CTE (the days of
    each distinct span of days a side covers) and `sides` (period, side and
    span of each side), and ends with a comma.
#}

{#
    The customer attributes a change can be explained by, as (dimension,
    expression) pairs over `attrs` (int_change_customer_attributes, one row
    per customer with a qualifying order). A missing attribute (no customers
    export, an empty field) is the segment 'unknown', so a shop without it
    gets one segment, not a failure.
#}
{% macro change_customer_dimensions() %}
    {{ return([
        ('acquisition_channel', "coalesce(attrs.acquisition_channel, 'unknown')"),
        ('country', "coalesce(attrs.country, 'unknown')"),
        ('loyalty_tier', "coalesce(attrs.loyalty_tier, 'unknown')"),
        ('rfm_segment', "coalesce(attrs.rfm_segment, 'unknown')"),
        ('cohort_year', "cast(cast(extract(year from attrs.cohort_month) as integer) as " ~ dbt.type_string() ~ ")"),
    ]) }}
{% endmacro %}

{#
    `carts_tracked` (one row) and `cart_totals`: per side, in total and by
    device, the carts abandoned, closed (not open) and recovered, with the
    definitions of mart_cart_abandonment. A shop that does not track carts
    has no cart rows at all.
#}
{% macro metric_segments_carts() %}
carts_tracked as (

    select coalesce(max(case when is_tracked then 1 else 0 end), 0) = 1 as is_tracked
    from {{ ref('mart_data_coverage') }}
    where entity = 'carts'

),

-- grouped per span of days (`span_days`), then laid on the sides of each span
cart_span_groups as (

    select
        span_days.span_id,
        coalesce(carts.device, 'unknown') as device,
        -- a recovered cart was abandoned first, whatever status it carries now
        sum(case when carts.status = 'abandoned' or carts.is_recovered then 1 else 0 end) as is_abandoned,
        sum(case when carts.status = 'open' and not carts.is_recovered then 0 else 1 end) as is_closed,
        sum(case when carts.is_recovered then 1 else 0 end) as is_recovered
    from {{ ref('stg_shop__carts') }} as carts
    inner join span_days
        on carts.cart_date = span_days.day
    group by span_days.span_id, coalesce(carts.device, 'unknown')

),

cart_sides as (

    select sides.period, sides.period_start, sides.side, groups.device, groups.is_abandoned, groups.is_closed,
        groups.is_recovered
    from cart_span_groups as groups
    inner join sides
        on groups.span_id = sides.span_id

),

cart_totals as (

    select period, period_start, side, dimension, segment,
        sum(is_abandoned) as abandoned_carts, sum(is_closed) as closed_carts, sum(is_recovered) as recovered_carts
    from (
        select period, period_start, side, 'total' as dimension, 'all' as segment, is_abandoned, is_closed, is_recovered
        from cart_sides
        union all
        select period, period_start, side, 'device', device, is_abandoned, is_closed, is_recovered
        from cart_sides
    ) as by_segment
    group by period, period_start, side, dimension, segment

),
{% endmacro %}

{#
    CTEs of mart_metric_changes.

    `factor_effects`: net revenue = guest revenue + known customers' revenue,
    and the latter = customers x orders per customer x AOV. The product is
    split with the logarithmic mean Divisia index (LMDI-I): with
    L = (K1 - K0) / ln(K1 / K0) (L = K1 when equal), a factor x moves
    revenue by L x ln(x1 / x0); the three effects sum to K1 - K0 exactly
    because the logs of the factors sum to ln(K1 / K0). When either period
    has no known-customer revenue the logs do not exist and the whole
    change is the customers effect (from or to no customers at all). Guest
    revenue adds its own change. Ends with a comma.
#}
{% macro revenue_factors(totals, valued) %}
revenue_inputs as (

    select
        period,
        period_start,
        sum(case when metric = 'net_revenue' and dimension = 'total' then numerator else 0 end)
            - sum(case when metric = 'net_revenue' and dimension <> 'total' then numerator else 0 end) as known_revenue,
        sum(case when metric = 'net_revenue' and dimension = 'total' then previous_numerator else 0 end)
            - sum(case when metric = 'net_revenue' and dimension <> 'total' then previous_numerator else 0 end)
            as previous_known_revenue,
        sum(case when metric = 'net_revenue' and dimension <> 'total' then numerator else 0 end) as guest_revenue,
        sum(case when metric = 'net_revenue' and dimension <> 'total' then previous_numerator else 0 end)
            as previous_guest_revenue,
        sum(case when metric = 'orders' and dimension = 'total' then numerator else 0 end)
            - sum(case when metric = 'orders' and dimension <> 'total' then numerator else 0 end) as known_orders,
        sum(case when metric = 'orders' and dimension = 'total' then previous_numerator else 0 end)
            - sum(case when metric = 'orders' and dimension <> 'total' then previous_numerator else 0 end)
            as previous_known_orders,
        sum(case when metric = 'customers_ordering' then numerator else 0 end) as customers,
        sum(case when metric = 'customers_ordering' then previous_numerator else 0 end) as previous_customers
    from {{ valued }}
    where (metric in ('net_revenue', 'orders')
            and (dimension = 'total' or (dimension = 'new_vs_returning' and segment = 'guest')))
        or (metric = 'customers_ordering' and dimension = 'total')
    group by period, period_start

),

revenue_log_mean as (

    select
        *,
        case when known_revenue > 0 and previous_known_revenue > 0 then
            case when known_revenue = previous_known_revenue then known_revenue
                else (known_revenue - previous_known_revenue) / ln(known_revenue / previous_known_revenue)
            end
        end as log_mean
    from revenue_inputs

),

factor_values as (

    select period, period_start, 'customers' as segment, customers as value, previous_customers as previous_value,
        -- (logs only under a log mean: both periods have known revenue, so every factor is > 0)
        case when log_mean is not null then log_mean * ln(customers / previous_customers)
            else known_revenue - previous_known_revenue end as effect
    from revenue_log_mean
    union all
    select period, period_start, 'orders_per_customer',
        known_orders / nullif(customers, 0), previous_known_orders / nullif(previous_customers, 0),
        case when log_mean is not null
            then log_mean * ln((known_orders / customers) / (previous_known_orders / previous_customers))
            else 0 end
    from revenue_log_mean
    union all
    select period, period_start, 'aov',
        known_revenue / nullif(known_orders, 0), previous_known_revenue / nullif(previous_known_orders, 0),
        case when log_mean is not null
            then log_mean * ln((known_revenue / known_orders) / (previous_known_revenue / previous_known_orders))
            else 0 end
    from revenue_log_mean
    union all
    select period, period_start, 'guest_revenue', guest_revenue, previous_guest_revenue,
        guest_revenue - previous_guest_revenue
    from revenue_log_mean

),

factor_effects as (

    select
        period, period_start, 'net_revenue' as metric, 'revenue_factors' as dimension, segment,
        'factor' as effect_type, value, previous_value,
        cast(null as {{ type_double() }}) as weight,
        cast(null as {{ type_double() }}) as previous_weight,
        effect
    from factor_values

),
{% endmacro %}

{#
    `scores`: per period pair and metric, the robust z-score of its movement
    against the same metric's movements in the earlier pairs of the same
    period kind: (movement - median) / (1.4826 x MAD), the median absolute
    deviation scaled to a standard deviation for normal data. When over half
    the history is identical (MAD 0) the mean absolute deviation x 1.2533
    stands in; with no spread at all, or fewer than `change_min_history`
    earlier movements, there is no score. Ends with a comma.
#}
{% macro robust_z_scores(movements) %}
history as (

    select current_pair.period, current_pair.period_start, current_pair.metric, earlier.movement
    from {{ movements }} as current_pair
    inner join {{ movements }} as earlier
        on earlier.period = current_pair.period and earlier.metric = current_pair.metric
        and earlier.period_start < current_pair.period_start
    where earlier.movement is not null

),

history_median as (

    select period, period_start, metric, count(*) as history_periods, {{ median('movement') }} as median_movement
    from history
    group by period, period_start, metric

),

history_spread as (

    select
        history.period, history.period_start, history.metric,
        {{ median('abs(history.movement - history_median.median_movement)') }} as mad,
        avg(abs(history.movement - history_median.median_movement)) as mean_absolute_deviation
    from history
    inner join history_median
        on history.period = history_median.period and history.period_start = history_median.period_start
        and history.metric = history_median.metric
    group by history.period, history.period_start, history.metric

),

scores as (

    select
        {{ movements }}.period,
        {{ movements }}.period_start,
        {{ movements }}.metric,
        coalesce(history_median.history_periods, 0) as history_periods,
        case when history_median.history_periods >= {{ var('change_min_history') }} then
            case
                when history_spread.mad > 0
                    then ({{ movements }}.movement - history_median.median_movement) / (1.4826 * history_spread.mad)
                when history_spread.mean_absolute_deviation > 0
                    then ({{ movements }}.movement - history_median.median_movement)
                        / (1.2533 * history_spread.mean_absolute_deviation)
            end
        end as robust_z
    from {{ movements }}
    left join history_median
        on {{ movements }}.period = history_median.period and {{ movements }}.period_start = history_median.period_start
        and {{ movements }}.metric = history_median.metric
    left join history_spread
        on {{ movements }}.period = history_spread.period and {{ movements }}.period_start = history_spread.period_start
        and {{ movements }}.metric = history_spread.metric

),
{% endmacro %}

{# Text of a number for the change notes, the same on every engine: rounded, then cast. #}
{% macro note_integer(expression, signed=false) -%}
    {%- if signed -%}
    {{ dbt.concat(["case when round(" ~ expression ~ ") > 0 then '+' else '' end",
                   "cast(cast(round(" ~ expression ~ ") as bigint) as " ~ dbt.type_string() ~ ")"]) }}
    {%- else -%}
    cast(cast(round({{ expression }}) as bigint) as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{% macro note_decimal(expression, signed=false) -%}
    {%- set text = "cast(cast(" ~ round_decimals(expression, 1) ~ " as decimal(18,1)) as " ~ dbt.type_string() ~ ")" -%}
    {%- if signed -%}
    {{ dbt.concat(["case when " ~ round_decimals(expression, 1) ~ " > 0 then '+' else '' end", text]) }}
    {%- else -%}
    {{ text }}
    {%- endif -%}
{%- endmacro %}
