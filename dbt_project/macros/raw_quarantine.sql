{#
  Extraction's quarantine table (`raw.quarantine`), or an empty stand-in when
  a dbt-only build on a hand-made warehouse lacks it. It is bookkeeping, not a
  source entity, so it is not a dbt source (that would add an asset with no
  producer to the Dagster graph). A macro, so that unit tests can replace it
  with fixed rows (`overrides: macros: raw_quarantine`) instead of reading
  whatever the warehouse holds.
#}
{% macro raw_quarantine() %}
    {#- Spark targets have no database level: the relation is schema.table there. -#}
    {%- set relation = api.Relation.create(
        database=(target.database if target.database is defined else none),
        schema='raw', identifier='quarantine') -%}
    {{ optional_relation(relation, {'entity': dbt.type_string()}) }}
{%- endmacro %}
