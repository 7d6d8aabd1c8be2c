-- The build's as-of date (one row): the `as_of_date` var when set, else the
-- shop-local date of the newest order's created_at, whatever its status.
with orders as (

    select order_date from {{ ref('stg_shop__orders') }}

),

as_of as (

    {% if var('as_of_date') -%}
    select cast('{{ var("as_of_date") }}' as date) as as_of_date
    {%- else -%}
    select max(order_date) as as_of_date from orders
    {%- endif %}

)

select
    as_of_date,
    {{ month_start('as_of_date') }} as as_of_month
from as_of
