-- The period pairs whose movement mart_metric_changes explains: each
-- complete month against the month before and against the same month a year
-- before, and trailing 7- and 28-day windows ending on the as-of date against
-- the 7 / 28 days before. Day windows are also listed for every earlier
-- step back (`periods_back` > 0, windows ending 7 / 28 days apart) down to
-- the shop's first qualifying order: they are the history against which the
-- latest movement is judged unusual or not.
with months as (

    select month, month_end_date from {{ ref('int_months') }}

),

bounds as (

    select
        max(as_of.as_of_date) as as_of_date,
        min(orders.order_date) as first_order_date
    from {{ ref('int_as_of_date') }} as as_of
    cross join {{ ref('int_orders') }} as orders
    where orders.is_qualifying

),

monthly as (

    select
        'month_vs_previous_month' as period,
        current_month.month as period_start,
        current_month.month_end_date as period_end,
        previous_month.month as previous_start,
        previous_month.month_end_date as previous_end
    from months as current_month
    inner join months as previous_month
        on previous_month.month = {{ add_months(-1, 'current_month.month') }}
    inner join {{ ref('int_months') }} as complete
        on complete.month = current_month.month and complete.is_complete_month

    union all

    select
        'month_vs_same_month_last_year' as period,
        current_month.month as period_start,
        current_month.month_end_date as period_end,
        previous_month.month as previous_start,
        previous_month.month_end_date as previous_end
    from months as current_month
    inner join months as previous_month
        on previous_month.month = {{ add_months(-12, 'current_month.month') }}
    inner join {{ ref('int_months') }} as complete
        on complete.month = current_month.month and complete.is_complete_month

),

window_lengths as (

    select 'last_7_days' as period, 7 as days
    union all
    select 'last_28_days' as period, 28 as days

),

series as (

    {{ integer_series() }}

),

day_windows as (

    select
        window_lengths.period,
        window_lengths.days,
        series.n as periods_back,
        {{ add_days('-(window_lengths.days * series.n)', 'bounds.as_of_date') }} as period_end,
        bounds.first_order_date
    from window_lengths
    cross join series
    cross join bounds
    -- the latest pair always; earlier pairs while the previous window still holds a day of history
    where series.n = 0
        or {{ add_days('-(window_lengths.days * (series.n + 1))', 'bounds.as_of_date') }} >= bounds.first_order_date

)

select
    cast(period as {{ dbt.type_string() }}) as period,
    period_start,
    period_end,
    previous_start,
    previous_end,
    cast(row_number() over (partition by period order by period_start desc) - 1 as integer) as periods_back
from monthly

union all

select
    cast(period as {{ dbt.type_string() }}) as period,
    {{ add_days('1 - days', 'period_end') }} as period_start,
    period_end,
    {{ add_days('1 - 2 * days', 'period_end') }} as previous_start,
    {{ add_days('-days', 'period_end') }} as previous_end,
    cast(periods_back as integer) as periods_back
from day_windows
where period_end is not null
