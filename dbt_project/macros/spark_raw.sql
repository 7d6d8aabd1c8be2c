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
