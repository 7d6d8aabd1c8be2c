{#
    On Spark, the `raw` schema the sources read is a database of tables over
    the Parquet files extraction exported, one folder per entity under
    RETENTION_SPARK_RAW_PARQUET (<folder>/<entity>/*.parquet). Run at the
    start of every dbt command (on-run-start), so each command sees the
    latest export; tables over files copy nothing, and dropping one leaves
    its files alone. Without the variable (a cluster whose `raw` database is
    loaded some other way) and on every other engine this does nothing.
#}
{% macro register_raw_parquet() -%}
    {{ return(adapter.dispatch('register_raw_parquet', 'retention')()) }}
{%- endmacro %}

{% macro default__register_raw_parquet() -%}
{%- endmacro %}

{% macro spark__register_raw_parquet() -%}
    {%- set folder = env_var('RETENTION_SPARK_RAW_PARQUET', '') -%}
    {%- if folder and execute -%}
        {%- set schema = 'raw' -%}
        {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- set entities = [] -%}
        {%- for source in graph.sources.values() if source.source_name == 'shop' -%}
            {%- do entities.append(source.name) -%}
        {%- endfor -%}
        {%- for entity in entities + ['quarantine'] -%}
            {%- do run_query('drop table if exists ' ~ schema ~ '.' ~ entity) -%}
            {%- do run_query(
                'create table ' ~ schema ~ '.' ~ entity ~ " using parquet location '"
                ~ folder.rstrip('/') ~ '/' ~ entity ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#
    The predictions fitted between the two Spark builds of a pipeline run
    (assets/dbt/engines/spark.py), as the table marts.mart_customer_predictions over the
    fit's Parquet folder, RETENTION_SPARK_PREDICTIONS_PARQUET: where a DuckDB
    build has the Python model's table, so a lakehouse reader finds the
    predictions beside the other marts. Only the second build sets the
    variable; without it nothing is registered and the marts that read the
    predictions get none (customer_predictions, macros/optional_relation.sql).
#}
{% macro fitted_predictions_relation() -%}
    {{ return(api.Relation.create(schema='marts', identifier='mart_customer_predictions')) }}
{%- endmacro %}

{% macro register_fitted_predictions() -%}
    {{ return(adapter.dispatch('register_fitted_predictions', 'retention')()) }}
{%- endmacro %}

{% macro default__register_fitted_predictions() -%}
{%- endmacro %}

{% macro spark__register_fitted_predictions() -%}
    {%- if execute -%}
        {%- set folder = env_var('RETENTION_SPARK_PREDICTIONS_PARQUET', '') -%}
        {%- if folder -%}
            {%- set relation = fitted_predictions_relation() -%}
            {%- do run_query('create database if not exists ' ~ relation.schema) -%}
            {#- A table over files: dropping it leaves the fit's files alone. -#}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query('create table ' ~ relation ~ " using parquet location '" ~ folder.rstrip('/') ~ "'") -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
