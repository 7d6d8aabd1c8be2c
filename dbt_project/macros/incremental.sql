{#
    Helpers of the incremental intermediates (int_orders, int_customer_orders).

    Change detection uses `_loaded_at`, the time extraction upserted a raw row.
    It is stamped by the pipeline itself, and dbt only runs after extraction
    has committed (one writer, steps in one process), so "loaded after the
    newest `_loaded_at` already in the table" is exact: a late refund
    re-upserts an old order with a new `_loaded_at` and is picked up, whatever
    its `created_at` or `updated_at`. `incremental_lookback_minutes` (default
    0) widens the window for setups where extraction and dbt run on different
    clocks.

    `_build_key` records the settings an incremental table's rows depend on.
    When the stored key differs from this run's (shop time zone or churn
    window changed, or the previous build used an explicit as-of date), the
    incremental branch reprocesses every row, which with delete+insert gives
    the same table as a full rebuild.
#}

{#
    The materialization of the incremental intermediates. Spark tables in
    plain Parquet (no Delta or Iceberg) support neither delete+insert nor
    the post-hook's delete, so there the two models are rebuilt whole on
    every run: the same rows as an incremental run, at the cost of reading
    all orders.
#}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization', 'retention')()) }}
{%- endmacro %}

{% macro default__incremental_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{#
    The config of an incremental intermediate merged on `key` with
    delete+insert. `kept_keys`, when given, is a select of the keys the table
    may still hold; the post-hook deletes every stored key not in it (a
    customer whose only order was refunded has no new row to replace the old
    one). It is Jinja text rendered when the hook runs, so a `ref` in it names
    the real table (rendered at parse time, ref names a placeholder); the
    model must ref that table in its body too, which gives dbt the
    dependency. On Spark the materialization is `table`, where
    is_incremental() is false: the hook does nothing and the table is rebuilt
    whole. Use: `{{ config(**keyed_incremental('customer_id', kept_keys=...)) }}`.
#}
{% macro keyed_incremental(key, kept_keys=none) -%}
    {%- set settings = {
        'materialized': incremental_materialization(),
        'incremental_strategy': 'delete+insert',
        'unique_key': key,
        'on_schema_change': 'fail',
        'full_refresh': incremental_full_refresh(),
    } -%}
    {%- if kept_keys -%}
        {%- do settings.update({'post_hook':
            '{% if is_incremental() %}delete from {{ this }} where ' ~ key ~ ' in (select ' ~ key
            ~ ' from {{ this }} except ' ~ kept_keys ~ '){% endif %}'}) -%}
    {%- endif -%}
    {{ return(settings) }}
{%- endmacro %}

{% macro incremental_build_key() -%}
    cast('{{ var("shop_timezone") }}|churn={{ var("churn_after_days") }}|as_of={{ var("as_of_date") or "latest" }}' as {{ dbt.type_string() }})
{%- endmacro %}

{#
    An explicit as-of date rebuilds the table whole: rows dated after it
    would otherwise stay behind. The default (newest order) only moves forward.
#}
{% macro incremental_full_refresh() -%}
    {{ return(true if var('as_of_date') else none) }}
{%- endmacro %}

{# One-row select: rows loaded after `loaded_after` are (re)processed; the epoch when the table must be redone. #}
{% macro incremental_loaded_after(relation, build_key=none) -%}
    {%- set build_key = build_key if build_key is not none else incremental_build_key() -%}
    select
        case
            when min(_build_key) = {{ build_key }} and max(_build_key) = {{ build_key }}
                then max(_loaded_at) - interval '{{ var("incremental_lookback_minutes") }} minutes'
            else cast('1900-01-01' as timestamp)
        end as loaded_after
    from {{ relation }}
{%- endmacro %}

{#
    Staging tables (one per raw entity) are incremental too, so the dedupe
    window and the time-zone conversion run once per row version, not in
    every model and data test that reads staging. Extraction upserts raw on
    the entity key and never deletes, so the raw rows loaded since the
    newest `_loaded_at` in a staging table are exactly the new versions of
    the changed keys: reprocessing them with delete+insert on the key gives
    the rows a full rebuild gives. Their only setting is the shop time zone
    (the local dates), so that alone is their build key: a new zone
    reprocesses every row, the churn window and the as-of date do not.
#}
{% macro staging_build_key() -%}
    cast('tz={{ var("shop_timezone") }}' as {{ dbt.type_string() }})
{%- endmacro %}

{% macro staging_loaded_after(relation) -%}
    {{ incremental_loaded_after(relation, staging_build_key()) }}
{%- endmacro %}

{#
    Incremental strategy `replace_all`: the model's new rows replace every
    stored row, in one transaction. For models that are incremental only to
    read their own previous rows (`{{ this }}`) while computing the new ones
    (mart_audience_members keeps each member's entered_on): the new rows are
    computed into the temporary relation first, from the old table, then the
    old rows go. Unlike delete+insert on a key, rows that no longer qualify
    never linger, even when a re-run of the same night has fewer of them.
#}
{% macro get_incremental_replace_all_sql(arg_dict) -%}
    {%- set columns = arg_dict["dest_columns"] | map(attribute="quoted") | join(", ") -%}
    delete from {{ arg_dict["target_relation"] }};
    insert into {{ arg_dict["target_relation"] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict["temp_relation"] }}
{%- endmacro %}
