-- Cohort x months since first order, every month from the cohort's first up
-- to the as-of month (months without activity show zero). The activity per
-- cohort and month comes from the incremental int_cohort_activity; only the
-- grid of months depends on the as-of date.
with summary as (

    select * from {{ ref('int_customer_order_summary') }}

),

cohort_activity as (

    select * from {{ ref('int_cohort_activity') }}

),

months as (

    select month, is_complete_month from {{ ref('int_months') }}

),

cohorts as (

    select cohort_month, count(*) as cohort_size
    from summary
    group by cohort_month

),

grid as (

    select
        cohorts.cohort_month,
        cohorts.cohort_size,
        months.month as activity_month,
        months.is_complete_month,
        {{ dbt.datediff('cohorts.cohort_month', 'months.month', 'month') }} as months_since_first_order
    from cohorts
    inner join months
        on months.month >= cohorts.cohort_month

),

activity as (

    select cohort_month, activity_month, active_customers, net_revenue
    from cohort_activity

),

joined as (

    select
        grid.cohort_month,
        grid.months_since_first_order,
        grid.activity_month,
        grid.is_complete_month,
        grid.cohort_size,
        coalesce(activity.active_customers, 0) as active_customers,
        coalesce(activity.net_revenue, 0) as net_revenue
    from grid
    left join activity
        on grid.cohort_month = activity.cohort_month
        and grid.activity_month = activity.activity_month

)

select
    cohort_month,
    cast(months_since_first_order as integer) as months_since_first_order,
    activity_month,
    is_complete_month,
    cast(cohort_size as bigint) as cohort_size,
    cast(active_customers as bigint) as active_customers,
    cast({{ safe_ratio('active_customers', 'cohort_size') }} as {{ type_double() }}) as retention_rate,
    cast(net_revenue as {{ type_money() }}) as net_revenue,
    cast(
        {{ safe_ratio(
            'sum(net_revenue) over (partition by cohort_month order by months_since_first_order rows between unbounded preceding and current row)',
            'cohort_size') }}
        as {{ type_double() }}
    ) as cumulative_net_revenue_per_customer
from joined
