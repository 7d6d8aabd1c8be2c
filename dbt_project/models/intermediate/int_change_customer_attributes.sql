-- One row per customer with a qualifying order: the attributes a change is
-- split by (cohort month, country, acquisition channel, loyalty tier, RFM
-- segment as of the as-of date). Null when the shop does not deliver one;
-- the change models turn that into the segment 'unknown'.
select
    summary.customer_id,
    summary.cohort_month,
    customers.country,
    customers.acquisition_channel,
    customers.loyalty_tier,
    segments.segment as rfm_segment
from {{ ref('int_customer_order_summary') }} as summary
left join {{ ref('int_customers') }} as customers
    on summary.customer_id = customers.customer_id
left join {{ ref('mart_customer_segments') }} as segments
    on summary.customer_id = segments.customer_id
