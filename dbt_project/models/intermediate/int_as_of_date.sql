-- The build's as-of date (one row): the `as_of_date` var when set, else the
-- shop-local date of the newest order's created_at, whatever its status.
with orders as (

    select order_date from {{ ref('stg_shop__orders') }}

),

as_of as (

    select
        {% if var('as_of_date') -%}
        cast('{{ var("as_of_date") }}' as date)
        {%- else -%}
        max(order_date)
        {%- endif %} as as_of_date
    from orders

)

select
    as_of_date,
    {{ month_start('as_of_date') }} as as_of_month
from as_of
