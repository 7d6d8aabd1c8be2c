-- One row per customer, latest version. Personal data (email) stays in raw.
-- Incremental (delete+insert on the key): a run converts only the rows extraction
-- upserted since the newest `_loaded_at` here; see macros/incremental.sql.
{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='fail',
) }}
with source as (

    select * from {{ source('shop', 'customers') }}
    {% if is_incremental() %}
    where _loaded_at > ({{ staging_loaded_after(this) }})
    {% endif %}

),

versions as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc, _loaded_at desc
        ) as version_rank
    from source

),

renamed as (

    select
        customer_id,
        country,
        acquisition_channel,
        loyalty_tier,
        created_at as signed_up_at,
        {{ shop_date('created_at', var('shop_timezone')) }} as signup_date,
        updated_at,
        _loaded_at,
        {{ staging_build_key() }} as _build_key
    from versions
    where version_rank = 1

)

select * from renamed
