{#- The one definition of when a customer is active, shared by
    int_monthly_customer_activity and int_change_segment_activity: a
    qualifying order keeps its customer active from its date for
    `active_window_days` days. -#}

{#- Each order's interval of active days [opens_on, closes_on), cut short at
    the customer's next order so a customer's intervals never overlap: the
    number of active customers on a day is the running sum of +1 (opens) and
    -1 (closes) events up to that day. -#}
{% macro active_intervals() -%}
    select
        customer_id,
        order_date as opens_on,
        case
            when next_order_date is not null
                and next_order_date < {{ add_days(var('active_window_days'), 'order_date') }}
                then next_order_date
            else {{ add_days(var('active_window_days'), 'order_date') }}
        end as closes_on
    from {{ ref('int_customer_orders') }}
{%- endmacro %}

{#- The days a customer's status changes: +1 on an order placed when no
    earlier order is within the window (their first order, or a return after a
    lapse), -1 on the day the window of an order with no next order inside it
    runs out. One customer's changes alternate and fall on distinct days, so
    their sum over a month is (active at its end) - (active at its start). -#}
{% macro activity_status_changes() -%}
    select customer_id, cohort_month, order_date as change_date, 1 as change
    from {{ ref('int_customer_orders') }}
    where previous_order_date is null
        or order_date > {{ add_days(var('active_window_days'), 'previous_order_date') }}
    union all
    select customer_id, cohort_month, {{ add_days(var('active_window_days'), 'order_date') }} as change_date, -1 as change
    from {{ ref('int_customer_orders') }}
    where next_order_date is null
        or next_order_date > {{ add_days(var('active_window_days'), 'order_date') }}
{%- endmacro %}
