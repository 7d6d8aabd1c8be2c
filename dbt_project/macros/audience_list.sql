{#
    The audiences, one row each: name and the source entity it needs beyond
    orders (null: orders only). Their rules are macros/audiences.sql.
#}
{% macro audience_list() -%}
    {%- set audiences = [
        ('second_order_nudge', none), ('due_for_next_order', none), ('win_back', none),
        ('vip_at_risk', none), ('cart_recovery', 'carts'), ('after_bad_support', 'support_tickets'),
    ] -%}
    (
    {%- for name, entity in audiences %}
        select
            cast('{{ name }}' as {{ dbt.type_string() }}) as audience,
            cast({{ "'" ~ entity ~ "'" if entity else 'null' }} as {{ dbt.type_string() }}) as needs_entity
        {{ "union all" if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}
