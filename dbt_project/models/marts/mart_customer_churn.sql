-- One row per customer with a qualifying order: recency, cadence and churn status as of the as-of date.
with summary as (

    select * from {{ ref('int_customer_order_summary') }}

),

predictions as (

    select customer_id, p_alive
    from {{ customer_predictions(
        {'customer_id': dbt.type_string(), 'p_alive': type_double()}
    ) }}

)

select
    summary.customer_id,
    first_order_at,
    last_order_at,
    first_order_date,
    last_order_date,
    cast(orders_count as bigint) as orders_count,
    as_of_date,
    cast(days_since_last_order as integer) as days_since_last_order,
    cast(typical_interorder_days as {{ type_double() }}) as typical_interorder_days,
    is_churned,
    churned_on,
    cast(predictions.p_alive as {{ type_double() }}) as p_alive
from summary
left join predictions on predictions.customer_id = summary.customer_id
