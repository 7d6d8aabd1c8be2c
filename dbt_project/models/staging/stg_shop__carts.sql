-- One row per cart, latest version; adds the shop-local creation date and month.
-- Incremental (delete+insert on the key): a run converts only the rows extraction
-- upserted since the newest `_loaded_at` here; see macros/incremental.sql.
{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='cart_id',
    on_schema_change='fail',
) }}
with source as (

    select * from {{ source('shop', 'carts') }}
    {% if is_incremental() %}
    where _loaded_at > ({{ staging_loaded_after(this) }})
    {% endif %}

),

versions as (

    select
        *,
        row_number() over (
            partition by cart_id
            order by updated_at desc, _loaded_at desc
        ) as version_rank
    from source

),

renamed as (

    select
        cart_id,
        customer_id,
        device,
        status,
        converted_order_id,
        item_count,
        cart_value,
        currency,
        recovered as is_recovered,
        created_at,
        first_recovery_email_at,
        second_recovery_email_at,
        updated_at,
        _loaded_at,
        {{ shop_date('created_at', var('shop_timezone')) }} as cart_date
    from versions
    where version_rank = 1

)

select
    *,
    {{ month_start('cart_date') }} as cart_month,
    {{ staging_build_key() }} as _build_key
from renamed
