-- One row per known customer: every customer of the customers export, plus
-- every customer id that appears on an order but not in that export (no
-- export at all, or an incomplete one). A customer known only from orders
-- signed up with their first order, whatever its status (a cancelled order
-- still proves an account); the attributes only the export carries
-- (country, acquisition channel, loyalty tier) are null, as for an exported
-- customer without them. Guest orders (no customer_id) add no customer.
with exported as (

    select * from {{ ref('stg_shop__customers') }}

),

orders as (

    select customer_id, created_at from {{ ref('stg_shop__orders') }}
    where customer_id is not null

),

derived as (

    select
        orders.customer_id,
        min(orders.created_at) as signed_up_at
    from orders
    left join exported on orders.customer_id = exported.customer_id
    where exported.customer_id is null
    group by orders.customer_id

)

select
    customer_id,
    country,
    acquisition_channel,
    loyalty_tier,
    signed_up_at,
    signup_date,
    false as is_derived_from_orders
from exported

union all

select
    customer_id,
    cast(null as {{ dbt.type_string() }}) as country,
    cast(null as {{ dbt.type_string() }}) as acquisition_channel,
    cast(null as {{ dbt.type_string() }}) as loyalty_tier,
    signed_up_at,
    {{ shop_date('signed_up_at', var('shop_timezone')) }} as signup_date,
    true as is_derived_from_orders
from derived
