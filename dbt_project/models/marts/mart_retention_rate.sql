-- Monthly customer retention rate, the seed formula:
-- (customers at end - new customers) / customers at start.
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
    cast({{ safe_ratio('customers_at_end - new_customers', 'customers_at_start') }} as {{ type_double() }}) as retention_rate
from activity
