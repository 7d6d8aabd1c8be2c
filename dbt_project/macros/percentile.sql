{#
    Continuous percentile (linear interpolation) of `expression` as an
    aggregate: `percentile_cont(expr, 0.5)` is the median. DuckDB has
    `quantile_cont`, Spark the exact `percentile` (not `percentile_approx`,
    which would drift from DuckDB); the default is the SQL-standard
    ordered-set aggregate.
#}
{% macro percentile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'retention')(expression, fraction)) }}
{%- endmacro %}

{% macro duckdb__percentile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__percentile_cont(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro default__percentile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro median(expression) -%}
    {{ percentile_cont(expression, 0.5) }}
{%- endmacro %}
