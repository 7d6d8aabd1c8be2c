-- One row per support ticket, latest version; adds the shop-local creation date and month.
with source as (

    select * from {{ source('shop', 'support_tickets') }}

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
        {{ shop_date('created_at', var('shop_timezone')) }} as ticket_date
    from versions
    where version_rank = 1

)

select
    *,
    {{ month_start('ticket_date') }} as ticket_month
from renamed
