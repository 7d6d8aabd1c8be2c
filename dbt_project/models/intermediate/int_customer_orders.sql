-- Qualifying orders of known customers, in order: sequence number, previous
-- and next order dates, gaps in whole shop-local days, cohort month, and the
-- churn date that follows an order when no next order came within
-- `churn_after_days` days.
--
-- Incremental (delete+insert on customer_id): sequence numbers and gaps
-- depend on the customer's other orders, so a run recomputes every order of
-- each customer it touches: customers with an order (qualifying or not)
-- reprocessed in int_orders since the newest `_loaded_at` here, and
-- customers whose churn date the moved as-of date has now reached (and the
-- previous owner of an order that moved to another customer). The
-- post-hook drops customers left without any qualifying order (a refund of
-- their only order). On Spark (plain Parquet) the table is rebuilt whole.
-- See macros/incremental.sql.
{{ config(**keyed_incremental('customer_id',
    kept_keys="select customer_id from {{ ref('int_orders') }} where is_qualifying")) }}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

{% if is_incremental() %}
loaded_after as (

    {{ incremental_loaded_after(this) }}

),

touched_customers as (

    select int_orders.customer_id
    from {{ ref('int_orders') }} as int_orders
    cross join loaded_after
    where int_orders.customer_id is not null
        and int_orders._loaded_at > loaded_after.loaded_after
    union
    -- the customer a reprocessed order belonged to before (an order moved to another customer)
    select stored.customer_id
    from {{ this }} as stored
    where stored.order_id in (
        select int_orders.order_id
        from {{ ref('int_orders') }} as int_orders
        cross join loaded_after
        where int_orders._loaded_at > loaded_after.loaded_after
    )
    union
    -- churned_on appears once the as-of date reaches the churn date
    select stored.customer_id
    from {{ this }} as stored
    cross join as_of
    where stored.churned_on is null
        and (stored.next_order_date is null or stored.days_to_next_order > {{ var('churn_after_days') }})
        and {{ add_days(var('churn_after_days') ~ ' + 1', 'stored.order_date') }} <= as_of.as_of_date

),
{% endif %}

orders as (

    select * from {{ ref('int_orders') }}
    where is_qualifying and customer_id is not null
    {% if is_incremental() %}
        and customer_id in (select customer_id from touched_customers)
    {% endif %}

),

sequenced as (

    select
        order_id,
        customer_id,
        created_at,
        order_date,
        order_month,
        device,
        channel,
        net_revenue,
        gross_margin,
        _loaded_at,
        row_number() over (
            partition by customer_id order by created_at, order_id
        ) as customer_order_number,
        lag(order_date) over (
            partition by customer_id order by created_at, order_id
        ) as previous_order_date,
        lead(order_date) over (
            partition by customer_id order by created_at, order_id
        ) as next_order_date,
        min(order_date) over (partition by customer_id) as first_order_date
    from orders

),

gaps as (

    select
        *,
        {{ dbt.datediff('previous_order_date', 'order_date', 'day') }} as days_since_previous_order,
        {{ dbt.datediff('order_date', 'next_order_date', 'day') }} as days_to_next_order,
        {{ month_start('first_order_date') }} as cohort_month,
        {{ add_days(var('churn_after_days') ~ ' + 1', 'order_date') }} as churn_date_if_no_next_order
    from sequenced

)

select
    gaps.order_id,
    gaps.customer_id,
    gaps.created_at,
    gaps.order_date,
    gaps.order_month,
    gaps.device,
    gaps.channel,
    gaps.net_revenue,
    gaps.gross_margin,
    gaps.customer_order_number,
    gaps.customer_order_number = 1 as is_first_order,
    gaps.previous_order_date,
    gaps.days_since_previous_order,
    gaps.next_order_date,
    gaps.days_to_next_order,
    gaps.first_order_date,
    gaps.cohort_month,
    {{ dbt.datediff('gaps.cohort_month', 'gaps.order_month', 'month') }} as months_since_first_order,
    case
        when (gaps.next_order_date is null or gaps.days_to_next_order > {{ var('churn_after_days') }})
            and gaps.churn_date_if_no_next_order <= as_of.as_of_date
            then gaps.churn_date_if_no_next_order
    end as churned_on,
    gaps._loaded_at,
    {{ incremental_build_key() }} as _build_key
from gaps
cross join as_of
