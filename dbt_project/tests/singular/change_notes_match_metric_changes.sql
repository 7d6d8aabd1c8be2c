-- Every number of a change note is a value of mart_metric_changes: the
-- note's totals match the metric's total row and each driver matches the
-- row it names; the sentence carries the rounded change (or points) it
-- is built from. Rows returned are the notes that do not match.
with notes as (

    select * from {{ ref('mart_change_notes') }}

),

changes as (

    select * from {{ ref('mart_metric_changes') }}

),

checked as (

    select
        notes.period,
        notes.rank,
        notes.sentence,
        totals.metric is not null
            and coalesce(notes.value = totals.value, notes.value is null and totals.value is null)
            and coalesce(notes.previous_value = totals.previous_value,
                notes.previous_value is null and totals.previous_value is null)
            and coalesce(notes.change = totals.change, notes.change is null and totals.change is null)
            and coalesce(notes.robust_z = totals.robust_z, notes.robust_z is null and totals.robust_z is null)
            and notes.is_headline = totals.is_unusual as totals_match,
        notes.driver_1_effect is null or notes.driver_1_effect = driver_1.effect as driver_1_matches,
        notes.driver_2_effect is null or notes.driver_2_effect = driver_2.effect as driver_2_matches,
        notes.change is null
            or notes.sentence like {{ dbt.concat(["'%'", note_decimal('abs(notes.change) * 100'), "' points%'"]) }}
            or notes.sentence like {{ dbt.concat(["'%('", note_integer('notes.change', signed=true), "')%'"]) }}
            or (notes.relative_change is null and notes.sentence like {{ dbt.concat(["'%'", note_integer('notes.value'), "'%'"]) }})
            as sentence_matches
    from notes
    left join changes as totals
        on notes.period = totals.period and notes.period_start = totals.period_start
        and notes.metric = totals.metric and totals.effect_type = 'total'
    left join changes as driver_1
        on notes.period = driver_1.period and notes.period_start = driver_1.period_start
        and notes.metric = driver_1.metric and notes.driver_1_dimension = driver_1.dimension
        and notes.driver_1_segment = driver_1.segment and notes.driver_1_effect_type = driver_1.effect_type
    left join changes as driver_2
        on notes.period = driver_2.period and notes.period_start = driver_2.period_start
        and notes.metric = driver_2.metric and notes.driver_2_dimension = driver_2.dimension
        and notes.driver_2_segment = driver_2.segment and notes.driver_2_effect_type = driver_2.effect_type

)

select *
from checked
where not (totals_match and driver_1_matches and driver_2_matches and sentence_matches)
