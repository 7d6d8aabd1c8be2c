-- Calendar of shop-local months, from the month of the first qualifying order
-- to the as-of month, with no gaps (months without orders included).
with bounds as (

    select
        min(orders.order_month) as first_month,
        max(as_of.as_of_month) as last_month,
        max(as_of.as_of_date) as as_of_date,
        min(orders.order_date) as first_order_date
    from {{ ref('int_orders') }} as orders
    cross join {{ ref('int_as_of_date') }} as as_of
    where orders.is_qualifying

),

series as (

    {{ integer_series() }}

),

months as (

    select
        {{ add_months('series.n', 'bounds.first_month') }} as month,
        bounds.as_of_date,
        bounds.first_order_date
    from bounds
    cross join series
    where series.n <= {{ dbt.datediff('bounds.first_month', 'bounds.last_month', 'month') }}

)

select
    month,
    {{ add_days(-1, add_months(1, 'month')) }} as month_end_date,
    -- the as-of month is counted up to the as-of date only
    case
        when {{ add_days(-1, add_months(1, 'month')) }} > as_of_date then as_of_date
        else {{ add_days(-1, add_months(1, 'month')) }}
    end as period_end_date,
    {{ add_days(-1, add_months(1, 'month')) }} <= as_of_date as is_complete_month,
    -- Nobody can drop out of a trailing window before it has run its full
    -- length once: until then retention is 100% and churn 0% by construction.
    {{ add_days(-1, add_months(1, 'month')) }}
        < {{ add_days(var('active_window_days'), 'first_order_date') }} as is_window_warming_up
from months
