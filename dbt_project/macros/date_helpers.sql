{# Shop-local calendar date of a naive UTC timestamp. #}
{% macro shop_date(column, timezone=none) -%}
    cast({{ to_shop_timezone(column, timezone) }} as date)
{%- endmacro %}

{# `date_expression` plus `days` days, as a date (dbt.dateadd returns a timestamp on some adapters). #}
{% macro add_days(days, date_expression) -%}
    {{ return(adapter.dispatch('add_days', 'retention')(days, date_expression)) }}
{%- endmacro %}

{% macro default__add_days(days, date_expression) -%}
    cast({{ dbt.dateadd('day', days, date_expression) }} as date)
{%- endmacro %}

{#
    dbt-spark's dateadd goes through epoch seconds and `to_timestamp`, which
    yields null when the session's timestamp type is TIMESTAMP_NTZ (as the
    `spark` target sets it). Date arithmetic needs neither.
#}
{% macro spark__add_days(days, date_expression) -%}
    date_add(cast({{ date_expression }} as date), cast({{ days }} as int))
{%- endmacro %}

{# `date_expression` plus `months` months, as a date. #}
{% macro add_months(months, date_expression) -%}
    {{ return(adapter.dispatch('add_months', 'retention')(months, date_expression)) }}
{%- endmacro %}

{% macro default__add_months(months, date_expression) -%}
    cast({{ dbt.dateadd('month', months, date_expression) }} as date)
{%- endmacro %}

{% macro spark__add_months(months, date_expression) -%}
    add_months(cast({{ date_expression }} as date), cast({{ months }} as int))
{%- endmacro %}

{#
    Whether the month starting on `month_expression` has ended by `as_of_expression`:
    false for the as-of month unless the as-of date is its last day. Monthly marts
    carry it so a partial last month is never read as a drop.
#}
{% macro is_complete_month(month_expression, as_of_expression) -%}
    {{ add_days(-1, add_months(1, month_expression)) }} <= {{ as_of_expression }}
{%- endmacro %}

{# First day of the month of a date, as a date. #}
{% macro month_start(date_expression) -%}
    cast({{ dbt.date_trunc('month', date_expression) }} as date)
{%- endmacro %}

{# Division that yields null instead of an error when the denominator is 0 or null. #}
{% macro safe_ratio(numerator, denominator) -%}
    cast({{ numerator }} as {{ type_double() }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#
    Rows 0 .. 9999 as `n`: a portable integer series (no generate_series),
    used to build calendars. 10,000 months or days is plenty here.
#}
{% macro integer_series() -%}
    select d1.n + 10 * d2.n + 100 * d3.n + 1000 * d4.n as n
    from {{ digits() }} as d1
    cross join {{ digits() }} as d2
    cross join {{ digits() }} as d3
    cross join {{ digits() }} as d4
{%- endmacro %}

{% macro digits() -%}
    (select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
     union all select 5 union all select 6 union all select 7 union all select 8 union all select 9)
{%- endmacro %}

{#
    A double rounded to `digits` decimals, half away from zero, the same on
    every engine: `round(x, 2)` rounds the binary value on DuckDB but the
    shortest decimal text of it on Spark (5.545 is 5.54 on one, 5.55 on the
    other). Scaling first rounds the same double everywhere.
#}
{% macro round_decimals(expression, digits) -%}
    round(({{ expression }}) * {{ 10 ** digits }}) / {{ 10 ** digits }}
{%- endmacro %}
