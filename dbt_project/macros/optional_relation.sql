{#
  A relation that may not exist yet (a table written by a Python asset that
  runs after the first dbt build). Referencing it through source() keeps the
  lineage (Dagster orders the steps); when the table is missing, e.g. on a
  fresh warehouse or in a dbt-only build, an empty stand-in with the given
  columns is used, so the model still builds with nulls instead of failing.
#}
{% macro optional_relation(relation, columns) %}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) if execute else none -%}
    {%- if found is not none -%}
        {{ relation }}
    {%- else -%}
        (select
        {%- for name, type in columns.items() %}
            cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        where 1 = 0)
    {%- endif -%}
{% endmacro %}
