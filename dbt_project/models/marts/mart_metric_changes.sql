{#- Rates move in points and are judged on their change; counts, money and AOV on their relative change. -#}
{%- set point_metrics = "('repeat_rate', 'retention_rate', 'churn_rate', 'cart_abandonment_rate', 'cart_recovery_rate')" -%}
-- What changed, and why: for each period pair of int_change_periods and each
-- metric, the total change (dimension `total`) and its exact decomposition:
-- net revenue into customers x orders per customer x AOV (LMDI, plus guest
-- orders), additive metrics into each segment's contribution, ratio
-- metrics into each segment's mix and rate effects. The parts of a
-- (period, metric, dimension) add up to its total change. Total rows carry
-- a robust z-score of the movement against the same metric's earlier
-- movements of the same period kind. Day windows are kept for the latest
-- pair only; the earlier ones serve as history.
with valued as (

    select
        *,
        case when metric_kind = 'additive' then numerator
            else numerator / nullif(denominator, 0) end as value,
        case when metric_kind = 'additive' then previous_numerator
            else previous_numerator / nullif(previous_denominator, 0) end as previous_value
    from {{ ref('int_metric_segments') }}

),

totals as (

    select
        *,
        value - previous_value as change
    from valued
    where dimension = 'total'

),

-- Additive metrics: each segment contributes its own change.
contributions as (

    select
        valued.period, valued.period_start, valued.metric, valued.dimension, valued.segment,
        'contribution' as effect_type,
        valued.value, valued.previous_value,
        valued.numerator / nullif(totals.numerator, 0) as weight,
        valued.previous_numerator / nullif(totals.previous_numerator, 0) as previous_weight,
        valued.value - valued.previous_value as effect
    from valued
    inner join totals
        on valued.period = totals.period and valued.period_start = totals.period_start
        and valued.metric = totals.metric
    where valued.metric_kind = 'additive' and valued.dimension <> 'total'

),

-- Ratio metrics: R = sum over segments of w_s x r_s, w_s = the segment's
-- share of the denominator, r_s its own ratio; c_s = w_s x r_s = the
-- segment's numerator / the total denominator. With r_bar the mean of the
-- segment's ratios over the two periods (the one it has if it is missing
-- from a period) and R_bar the mean of the totals:
--   mix  = (w1 - w0) x (r_bar - R_bar)
--   rate = (c1 - c0) - (w1 - w0) x r_bar   (= (r1 - r0) x (w1 + w0) / 2 when both ratios exist)
-- Summed over the segments, mix + rate = R1 - R0 exactly, since the weights
-- sum to 1 in both periods.
ratio_parts as (

    select
        valued.period, valued.period_start, valued.metric, valued.dimension, valued.segment,
        valued.value, valued.previous_value,
        totals.value as total_value,
        totals.previous_value as total_previous_value,
        valued.denominator / nullif(totals.denominator, 0) as weight,
        valued.previous_denominator / nullif(totals.previous_denominator, 0) as previous_weight,
        valued.numerator / nullif(totals.denominator, 0) as part,
        valued.previous_numerator / nullif(totals.previous_denominator, 0) as previous_part,
        case
            when valued.value is not null and valued.previous_value is not null
                then (valued.value + valued.previous_value) / 2
            else coalesce(valued.value, valued.previous_value, 0)
        end as mean_ratio
    from valued
    inner join totals
        on valued.period = totals.period and valued.period_start = totals.period_start
        and valued.metric = totals.metric
    where valued.metric_kind = 'ratio' and valued.dimension <> 'total'

),

mix_and_rate as (

    select
        ratio_parts.period, ratio_parts.period_start, ratio_parts.metric, ratio_parts.dimension,
        ratio_parts.segment, kinds.effect_type,
        ratio_parts.value, ratio_parts.previous_value, ratio_parts.weight, ratio_parts.previous_weight,
        -- no decomposition when either period has no denominator at all (its total is unknown)
        case when ratio_parts.total_value is not null and ratio_parts.total_previous_value is not null then
            -- (+ 0.0: an unchanged weight times a negative gap is -0.0, shown as 0)
            case when kinds.effect_type = 'mix'
                then (ratio_parts.weight - ratio_parts.previous_weight)
                    * (ratio_parts.mean_ratio - (ratio_parts.total_value + ratio_parts.total_previous_value) / 2) + 0.0
                else (ratio_parts.part - ratio_parts.previous_part)
                    - (ratio_parts.weight - ratio_parts.previous_weight) * ratio_parts.mean_ratio
            end
        end as effect
    from ratio_parts
    cross join (select 'mix' as effect_type union all select 'rate' as effect_type) as kinds

),

{{ revenue_factors('totals', 'valued') }}

parts as (

    select * from contributions
    union all
    select * from mix_and_rate
    union all
    select * from factor_effects

),

-- The movement judged for "is it unusual": points for rates, relative change otherwise.
movements as (

    select
        period, period_start, periods_back, metric,
        case when metric in {{ point_metrics }} then change
            else change / nullif(abs(previous_value), 0) end as movement
    from totals

),

{{ robust_z_scores('movements') }}

total_rows as (

    select
        totals.period, totals.period_start, totals.metric, totals.dimension, totals.segment,
        'total' as effect_type,
        totals.value, totals.previous_value,
        cast(null as {{ type_double() }}) as weight,
        cast(null as {{ type_double() }}) as previous_weight,
        totals.change as effect
    from totals

),

all_rows as (

    select * from total_rows
    union all
    select * from parts

),

described as (

    select
        all_rows.*,
        totals.metric_kind,
        totals.periods_back,
        totals.period_end,
        totals.previous_start,
        totals.previous_end,
        totals.change as total_change
    from all_rows
    inner join totals
        on all_rows.period = totals.period and all_rows.period_start = totals.period_start
        and all_rows.metric = totals.metric

)

select
    cast(described.period as {{ dbt.type_string() }}) as period,
    described.period_start,
    described.period_end,
    described.previous_start,
    described.previous_end,
    cast(described.metric as {{ dbt.type_string() }}) as metric,
    cast(described.metric_kind as {{ dbt.type_string() }}) as metric_kind,
    cast(described.dimension as {{ dbt.type_string() }}) as dimension,
    cast(described.segment as {{ dbt.type_string() }}) as segment,
    cast(described.effect_type as {{ dbt.type_string() }}) as effect_type,
    cast(described.value as {{ type_double() }}) as value,
    cast(described.previous_value as {{ type_double() }}) as previous_value,
    cast(described.value - described.previous_value as {{ type_double() }}) as change,
    cast((described.value - described.previous_value) / nullif(abs(described.previous_value), 0)
        as {{ type_double() }}) as relative_change,
    cast(described.weight as {{ type_double() }}) as weight,
    cast(described.previous_weight as {{ type_double() }}) as previous_weight,
    cast(described.effect as {{ type_double() }}) as effect,
    cast(described.effect / nullif(described.total_change, 0) as {{ type_double() }}) as share_of_change,
    cast(case when described.effect_type <> 'total' and described.effect is not null then
        row_number() over (
            partition by described.period, described.period_start, described.metric,
                described.effect_type = 'total', described.dimension = 'revenue_factors', described.effect is null
            -- the parts that pushed the total in its direction first
            order by case
                when described.total_change > 0 then described.effect
                when described.total_change < 0 then -described.effect
                else abs(described.effect)
            end desc, described.dimension, described.segment, described.effect_type
        )
    end as integer) as driver_rank,
    cast(case when described.effect_type = 'total' then scores.history_periods end as integer) as history_periods,
    cast(case when described.effect_type = 'total' then scores.robust_z end as {{ type_double() }}) as robust_z,
    coalesce(described.effect_type = 'total' and abs(scores.robust_z) >= {{ var('unusual_change_z') }}, false)
        as is_unusual
from described
left join scores
    on described.period = scores.period and described.period_start = scores.period_start
    and described.metric = scores.metric
where described.period like 'month%' or described.periods_back = 0
