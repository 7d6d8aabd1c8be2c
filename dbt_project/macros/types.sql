{# Column types used by the mart contracts, in one place. #}

{# Money: fixed point, as in `raw` (sums stay exact to the cent). #}
{% macro type_money() -%}
    {{ return(adapter.dispatch('type_money', 'retention')()) }}
{%- endmacro %}

{% macro default__type_money() -%}
    decimal(18,2)
{%- endmacro %}

{# Rates, averages and other ratios: 8-byte floating point. #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'retention')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#
  A sum of doubles that gives the same last bits on every build. DuckDB and
  Spark sum in parallel, so the row order (and the rounding) varies between
  runs unless the aggregate is ordered; engines without ordered aggregates
  get a plain sum. Summing in `order_by` order on every engine also gives the
  same bits on DuckDB and Spark.
#}
{% macro deterministic_sum(expression, order_by) -%}
    {{ return(adapter.dispatch('deterministic_sum')(expression, order_by)) }}
{%- endmacro %}

{% macro default__deterministic_sum(expression, order_by) -%}
    sum({{ expression }})
{%- endmacro %}

{% macro duckdb__deterministic_sum(expression, order_by) -%}
    sum({{ expression }} order by {{ order_by }})
{%- endmacro %}

{# Spark has no ordered aggregate: collect the (key, value) pairs, sort them, fold left. #}
{% macro spark__deterministic_sum(expression, order_by) -%}
    case when count({{ expression }}) > 0 then aggregate(
        array_sort(collect_list(case when {{ expression }} is not null then struct({{ order_by }} as k, cast({{ expression }} as double) as v) end)),
        cast(0 as double),
        (total, pair) -> total + pair.v
    ) end
{%- endmacro %}
