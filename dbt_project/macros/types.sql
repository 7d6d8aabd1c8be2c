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

{#
  A sum of doubles that gives the same last bits on every build. DuckDB sums
  in parallel, so the row order (and the rounding) varies between runs
  unless the aggregate is ordered; engines without ordered aggregates get a
  plain sum.
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
