-- One row per order line, latest version.
with source as (

    select * from {{ source('shop', 'order_lines') }}

),

versions as (

    select
        *,
        row_number() over (
            partition by order_id, line_number
            order by updated_at desc nulls last, _loaded_at desc
        ) as version_rank
    from source

)

select
    order_id,
    line_number,
    product_id,
    category,
    quantity,
    unit_price,
    unit_cost,
    updated_at,
    _loaded_at
from versions
where version_rank = 1
