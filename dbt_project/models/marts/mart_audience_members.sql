-- One row per customer and audience they are in on the as-of date: why
-- (reason), a score to rank by, the customer's predictions and order dates,
-- and `entered_on`, the first as-of date of the run of builds the customer
-- has stayed in the audience since. The rules are macros/audiences.sql.
--
-- entered_on needs the previous build: this model is incremental and reads
-- its own rows before replacing all of them (strategy replace_all,
-- macros/incremental.sql). A pair that was in the previous build keeps its
-- entered_on; a new pair enters on the as-of date; pairs that left are gone.
-- A re-run for the same as-of date keeps both entered_on and is_new, so it
-- writes the same rows. A full refresh starts every pair on the as-of date.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_all',
    on_schema_change='fail',
) }}

with today as (

    select *
    from ({{ audience_members_sql(
        "(select as_of_date as cutoff_date from " ~ ref('int_as_of_date') ~ ")",
        "(select as_of_date as cutoff_date, customer_id, p_alive, predicted_clv_12m, churn_risk, "
        ~ "expected_next_order_date, typical_days_between_orders, cadence_method from "
        ~ ref('mart_customer_predictions') ~ ")"
    ) }}) as m

),

previous as (

    {% if is_incremental() %}
    select customer_id, audience, entered_on, is_new, as_of_date from {{ this }}
    {% else %}
    {{ empty_relation({'customer_id': dbt.type_string(), 'audience': dbt.type_string(), 'entered_on': 'date',
                       'is_new': dbt.type_boolean(), 'as_of_date': 'date'}) }}
    {% endif %}

)

select
    cast(today.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(today.audience as {{ dbt.type_string() }}) as audience,
    case
        when previous.as_of_date <= today.cutoff_date and previous.entered_on <= today.cutoff_date
            then previous.entered_on
        else today.cutoff_date
    end as entered_on,
    -- new since the previous build (a re-run of the same date keeps the first run's answer)
    case
        when previous.as_of_date is null or previous.as_of_date > today.cutoff_date then true
        when previous.as_of_date = today.cutoff_date then previous.is_new
        else false
    end as is_new,
    cast(today.reason as {{ dbt.type_string() }}) as reason,
    today.score,
    today.predicted_clv_12m,
    today.p_alive,
    today.expected_next_order_date,
    today.last_order_date,
    -- the source contract carries no marketing consent yet: null means unknown, never "no"
    cast(null as {{ dbt.type_boolean() }}) as accepts_marketing,
    today.cutoff_date as as_of_date
from today
left join previous
    on previous.customer_id = today.customer_id and previous.audience = today.audience
