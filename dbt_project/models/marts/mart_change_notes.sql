{%- set point_metrics = "('repeat_rate', 'retention_rate', 'churn_rate', 'cart_abandonment_rate', 'cart_recovery_rate')" -%}
{%- set string = dbt.type_string() -%}
-- Ready sentences about the latest pair of each period kind of
-- mart_metric_changes: one per unusual change (largest robust z first),
-- with its two top drivers; when nothing moved unusually, one sentence
-- saying so with the change of net revenue. Every number of a sentence is
-- a column of its row, rounded, and every column is a mart_metric_changes
-- value (a data test joins them back).
with changes as (

    select * from {{ ref('mart_metric_changes') }}

),

latest as (

    select changes.*
    from changes
    inner join (select period, max(period_start) as period_start from changes group by period) as newest
        on changes.period = newest.period and changes.period_start = newest.period_start

),

totals as (

    select * from latest where effect_type = 'total'

),

headlines as (

    select
        totals.*,
        cast(row_number() over (partition by period order by abs(robust_z) desc, metric) as integer) as note_rank
    from totals
    where is_unusual

),

quiet as (

    select totals.*, cast(1 as integer) as note_rank
    from totals
    where metric = 'net_revenue'
        and period not in (select period from headlines)

),

noted as (

    select *, true as is_headline from headlines
    union all
    select *, false as is_headline from quiet

),

-- The parts in driver order, cohort months left out: month on month the
-- newest cohort always "drives" (it had no customers the month before),
-- which new vs returning already says.
parts as (

    select
        latest.*,
        row_number() over (
            partition by latest.period, latest.metric, latest.dimension = 'revenue_factors'
            order by latest.driver_rank
        ) as note_driver_rank
    from latest
    where latest.effect_type <> 'total' and latest.driver_rank is not null and latest.dimension <> 'cohort_month'

),

-- Driver 1: net revenue's largest factor (customers, orders per customer,
-- AOV, guests), else the top segment effect; driver 2: the next segment effect.
drivers as (

    select
        noted.period,
        noted.metric,
        max(case when (noted.metric = 'net_revenue' and parts.dimension = 'revenue_factors' and parts.note_driver_rank = 1)
            or (noted.metric <> 'net_revenue' and parts.dimension <> 'revenue_factors' and parts.note_driver_rank = 1)
            then parts.dimension end) as driver_1_dimension,
        max(case when (noted.metric = 'net_revenue' and parts.dimension = 'revenue_factors' and parts.note_driver_rank = 1)
            or (noted.metric <> 'net_revenue' and parts.dimension <> 'revenue_factors' and parts.note_driver_rank = 1)
            then parts.segment end) as driver_1_segment,
        max(case when (noted.metric = 'net_revenue' and parts.dimension = 'revenue_factors' and parts.note_driver_rank = 1)
            or (noted.metric <> 'net_revenue' and parts.dimension <> 'revenue_factors' and parts.note_driver_rank = 1)
            then parts.effect_type end) as driver_1_effect_type,
        max(case when (noted.metric = 'net_revenue' and parts.dimension = 'revenue_factors' and parts.note_driver_rank = 1)
            or (noted.metric <> 'net_revenue' and parts.dimension <> 'revenue_factors' and parts.note_driver_rank = 1)
            then parts.effect end) as driver_1_effect,
        max(case when parts.dimension <> 'revenue_factors'
            and parts.note_driver_rank = case when noted.metric = 'net_revenue' then 1 else 2 end
            then parts.dimension end) as driver_2_dimension,
        max(case when parts.dimension <> 'revenue_factors'
            and parts.note_driver_rank = case when noted.metric = 'net_revenue' then 1 else 2 end
            then parts.segment end) as driver_2_segment,
        max(case when parts.dimension <> 'revenue_factors'
            and parts.note_driver_rank = case when noted.metric = 'net_revenue' then 1 else 2 end
            then parts.effect_type end) as driver_2_effect_type,
        max(case when parts.dimension <> 'revenue_factors'
            and parts.note_driver_rank = case when noted.metric = 'net_revenue' then 1 else 2 end
            then parts.effect end) as driver_2_effect
    from noted
    inner join parts
        on noted.period = parts.period and noted.metric = parts.metric
        and parts.note_driver_rank <= 2
    group by noted.period, noted.metric

),

worded as (

    select
        noted.*,
        drivers.driver_1_dimension, drivers.driver_1_segment, drivers.driver_1_effect_type, drivers.driver_1_effect,
        drivers.driver_2_dimension, drivers.driver_2_segment, drivers.driver_2_effect_type, drivers.driver_2_effect,
        noted.metric in {{ point_metrics }} as is_points,
        case noted.metric
            when 'net_revenue' then 'Net revenue'
            when 'orders' then 'Orders'
            when 'aov' then 'Average order value'
            when 'customers_ordering' then 'Customers ordering'
            when 'new_customers' then 'New customers'
            when 'returning_customers' then 'Returning customers'
            when 'repeat_rate' then 'Repeat rate'
            when 'retention_rate' then 'Retention rate'
            when 'churn_rate' then 'Churn rate'
            when 'cart_abandonment_rate' then 'Cart abandonment'
            when 'cart_recovery_rate' then 'Cart recovery'
            else noted.metric
        end as metric_label,
        case
            when noted.period = 'last_7_days' then 'In the last 7 days'
            when noted.period = 'last_28_days' then 'In the last 28 days'
            else {{ dbt.concat(["'In '", "substring(cast(noted.period_start as " ~ string ~ "), 1, 7)"]) }}
        end as period_label,
        case
            when noted.period in ('last_7_days', 'last_28_days') then 'the days before'
            else substring(cast(noted.previous_start as {{ string }}), 1, 7)
        end as previous_label,
        case when noted.change > 0 then 'rose' when noted.change < 0 then 'fell' else 'was unchanged' end as direction
    from noted
    left join drivers
        on noted.period = drivers.period and noted.metric = drivers.metric

),

phrased as (

    select
        worded.*,
        case
            when change is null then {{ dbt.concat(["metric_label", "' has no value to compare'"]) }}
            when is_points then {{ dbt.concat(["metric_label", "' '", "direction", "' '",
                note_decimal('abs(change) * 100'), "' points to '", note_decimal('value * 100'), "'%'"]) }}
            when relative_change is null then {{ dbt.concat(["metric_label", "' '", "direction", "' from 0 to '",
                note_integer('value')]) }}
            else {{ dbt.concat(["metric_label", "' '", "direction", "' '", note_integer('abs(relative_change) * 100'),
                "'% ('", note_integer('change', signed=true), "')'"]) }}
        end as change_text,
        {% for n in [1, 2] %}
        case when driver_{{ n }}_effect is null then null
            else {{ dbt.concat([
                "case when driver_" ~ n ~ "_dimension = 'revenue_factors' then"
                    ~ " case driver_" ~ n ~ "_segment when 'customers' then 'customers ordering'"
                    ~ " when 'orders_per_customer' then 'orders per customer'"
                    ~ " when 'aov' then 'average order value' when 'guest_revenue' then 'guest orders'"
                    ~ " else driver_" ~ n ~ "_segment end"
                    ~ " else " ~ dbt.concat(["driver_" ~ n ~ "_segment", "' ('", "replace(driver_" ~ n ~ "_dimension, '_', ' ')",
                        "case driver_" ~ n ~ "_effect_type when 'mix' then ', mix' when 'rate' then ', rate' else '' end",
                        "')'"])
                    ~ " end",
                "' '",
                "case when is_points then " ~ dbt.concat([note_decimal('driver_' ~ n ~ '_effect * 100', signed=true), "' pts'"])
                    ~ " else " ~ note_integer('driver_' ~ n ~ '_effect', signed=true) ~ " end",
            ]) }}
        end as driver_{{ n }}_text{{ "," if not loop.last }}
        {% endfor %}
    from worded

)

select
    cast(period as {{ string }}) as period,
    period_start,
    period_end,
    previous_start,
    previous_end,
    cast(metric as {{ string }}) as metric,
    note_rank as rank,
    is_headline,
    cast({{ dbt.concat([
        "period_label", "', '", "lower(substring(change_text, 1, 1))", "substring(change_text, 2)",
        "' against '", "previous_label",
        "case when is_headline then " ~ dbt.concat(["', unusual (robust z '", note_decimal('robust_z', signed=true), "')'"])
            ~ " else ', nothing moved unusually' end",
        "case when driver_1_text is null then '' else " ~ dbt.concat(["': '", "driver_1_text"]) ~ " end",
        "case when driver_2_text is null then '' else " ~ dbt.concat(["'; '", "driver_2_text"]) ~ " end",
        "'.'",
    ]) }} as {{ string }}) as sentence,
    cast(value as {{ type_double() }}) as value,
    cast(previous_value as {{ type_double() }}) as previous_value,
    cast(change as {{ type_double() }}) as change,
    cast(relative_change as {{ type_double() }}) as relative_change,
    cast(robust_z as {{ type_double() }}) as robust_z,
    cast(driver_1_dimension as {{ string }}) as driver_1_dimension,
    cast(driver_1_segment as {{ string }}) as driver_1_segment,
    cast(driver_1_effect_type as {{ string }}) as driver_1_effect_type,
    cast(driver_1_effect as {{ type_double() }}) as driver_1_effect,
    cast(driver_2_dimension as {{ string }}) as driver_2_dimension,
    cast(driver_2_segment as {{ string }}) as driver_2_segment,
    cast(driver_2_effect_type as {{ string }}) as driver_2_effect_type,
    cast(driver_2_effect as {{ type_double() }}) as driver_2_effect
from phrased
