-- One row per order line, latest version.
-- Incremental (delete+insert on the key): a run converts only the rows extraction
-- upserted since the newest `_loaded_at` here; see macros/incremental.sql.
{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['order_id', 'line_number'],
    on_schema_change='fail',
) }}
with source as (

    select * from {{ source('shop', 'order_lines') }}
    {% if is_incremental() %}
    where _loaded_at > ({{ staging_loaded_after(this) }})
    {% endif %}

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
    _loaded_at,
    {{ staging_build_key() }} as _build_key
from versions
where version_rank = 1
