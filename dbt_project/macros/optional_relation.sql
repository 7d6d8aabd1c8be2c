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
  model). dbt-spark's session method runs no Python models: on Spark the
  model is disabled (_marts__predictions.yml) and the pipeline fits the
  predictions between two dbt builds (assets/dbt/engines/spark.py), registering the fit
  as marts.mart_customer_predictions for the second build
  (register_fitted_predictions, macros/spark_tables.sql). A Spark build
  without a fit (by hand, RETENTION_SPARK_PREDICTIONS_PARQUET unset) reads
  no rows: the prediction columns are null. The variable is read only when
  executing, so it is no part of dbt's parse. The ref sits in the DuckDB
  branch only, so Spark's graph has no edge to the disabled model.
#}
{% macro customer_predictions(columns) -%}
    {{ return(adapter.dispatch('customer_predictions', 'retention')(columns)) }}
{%- endmacro %}

{% macro default__customer_predictions(columns) -%}
    {{ ref('mart_customer_predictions') }}
{%- endmacro %}

{% macro spark__customer_predictions(columns) -%}
    {%- if execute and env_var('RETENTION_SPARK_PREDICTIONS_PARQUET', '') -%}
        {{ fitted_predictions_relation() }}
    {%- else -%}
        {{ empty_relation(columns) }}
    {%- endif -%}
{%- endmacro %}
