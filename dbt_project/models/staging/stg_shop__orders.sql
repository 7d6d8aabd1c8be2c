-- One row per order, latest version; adds the shop-local order date and month.
-- Incremental (delete+insert on the key): a run converts only the rows extraction
-- upserted since the newest `_loaded_at` here; see macros/incremental.sql.
{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
) }}
with source as (

    select * from {{ source('shop', 'orders') }}
    {% if is_incremental() %}
    where _loaded_at > ({{ staging_loaded_after(this) }})
    {% endif %}

),

versions as (

    select
        *,
        row_number() over (
            partition by order_id
            order by updated_at desc, _loaded_at desc
        ) as version_rank
    from source

),

renamed as (

    select
        order_id,
        customer_id,
        status,
        device,
        channel,
        currency,
        coupon_code,
        subtotal,
        discount,
        shipping,
        tax,
        refunded_amount,
        created_at,
        updated_at,
        _loaded_at,
        {{ shop_date('created_at', var('shop_timezone')) }} as order_date
    from versions
    where version_rank = 1

)

select
    *,
    {{ month_start('order_date') }} as order_month,
    {{ staging_build_key() }} as _build_key
from renamed
