-- The monthly totals of mart_metric_changes are the owners' figures: the
-- retention and churn rates of mart_retention_rate and mart_churn_monthly,
-- and net revenue and orders of mart_aov_by_device (guests included).
-- Rows returned are the months whose figures differ.
with totals as (

    select period_start as month, metric, value
    from {{ ref('mart_metric_changes') }}
    where period = 'month_vs_previous_month' and effect_type = 'total'

),

owners as (

    select month, 'retention_rate' as metric, retention_rate as value from {{ ref('mart_retention_rate') }}
    union all
    select month, 'churn_rate', churn_rate from {{ ref('mart_churn_monthly') }}
    union all
    select order_month, 'net_revenue', cast(sum(net_revenue) as {{ type_double() }})
    from {{ ref('mart_aov_by_device') }}
    group by order_month
    union all
    select order_month, 'orders', cast(sum(orders) as {{ type_double() }})
    from {{ ref('mart_aov_by_device') }}
    group by order_month

)

select totals.month, totals.metric, totals.value, owners.value as owner_value
from totals
inner join owners
    on totals.month = owners.month and totals.metric = owners.metric
where not coalesce(abs(totals.value - owners.value) <= 1e-9 * (case when abs(owners.value) > 1 then abs(owners.value) else 1 end),
    totals.value is null and owners.value is null)
