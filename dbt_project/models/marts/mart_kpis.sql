{#- Month-1 retention is averaged over this many of the latest cohorts whose month 1 is over. -#}
{%- set month1_cohorts = 6 -%}
-- The headline KPIs of the build, one row (the as-of date). Each figure is
-- read from the mart that owns its definition, so a tile and the chart it
-- summarises cannot disagree; the report only formats this row.
with as_of as (

    select as_of_date, as_of_month from {{ ref('int_as_of_date') }}

),

customers as (

    select
        count(*) as customers,
        -- active = a qualifying order in the trailing window ending on the as-of date (included)
        sum(case when days_since_last_order < {{ var('active_window_days') }} then 1 else 0 end) as active_customers,
        sum(case when is_churned then 1 else 0 end) as churned_customers
    from {{ ref('mart_customer_churn') }}

),

retention_month as (

    select max(month) as month
    from {{ ref('mart_retention_rate') }}
    where is_complete_month and retention_rate is not null

),

retention as (

    select rates.month, rates.retention_rate, rates.is_window_warming_up
    from {{ ref('mart_retention_rate') }} as rates
    inner join retention_month on rates.month = retention_month.month

),

churn_month as (

    select max(month) as month
    from {{ ref('mart_churn_monthly') }}
    where is_complete_month and churn_rate is not null

),

churn as (

    select rates.month, rates.churn_rate, rates.is_window_warming_up
    from {{ ref('mart_churn_monthly') }} as rates
    inner join churn_month on rates.month = churn_month.month

),

-- Month 1 of a cohort is complete once the calendar month after its first
-- order has ended: only those cohorts can say whether customers came back.
month_one as (

    select cohorts.cohort_month, cohorts.cohort_size, cohorts.active_customers
    from {{ ref('mart_cohort_retention') }} as cohorts
    inner join {{ ref('int_months') }} as months
        on cohorts.activity_month = months.month
    where cohorts.months_since_first_order = 1
        and months.is_complete_month

),

recent_month_one as (

    select month_one.*
    from month_one
    cross join (select max(cohort_month) as last_cohort from month_one) as latest
    where month_one.cohort_month > {{ add_months(-month1_cohorts, 'latest.last_cohort') }}

),

month_one_rate as (

    select
        min(cohort_month) as first_cohort,
        max(cohort_month) as last_cohort,
        {{ safe_ratio('sum(active_customers)', 'sum(cohort_size)') }} as month1_retention_rate
    from recent_month_one

),

aov as (

    select
        sum(aov.orders) as orders,
        {{ safe_ratio('sum(aov.net_revenue)', 'sum(aov.orders)') }} as aov_12m
    from {{ ref('mart_aov_by_device') }} as aov
    cross join as_of
    where aov.order_month > {{ add_months(-12, 'as_of.as_of_month') }}

),

carts_tracked as (

    select max(case when is_tracked then 1 else 0 end) = 1 as is_tracked
    from {{ ref('mart_data_coverage') }}
    where entity = 'carts'

),

recovered as (

    select coalesce(sum(carts.recovered_revenue), 0) as recovered_revenue
    from {{ ref('mart_cart_abandonment') }} as carts
    cross join as_of
    where carts.cart_month > {{ add_months(-12, 'as_of.as_of_month') }}

),

predictions as (

    select
        count(*) as predicted_customers,
        sum(case when churn_risk is not null and churn_risk <> 'unknown' then 1 else 0 end) as scored_customers,
        sum(case when churn_risk = 'low' then 1 else 0 end) as low_churn_risk_customers,
        sum(case when churn_risk = 'medium' then 1 else 0 end) as medium_churn_risk_customers,
        sum(case when churn_risk = 'high' then 1 else 0 end) as high_churn_risk_customers,
        -- Doubles summed in parallel: in customer order, for the same bits on every build and engine.
        {{ deterministic_sum('predicted_clv_12m', 'customer_id') }} as predicted_clv_12m,
        max(prediction_note) as prediction_note
    from {{ customer_predictions(
        {
            'customer_id': dbt.type_string(),
            'churn_risk': dbt.type_string(),
            'predicted_clv_12m': type_double(),
            'prediction_note': dbt.type_string(),
        }
    ) }} as scored

)

select
    as_of.as_of_date,
    cast({{ var('active_window_days') }} as integer) as active_window_days,
    cast({{ var('churn_after_days') }} as integer) as churn_after_days,
    cast(coalesce(customers.customers, 0) as bigint) as customers,
    cast(coalesce(customers.active_customers, 0) as bigint) as active_customers,
    cast(coalesce(customers.churned_customers, 0) as bigint) as churned_customers,
    cast({{ safe_ratio('customers.churned_customers', 'customers.customers') }} as {{ type_double() }}) as churned_share,
    retention.month as retention_month,
    cast(retention.retention_rate as {{ type_double() }}) as retention_rate,
    retention.is_window_warming_up as is_retention_window_warming_up,
    churn.month as churn_month,
    cast(churn.churn_rate as {{ type_double() }}) as churn_rate,
    churn.is_window_warming_up as is_churn_window_warming_up,
    month_one_rate.first_cohort as month1_first_cohort,
    month_one_rate.last_cohort as month1_last_cohort,
    cast(month_one_rate.month1_retention_rate as {{ type_double() }}) as month1_retention_rate,
    cast(coalesce(aov.orders, 0) as bigint) as orders_12m,
    cast(aov.aov_12m as {{ type_double() }}) as aov_12m,
    coalesce(carts_tracked.is_tracked, false) as is_carts_tracked,
    cast(case when carts_tracked.is_tracked then recovered.recovered_revenue end as {{ type_money() }}) as recovered_revenue_12m,
    cast(predictions.predicted_customers as bigint) as predicted_customers,
    cast(coalesce(predictions.scored_customers, 0) as bigint) as scored_customers,
    cast(coalesce(predictions.low_churn_risk_customers, 0) as bigint) as low_churn_risk_customers,
    cast(coalesce(predictions.medium_churn_risk_customers, 0) as bigint) as medium_churn_risk_customers,
    cast(coalesce(predictions.high_churn_risk_customers, 0) as bigint) as high_churn_risk_customers,
    cast({{ safe_ratio('predictions.high_churn_risk_customers', 'predictions.scored_customers') }} as {{ type_double() }}) as high_churn_risk_share,
    cast(predictions.predicted_clv_12m as {{ type_double() }}) as predicted_clv_12m,
    cast(predictions.prediction_note as {{ dbt.type_string() }}) as prediction_note
from as_of
cross join customers
cross join month_one_rate
cross join aov
cross join recovered
cross join predictions
left join retention on 1 = 1
left join churn on 1 = 1
left join carts_tracked on 1 = 1
