-- Cart abandonment and recovery per shop-local month, all devices and
-- customer types together: the report's cart chart. Counts are summed from
-- mart_cart_abandonment and the rates recomputed from the sums (rates do
-- not add up across groups).
with carts as (

    select
        cart_month,
        -- a function of the month: grouping by it keeps one row per month
        is_complete_month,
        sum(carts) as carts,
        sum(open_carts) as open_carts,
        sum(abandoned_carts) as abandoned_carts,
        sum(recovered_carts) as recovered_carts,
        sum(recovered_revenue) as recovered_revenue
    from {{ ref('mart_cart_abandonment') }}
    group by cart_month, is_complete_month

)

select
    cart_month,
    is_complete_month,
    cast(carts as bigint) as carts,
    cast(open_carts as bigint) as open_carts,
    cast(abandoned_carts as bigint) as abandoned_carts,
    cast({{ safe_ratio('abandoned_carts', 'carts - open_carts') }} as {{ type_double() }}) as abandonment_rate,
    cast(recovered_carts as bigint) as recovered_carts,
    cast({{ safe_ratio('recovered_carts', 'abandoned_carts') }} as {{ type_double() }}) as recovery_rate,
    cast(recovered_revenue as {{ type_money() }}) as recovered_revenue
from carts
