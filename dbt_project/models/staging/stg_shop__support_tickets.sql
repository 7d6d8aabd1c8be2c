-- One row per support ticket, latest version; adds the shop-local creation date and month.
-- Incremental (delete+insert on the key): a run converts only the rows extraction
-- upserted since the newest `_loaded_at` here; see macros/incremental.sql.
{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='ticket_id',
    on_schema_change='fail',
) }}
with source as (

    select * from {{ source('shop', 'support_tickets') }}
    {% if is_incremental() %}
    where _loaded_at > ({{ staging_loaded_after(this) }})
    {% endif %}

),

versions as (

    select
        *,
        row_number() over (
            partition by ticket_id
            order by updated_at desc, _loaded_at desc
        ) as version_rank
    from source

),

renamed as (

    select
        ticket_id,
        customer_id,
        order_id,
        channel,
        category,
        status,
        csat_score,
        reopened_count,
        created_at,
        first_response_at,
        resolved_at,
        updated_at,
        _loaded_at,
        {{ shop_date('created_at', var('shop_timezone')) }} as ticket_date
    from versions
    where version_rank = 1

)

select
    *,
    {{ month_start('ticket_date') }} as ticket_month,
    {{ staging_build_key() }} as _build_key
from renamed
