{{ config(severity='warn') }}
-- The reason, when BG/NBD or Gamma-Gamma could not be fitted: predictions
-- are an extra, so this warns and never holds back the marts and the report.
-- An empty mart (no customer with a qualifying order) warns too.
with predictions as (

    select prediction_note from {{ ref('mart_customer_predictions') }}

)

select distinct prediction_note
from predictions
where prediction_note is not null
union all
select 'mart_customer_predictions has no rows: no customer has a qualifying order'
where not exists (select 1 from predictions)
