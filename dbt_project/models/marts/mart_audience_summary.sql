-- One row per as-of date and audience: members, how many entered and left
-- since the previous build, the value at stake, and whether the shop tracks
-- what the audience needs. Incremental: the rows of earlier as-of dates are
-- kept (a daily history of audience sizes), a re-run replaces its own date's
-- rows. `left_since_previous` needs the previous build's row: null on the
-- first build and after a full refresh.
{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['as_of_date', 'audience'],
    on_schema_change='fail',
) }}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

members as (

    select
        audience,
        count(*) as members,
        sum(case when is_new then 1 else 0 end) as entered,
        -- Summed as exact decimals: a sum of doubles depends on the order the
        -- engine's threads add them in, and a re-run must export the same bytes.
        sum(cast(predicted_clv_12m as decimal(38, 6))) as value_at_stake
    from {{ ref('mart_audience_members') }}
    group by audience

),

coverage as (

    select entity, is_tracked from {{ ref('mart_data_coverage') }}

),

previous as (

    {% if is_incremental() %}
    select stored.audience, stored.members
    from {{ this }} as stored
    where stored.as_of_date = (
        select max(earlier.as_of_date) from {{ this }} as earlier
        where earlier.as_of_date < (select as_of_date from {{ ref('int_as_of_date') }})
    )
    {% else %}
    {{ empty_relation({'audience': dbt.type_string(), 'members': 'bigint'}) }}
    {% endif %}

)

select
    as_of.as_of_date,
    audiences.audience,
    coalesce(coverage.is_tracked, true) as is_tracked,
    case when coverage.is_tracked = false then {{ dbt.concat(["'not tracked by this shop (no '", "audiences.needs_entity", "' data)'"]) }} end as note,
    cast(coalesce(members.members, 0) as bigint) as members,
    cast(coalesce(members.entered, 0) as bigint) as entered_since_previous,
    cast(previous.members - (coalesce(members.members, 0) - coalesce(members.entered, 0)) as bigint) as left_since_previous,
    cast(members.value_at_stake as {{ type_double() }}) as value_at_stake
from {{ audience_list() }} as audiences
cross join as_of
left join members on members.audience = audiences.audience
left join coverage on coverage.entity = audiences.needs_entity
left join previous on previous.audience = audiences.audience
