{#
    Reconciliation: the sum of `column_name` in the model (optionally filtered
    by `where_clause`) equals the sum of `compare_column` in `compare_model`
    (optionally filtered by `compare_where`), to within `tolerance`. Both
    empty sums count as 0. Guards against joins that double count.
#}
{% test sums_match(model, column_name, compare_model, compare_column, where_clause=none, compare_where=none, tolerance=0.005) %}

with model_total as (

    select coalesce(sum({{ column_name }}), 0) as total
    from {{ model }}
    {% if where_clause %} where {{ where_clause }} {% endif %}

),

compare_total as (

    select coalesce(sum({{ compare_column }}), 0) as total
    from {{ compare_model }}
    {% if compare_where %} where {{ compare_where }} {% endif %}

)

select
    model_total.total as model_total,
    compare_total.total as compare_total
from model_total
cross join compare_total
where abs(model_total.total - compare_total.total) > {{ tolerance }}

{% endtest %}
