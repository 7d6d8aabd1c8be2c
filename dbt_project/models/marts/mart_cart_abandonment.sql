-- Carts per shop-local month x device x customer type (guest / known):
-- abandonment, recovery e-mails, recovered carts and recovered revenue.
with carts as (

    select * from {{ ref('stg_shop__carts') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

orders as (

    select order_id, net_revenue from {{ ref('int_orders') }}

),

flagged as (

    select
        carts.cart_month,
        carts.device,
        case when carts.customer_id is null then 'guest' else 'known' end as customer_type,
        -- a recovered cart was abandoned first, whatever status it carries now
        carts.status = 'abandoned' or carts.is_recovered as is_abandoned,
        carts.status = 'open' and not carts.is_recovered as is_open,
        carts.is_recovered,
        carts.first_recovery_email_at is not null as got_first_email,
        carts.second_recovery_email_at is not null as got_second_email,
        carts.cart_value,
        case when carts.is_recovered then coalesce(orders.net_revenue, 0) end as recovered_net_revenue
    from carts
    cross join as_of
    left join orders
        on carts.converted_order_id = orders.order_id
    where carts.cart_date <= as_of.as_of_date

),

aggregated as (

    select
        cart_month,
        device,
        customer_type,
        count(*) as carts,
        sum(case when is_open then 1 else 0 end) as open_carts,
        sum(case when is_abandoned then 1 else 0 end) as abandoned_carts,
        sum(case when is_abandoned and got_first_email then 1 else 0 end) as first_recovery_emails_sent,
        sum(case when is_abandoned and got_second_email then 1 else 0 end) as second_recovery_emails_sent,
        sum(case when is_recovered then 1 else 0 end) as recovered_carts,
        sum(case when is_recovered and got_second_email then 1 else 0 end) as recovered_after_second_email,
        sum(case when is_abandoned and got_first_email and is_recovered then 1 else 0 end) as recovered_emailed_carts,
        coalesce(sum(recovered_net_revenue), 0) as recovered_revenue,
        sum(case when is_recovered then cart_value else 0 end) as recovered_cart_value
    from flagged
    group by cart_month, device, customer_type

)

select
    aggregated.cart_month,
    aggregated.device,
    {{ is_complete_month('aggregated.cart_month', 'as_of.as_of_date') }} as is_complete_month,
    cast(customer_type as {{ dbt.type_string() }}) as customer_type,
    cast(carts as bigint) as carts,
    cast(open_carts as bigint) as open_carts,
    cast(abandoned_carts as bigint) as abandoned_carts,
    cast({{ safe_ratio('abandoned_carts', 'carts - open_carts') }} as {{ type_double() }}) as abandonment_rate,
    cast(first_recovery_emails_sent as bigint) as first_recovery_emails_sent,
    cast(second_recovery_emails_sent as bigint) as second_recovery_emails_sent,
    cast(recovered_carts as bigint) as recovered_carts,
    cast(recovered_after_second_email as bigint) as recovered_after_second_email,
    cast({{ safe_ratio('recovered_carts', 'abandoned_carts') }} as {{ type_double() }}) as recovery_rate,
    cast({{ safe_ratio('recovered_emailed_carts', 'first_recovery_emails_sent') }} as {{ type_double() }}) as email_recovery_rate,
    cast(recovered_revenue as {{ type_money() }}) as recovered_revenue,
    cast(recovered_cart_value as {{ type_money() }}) as recovered_cart_value
from aggregated
cross join as_of
