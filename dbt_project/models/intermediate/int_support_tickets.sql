-- Support tickets up to the as-of date with first-response and resolution
-- times in hours.
with tickets as (

    select * from {{ ref('stg_shop__support_tickets') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

)

select
    tickets.ticket_id,
    tickets.customer_id,
    tickets.order_id,
    tickets.channel,
    tickets.category,
    tickets.status,
    tickets.created_at,
    tickets.ticket_date,
    tickets.ticket_month,
    tickets.csat_score,
    tickets.reopened_count,
    tickets.reopened_count > 0 as was_reopened,
    {{ dbt.datediff('tickets.created_at', 'tickets.first_response_at', 'second') }} / cast(3600 as {{ type_double() }}) as first_response_hours,
    {{ dbt.datediff('tickets.created_at', 'tickets.resolved_at', 'second') }} / cast(3600 as {{ type_double() }}) as resolution_hours
from tickets
cross join as_of
where tickets.ticket_date <= as_of.as_of_date
