-- Every decomposition adds up: for each period, metric and dimension, the
-- effects of the parts sum to the metric's total change, within 1e-9 x
-- max(1, |change|) (under a cent for changes below 10M). Rows returned
-- are the dimensions that do not add up, or a total without its parts.
with changes as (

    select * from {{ ref('mart_metric_changes') }}

),

totals as (

    select period, period_start, metric, change
    from changes
    where effect_type = 'total' and change is not null

),

parts as (

    select period, period_start, metric, dimension, sum(effect) as effects, count(effect) as parts_with_effect,
        count(*) as parts
    from changes
    where effect_type <> 'total'
    group by period, period_start, metric, dimension

)

select totals.period, totals.period_start, totals.metric, parts.dimension, totals.change, parts.effects
from totals
left join parts
    on totals.period = parts.period and totals.period_start = parts.period_start and totals.metric = parts.metric
where parts.dimension is null
    or parts.parts_with_effect < parts.parts
    or abs(parts.effects - totals.change) > 1e-9 * (case when abs(totals.change) > 1 then abs(totals.change) else 1 end)
