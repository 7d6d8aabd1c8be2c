-- Two answers to "has this customer left?", side by side: the rule (no
-- qualifying order for churn_after_days, mart_customer_churn.is_churned) and
-- the BG/NBD model's churn-risk band (mart_customer_predictions.churn_risk).
-- They disagree where a customer's own buying rhythm differs from the rule's
-- single threshold: a customer who buys once a year is "churned" by a
-- 180-day rule while the model still expects them back, and a weekly buyer
-- silent for two months is "active" by the rule while the model has given
-- up on them. One row per (rule verdict, model band) with customers.
with customers as (

    select customer_id, is_churned from {{ ref('mart_customer_churn') }}

),

predictions as (

    select customer_id, churn_risk
    from {{ customer_predictions(
        {'customer_id': dbt.type_string(), 'churn_risk': dbt.type_string()}
    ) }}

),

classified as (

    select
        customers.is_churned,
        coalesce(predictions.churn_risk, 'unknown') as churn_risk
    from customers
    left join predictions on predictions.customer_id = customers.customer_id

),

counted as (

    select is_churned, churn_risk, count(*) as customers
    from classified
    group by is_churned, churn_risk

),

total as (

    select sum(customers) as all_customers from counted

)

select
    counted.is_churned,
    cast(counted.churn_risk as {{ dbt.type_string() }}) as churn_risk,
    cast(
        case
            when counted.churn_risk = 'unknown' then 'model_did_not_score'
            when counted.churn_risk = 'medium' then 'model_undecided'
            when counted.is_churned and counted.churn_risk = 'high' then 'both_churned'
            when not counted.is_churned and counted.churn_risk = 'low' then 'both_active'
            when counted.is_churned then 'rule_churned_model_active'
            else 'rule_active_model_churned'
        end as {{ dbt.type_string() }}
    ) as comparison,
    cast(counted.customers as bigint) as customers,
    cast({{ safe_ratio('counted.customers', 'total.all_customers') }} as {{ type_double() }}) as customer_share
from counted
cross join total
