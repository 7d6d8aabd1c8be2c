{#
    Convert a naive UTC timestamp (how `raw` stores every timestamp) into a
    naive timestamp in the shop's local time. `timezone` defaults to the
    `shop_timezone` var; models pass it explicitly so unit tests can override
    the var. UTC needs no conversion on any adapter.
#}
{% macro to_shop_timezone(column, timezone=none) -%}
    {%- set tz = timezone if timezone is not none else var('shop_timezone', 'UTC') -%}
    {%- if tz | upper in ('UTC', 'ETC/UTC', 'Z') -%}
        {{ column }}
    {%- else -%}
        {{ return(adapter.dispatch('to_shop_timezone', 'retention')(column, tz)) }}
    {%- endif -%}
{%- endmacro %}

{# DuckDB (ICU, built in): read the naive value as UTC, render it in the shop zone. #}
{% macro duckdb__to_shop_timezone(column, tz) -%}
    timezone('{{ tz }}', timezone('UTC', {{ column }}))
{%- endmacro %}

{% macro postgres__to_shop_timezone(column, tz) -%}
    (({{ column }} at time zone 'UTC') at time zone '{{ tz }}')
{%- endmacro %}

{% macro snowflake__to_shop_timezone(column, tz) -%}
    convert_timezone('UTC', '{{ tz }}', {{ column }})
{%- endmacro %}

{# Spark reads the naive value as UTC (the `spark` target pins the session zone to UTC). #}
{% macro spark__to_shop_timezone(column, tz) -%}
    from_utc_timestamp({{ column }}, '{{ tz }}')
{%- endmacro %}

{# Databricks style; Trino and Athena also accept it through their Hive functions. #}
{% macro default__to_shop_timezone(column, tz) -%}
    from_utc_timestamp({{ column }}, '{{ tz }}')
{%- endmacro %}
