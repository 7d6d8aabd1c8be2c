-- Monthly customer retention: the share of the customers active at the
-- month's start who are still active at its end. Customers back after their
-- active window lapsed (reactivated) are counted on their own: they were not
-- in the starting base, so counting them as retained, as the seed formula
-- (customers at end - new customers) / customers at start does, can push the
-- rate above 1. That formula stays available as textbook_retention_rate.
with activity as (

    select * from {{ ref('int_monthly_customer_activity') }}

)

select
    month,
    period_end_date,
    is_complete_month,
    is_window_warming_up,
    cast(customers_at_start as bigint) as customers_at_start,
    cast(new_customers as bigint) as new_customers,
    cast(customers_at_end as bigint) as customers_at_end,
    cast(retained_customers as bigint) as retained_customers,
    cast(reactivated_customers as bigint) as reactivated_customers,
    cast({{ safe_ratio('retained_customers', 'customers_at_start') }} as {{ type_double() }}) as retention_rate,
    cast({{ safe_ratio('reactivated_customers', 'customers_at_start') }} as {{ type_double() }}) as reactivation_rate,
    cast({{ safe_ratio('customers_at_end - new_customers', 'customers_at_start') }} as {{ type_double() }}) as textbook_retention_rate
from activity
