-- Support ticket KPIs per shop-local month and channel. Split from
-- mart_support_retention because ticket KPIs live at month x channel grain
-- while retention by support experience lives at customer-group grain.
-- Percentile times are rounded to 0.01 hour (36 seconds).
with tickets as (

    select * from {{ ref('int_support_tickets') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

customer_channels_in_month as (

    select
        ticket_month,
        customer_id,
        count(distinct channel) as channels_used
    from tickets
    where customer_id is not null
    group by ticket_month, customer_id

),

aggregated as (

    select
        tickets.ticket_month,
        tickets.channel,
        count(*) as tickets,
        count(distinct tickets.customer_id) as customers,
        count(distinct case when multi.channels_used >= 2 then tickets.customer_id end) as multichannel_customers,
        count(tickets.first_response_hours) as responded_tickets,
        {{ percentile_cont('tickets.first_response_hours', 0.5) }} as first_response_hours_p50,
        {{ percentile_cont('tickets.first_response_hours', 0.9) }} as first_response_hours_p90,
        count(tickets.resolution_hours) as resolved_tickets,
        {{ percentile_cont('tickets.resolution_hours', 0.5) }} as resolution_hours_p50,
        {{ percentile_cont('tickets.resolution_hours', 0.9) }} as resolution_hours_p90,
        sum(case when tickets.was_reopened then 1 else 0 end) as reopened_tickets,
        count(tickets.csat_score) as csat_responses,
        avg(cast(tickets.csat_score as {{ type_double() }})) as csat_average
    from tickets
    left join customer_channels_in_month as multi
        on tickets.ticket_month = multi.ticket_month
        and tickets.customer_id = multi.customer_id
    group by tickets.ticket_month, tickets.channel

)

select
    aggregated.ticket_month,
    aggregated.channel,
    {{ is_complete_month('aggregated.ticket_month', 'as_of.as_of_date') }} as is_complete_month,
    cast(tickets as bigint) as tickets,
    cast(customers as bigint) as customers,
    cast(multichannel_customers as bigint) as multichannel_customers,
    cast(responded_tickets as bigint) as responded_tickets,
    cast({{ round_decimals("first_response_hours_p50", 2) }} as {{ type_double() }}) as first_response_hours_p50,
    cast({{ round_decimals("first_response_hours_p90", 2) }} as {{ type_double() }}) as first_response_hours_p90,
    cast(resolved_tickets as bigint) as resolved_tickets,
    cast({{ round_decimals("resolution_hours_p50", 2) }} as {{ type_double() }}) as resolution_hours_p50,
    cast({{ round_decimals("resolution_hours_p90", 2) }} as {{ type_double() }}) as resolution_hours_p90,
    cast(reopened_tickets as bigint) as reopened_tickets,
    cast({{ safe_ratio('reopened_tickets', 'tickets') }} as {{ type_double() }}) as reopen_rate,
    cast(csat_responses as bigint) as csat_responses,
    cast(csat_average as {{ type_double() }}) as csat_average
from aggregated
cross join as_of
