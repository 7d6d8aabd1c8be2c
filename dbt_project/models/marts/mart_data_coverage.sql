-- One row per source entity: whether the shop tracks it, how many records
-- (latest versions) and quarantined rows it delivered, and the shop-local
-- dates of its first and last record. An entity is tracked when it delivered
-- anything, loaded or quarantined: a shop without a cart system or helpdesk
-- has neither, and its marts for that entity are empty by design rather
-- than by accident. The report reads tracking from here.
--
-- The quarantine is extraction's bookkeeping, not a source entity: it is read
-- from the `raw` schema of the sources when present (a dbt-only build on a
-- hand-made warehouse may lack it).
{#- Spark targets have no database level: the relation is schema.table there. #}
{%- set quarantine_relation = api.Relation.create(
    database=(target.database if target.database is defined else none), schema='raw', identifier='quarantine') %}

with quarantine as (

    select entity, count(*) as quarantined_records
    from {{ optional_relation(quarantine_relation, {'entity': dbt.type_string()}) }} as q
    group by entity

),

order_dates as (

    select order_id, created_at from {{ ref('stg_shop__orders') }}

),

customers as (

    select
        count(case when not is_derived_from_orders then 1 end) as records,
        count(case when is_derived_from_orders then 1 end) as derived_records,
        min(case when not is_derived_from_orders then signed_up_at end) as first_record_at,
        max(case when not is_derived_from_orders then signed_up_at end) as last_record_at
    from {{ ref('int_customers') }}

),

entities as (

    select 'orders' as entity, count(*) as records, 0 as derived_records,
        min(created_at) as first_record_at, max(created_at) as last_record_at
    from {{ ref('stg_shop__orders') }}

    union all

    -- lines carry no time of their own: their order's
    select 'order_lines', count(*), 0, min(order_dates.created_at), max(order_dates.created_at)
    from {{ ref('stg_shop__order_lines') }} as lines
    left join order_dates on lines.order_id = order_dates.order_id

    union all

    select 'customers', records, derived_records, first_record_at, last_record_at
    from customers

    union all

    select 'carts', count(*), 0, min(created_at), max(created_at)
    from {{ ref('stg_shop__carts') }}

    union all

    select 'support_tickets', count(*), 0, min(created_at), max(created_at)
    from {{ ref('stg_shop__support_tickets') }}

)

select
    cast(entities.entity as {{ dbt.type_string() }}) as entity,
    entities.records > 0 or coalesce(quarantine.quarantined_records, 0) > 0 as is_tracked,
    cast(entities.records as bigint) as records,
    cast(coalesce(quarantine.quarantined_records, 0) as bigint) as quarantined_records,
    cast(entities.derived_records as bigint) as derived_records,
    {{ shop_date('entities.first_record_at', var('shop_timezone')) }} as first_record_date,
    {{ shop_date('entities.last_record_at', var('shop_timezone')) }} as last_record_date
from entities
left join quarantine on entities.entity = quarantine.entity
