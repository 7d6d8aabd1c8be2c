-- One row per customer who opened at least one ticket up to the as-of date:
-- ticket count, channels used, and the worst experience they had (slowest
-- resolution, lowest CSAT), since one bad experience is what drives churn.
with tickets as (

    select * from {{ ref('int_support_tickets') }}
    where customer_id is not null

),

per_customer as (

    select
        customer_id,
        count(*) as tickets,
        count(distinct channel) as channels_used,
        max(resolution_hours) as slowest_resolution_hours,
        count(*) - count(resolution_hours) as unresolved_tickets,
        min(csat_score) as lowest_csat_score
    from tickets
    group by customer_id

)

select
    customer_id,
    tickets,
    channels_used,
    slowest_resolution_hours,
    lowest_csat_score,
    case
        when unresolved_tickets > 0 then 'unresolved'
        when slowest_resolution_hours < 4 then 'under_4h'
        when slowest_resolution_hours < 24 then '4h_to_24h'
        when slowest_resolution_hours < 72 then '1d_to_3d'
        else 'over_3d'
    end as resolution_time_bucket,
    case
        when lowest_csat_score is null then 'no_score'
        when lowest_csat_score <= 2 then 'low_1_2'
        when lowest_csat_score = 3 then 'neutral_3'
        else 'high_4_5'
    end as csat_band
from per_customer
