-- Cumulative net revenue per customer by months since the first order, for
-- first-order cohorts grouped by half-year: the report's revenue curves. The
-- cohorts of a half-year are weighted by size; a month counts only the
-- cohorts that have reached it (mart_cohort_retention stops at the as-of month).
with cohorts as (

    select
        cohort_month,
        cast({{ dbt.date_trunc('year', 'cohort_month') }} as date) as cohort_year_start,
        case when extract(month from cohort_month) <= 6 then 1 else 2 end as half,
        months_since_first_order,
        cohort_size,
        cumulative_net_revenue_per_customer * cohort_size as cumulative_net_revenue
    from {{ ref('mart_cohort_retention') }}

),

aggregated as (

    select
        cohort_year_start,
        half,
        months_since_first_order,
        sum(cohort_size) as customers,
        -- A double summed in parallel: in cohort order, for the same bits on every build.
        {{ deterministic_sum('cumulative_net_revenue', 'cohort_month') }} as cumulative_net_revenue
    from cohorts
    group by cohort_year_start, half, months_since_first_order

)

select
    cast(
        {{ dbt.concat([
            'cast(cast(extract(year from cohort_year_start) as integer) as ' ~ dbt.type_string() ~ ')',
            "' H'",
            'cast(half as ' ~ dbt.type_string() ~ ')',
        ]) }}
        as {{ dbt.type_string() }}
    ) as cohort_half,
    {{ add_months('6 * (half - 1)', 'cohort_year_start') }} as cohort_half_start,
    cast(months_since_first_order as integer) as months_since_first_order,
    cast(customers as bigint) as customers,
    cast({{ safe_ratio('cumulative_net_revenue', 'customers') }} as {{ type_double() }}) as cumulative_net_revenue_per_customer
from aggregated
