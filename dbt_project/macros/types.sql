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
