-- Monthly churn: customers active at the month's start, customers whose churn
-- date falls in the month, and their ratio.
with activity as (

    select * from {{ ref('int_monthly_customer_activity') }}

)

select
    month,
    period_end_date,
    is_complete_month,
    is_window_warming_up,
    cast(customers_at_start as bigint) as active_at_start,
    cast(churned_customers as bigint) as churned_in_month,
    cast({{ safe_ratio('churned_customers', 'customers_at_start') }} as {{ type_double() }}) as churn_rate
from activity
