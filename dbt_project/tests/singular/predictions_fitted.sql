{{ config(severity='warn') }}
-- The reason, when BG/NBD or Gamma-Gamma could not be fitted: predictions
-- are an extra, so this warns and never holds back the marts and the report.
select distinct prediction_note
from {{ ref('mart_customer_predictions') }}
where prediction_note is not null
