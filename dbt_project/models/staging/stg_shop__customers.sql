-- One row per customer, latest version. Personal data (email) stays in raw.
with source as (

    select * from {{ source('shop', 'customers') }}

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
        updated_at
    from versions
    where version_rank = 1

)

select * from renamed
