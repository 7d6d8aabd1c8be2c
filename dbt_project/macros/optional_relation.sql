{#
  A relation that may not exist yet (e.g. extraction's quarantine table on a
  hand-made warehouse): when it is missing, an empty stand-in with the given
  columns is used, so the model still builds with nulls instead of failing.
#}
{% macro optional_relation(relation, columns) %}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) if execute else none -%}
    {%- if found is not none -%}
        {{ relation }}
    {%- else -%}
        {{ empty_relation(columns) }}
    {%- endif -%}
{% endmacro %}

{# No rows, the given columns ({name: type}). #}
{% macro empty_relation(columns) -%}
    (select
    {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
    where 1 = 0)
{%- endmacro %}

{#
  The per-customer predictions (mart_customer_predictions, a dbt Python
  model). dbt-spark's session method runs no Python models, so on Spark the
  model is disabled (dbt_project.yml) and the marts that read it get no rows:
  their prediction columns are null there (docs/spark.md). The ref sits in
  the DuckDB branch only, so Spark's graph has no edge to the disabled model.
#}
{% macro customer_predictions(columns) -%}
    {{ return(adapter.dispatch('customer_predictions', 'retention')(columns)) }}
{%- endmacro %}

{% macro default__customer_predictions(columns) -%}
    {{ ref('mart_customer_predictions') }}
{%- endmacro %}

{% macro spark__customer_predictions(columns) -%}
    {{ empty_relation(columns) }}
{%- endmacro %}
