"""Daily volume: judge the days a run brought, describe the history it loaded.

Two DuckDB aggregates over one table's records per day (a few hundred rows a
year, whatever the table size):

- `daily_sql` - one row per day. Only the *new* days are judged: those after
  the newest day a successful validation of the suite already covered
  (`$validated_through`, from `audit.suite_runs.days_through`), up to the
  newest day loaded (capped at the as-of date). A new day is compared with
  the median of the same weekday over the last `daily_window_weeks` weeks of
  validated history. A first run has no new day: everything it loads is
  history.
- `history_sql` - one row describing the history this run loaded and no
  earlier run described: every day on a first run, the days before the
  oldest day already validated (`$validated_from`) on a backfill. It counts
  the gaps (empty days whose weekday is normally busy) and the spikes, names
  them (dates, sizes), and writes the `retention.yml` lines that would
  describe closures recurring on the same calendar days every year or on the
  same weekdays.

Both read `$as_of` (DATE), `$validated_from` and `$validated_through` (DATE,
NULL before the first successful validation).

Days are the shop's calendar days (`timezone`; `shop_time`), so an evening
order of a shop west of UTC counts on its own day, a closure is the days the
shop was closed, and a lost day is the day the shop lost (the marts count
days the same way). Records are counted per UTC quarter-hour first and the
quarter-hours converted (every zone's offset is a multiple of 15 minutes):
the same days as converting each record, ~8x faster over 10M orders.
"""

from __future__ import annotations

from .config import WEEKDAYS, QualityConfig

# Gaps and spikes named in the history's description (the counts cover all).
MAX_STRETCHES = 10
MAX_SPIKES = 5
# A weekday empty on at least this share of its dates (and seen at least
# MIN_WEEKDAY_DATES times) is described as a closed weekday.
CLOSED_WEEKDAY_SHARE = 0.9
MIN_WEEKDAY_DATES = 4


def shop_time(column: str, timezone: str) -> str:
    """SQL for `column` (a naive UTC timestamp, as `raw` keeps them) as the shop's naive local time.

    The same conversion as the dbt macro `to_shop_timezone` (DuckDB's built-in ICU).
    """
    if timezone.upper() in ("UTC", "ETC/UTC", "Z"):
        return column
    quoted = timezone.replace("'", "''")
    return f"timezone('{quoted}', timezone('UTC', {column}))"


def local_quarter_hours_sql(table: str, time_column: str, timezone: str, where: str = "") -> str:
    """Rows per UTC quarter-hour of `time_column`, each quarter-hour as the shop's local time (`local`, `n`).

    Every zone's offset is a multiple of 15 minutes, so a quarter-hour falls on one local day: its local
    time gives each of its rows' day, and only the quarter-hours are converted, not tens of millions of
    rows. A row without a time counts in a quarter-hour of NULL.
    """
    return (f"select {shop_time('slot', timezone)} as local, n from (select time_bucket(interval 15 minute, "
            f"{time_column}) as slot, count(*) as n from {table}{where} group by 1) slots")


def _date_list(days) -> str:
    return ", ".join(f"DATE '{d.isoformat()}'" for d in days)


def _days_cte(table: str, time_column: str, config: QualityConfig, timezone: str) -> str:
    """The CTEs every day-level query shares, ending with `judged` (one row per day)."""
    w, m = config.daily_window_weeks, config.daily_min_typical_records
    closed = " or ".join(
        ([f"isodow(days.day) in ({', '.join(map(str, config.closed_isodows))})"] if config.closed_isodows else [])
        + ([f"days.day in ({_date_list(config.closed_days)})"] if config.closed_days else [])
    ) or "false"
    return f"""
per_day as (
    select local::date as day, sum(n)::bigint as records
    from ({local_quarter_hours_sql(table, time_column, timezone, f" where {time_column} is not null")}) slots
    group by 1
),
bounds as (
    select min(day) as first_day, least(max(day), coalesce($as_of::date, max(day))) as last_day from per_day
),
days as (
    select unnest(generate_series(first_day, last_day, interval 1 day))::date as day
    from bounds where first_day <= last_day
),
filled as (
    select days.day, isodow(days.day) as weekday, coalesce(per_day.records, 0)::bigint as records,
           {closed} as closed,
           coalesce(days.day > $validated_through::date, false) as is_new
    from days left join per_day on days.day = per_day.day
),
-- history days: the same weekday +-{w} weeks around, itself, closed and new days left out
peers as (
    select *,
        median(case when not closed and not is_new then records end) over (
            partition by weekday order by day
            rows between {w} preceding and {w} following exclude current row) as history_median,
        median(case when not closed and not is_new then records end) over (
            partition by weekday order by day rows between {w} preceding and 1 preceding) as before_median
    from filled
),
-- new days: the same weekday over the last {w} weeks of validated history
recent as (
    select weekday, median(records) as recent_median from filled
    where not closed and not is_new and day > $validated_through::date - {7 * w}
    group by weekday
),
-- calendar days empty every year the history saw them after busy weeks: the shop's usual closures
-- (busy *before* the day, so the empty days of a launch are no evidence)
usual as (
    select strftime(day, '%m-%d') as month_day
    from peers where not is_new and not closed and coalesce(before_median, 0) >= {m}
    group by 1 having bool_and(records = 0)
),
judged as (
    select p.day, p.weekday, p.records, p.closed, p.is_new,
           case when p.is_new then r.recent_median else p.history_median end as weekday_median,
           u.month_day is not null as usual_closure,
           not p.closed and coalesce(case when p.is_new then r.recent_median else p.history_median end, 0) >= {m}
               and not (p.is_new and u.month_day is not null) as is_judged
    from peers p
    left join recent r on p.weekday = r.weekday
    left join usual u on strftime(p.day, '%m-%d') = u.month_day
)"""


def daily_sql(table: str, time_column: str, config: QualityConfig, timezone: str = "UTC") -> str:
    """One row per day: records, its weekday median, and - on new days only - the verdicts' columns.

    A new day is judged when its weekday's recent median reaches
    `daily_min_typical_records`, it is not a configured closed day, and it is
    not a usual closure (its calendar day was empty every year the history
    saw it after weeks in which the same weekday was busy: a launch's empty
    days are no evidence). Empty judged new days are numbered into runs
    over the judged new days only, so a closed weekend inside an outage
    neither breaks nor extends it.
    """
    return f"""
with {_days_cte(table, time_column, config, timezone)},
runs as (
    select *,
        row_number() over (order by day)
          - row_number() over (partition by records = 0 order by day) as run_group
    from judged where is_new and is_judged
),
run_lengths as (
    select day, count(*) over (partition by run_group, records = 0) as run_days from runs
)
select
    j.day,
    j.records,
    j.weekday_median,
    j.is_new,
    case when j.is_new and j.is_judged then j.records end as records_on_busy_days,
    case when j.is_new and j.is_judged and j.records = 0 then r.run_days end as empty_run_days,
    case when j.is_new and j.is_judged then j.records / j.weekday_median end as ratio_to_weekday_median
from judged j left join run_lengths r on j.day = r.day
order by j.day
"""


def history_sql(table: str, time_column: str, config: QualityConfig, timezone: str = "UTC") -> str:
    """One row describing the history this run loaded: gaps, spikes, and the closures they suggest.

    `history_gap_days` / `history_spike_days` count the empty busy days and
    the days above `daily_spike_factor` x their weekday median; the texts
    name them (stretches of consecutive days, the first spikes with their
    sizes). `suggested_config` holds `retention.yml` lines (`quality:`
    keys, one per line): `closed_days` for gaps on calendar days empty in
    two or more years of the history (each year's dates and the next one),
    `closed_weekdays` for weekdays empty on nearly all their dates.
    """
    f = config.daily_spike_factor
    names = "[" + ", ".join(f"'{d}'" for d in WEEKDAYS) + "]"
    return f"""
with {_days_cte(table, time_column, config, timezone)},
history as (
    select * from judged
    where not is_new and ($validated_from::date is null or day < $validated_from::date)
),
-- a stretch: consecutive judged days, so a closed Sunday inside a closure does not split it
busy as (select day, records, row_number() over (order by day) as nth from history where is_judged),
gaps as (select day, nth from busy where records = 0),
stretches as (
    select min(day) as first_day, max(day) as last_day, count(*) as n
    from (select day, nth - row_number() over (order by day) as grp from gaps) group by grp
),
spikes as (select day, records, weekday_median from history where is_judged and records > {f} * weekday_median),
recurring as (
    select strftime(day, '%m-%d') as month_day from history where is_judged
    group by 1 having count(distinct year(day)) >= 2 and bool_and(records = 0)
),
closed_dates as (
    select day from gaps where strftime(day, '%m-%d') in (select month_day from recurring)
    union
    -- the next time each recurring closure comes round, after the newest day
    select min(d) from (
        select try_cast(y || '-' || month_day as date) as d, month_day
        from recurring, (select unnest(range(year(max(day)), year(max(day)) + 2)) as y from history)
    ) where d > (select max(day) from history) group by month_day
),
weekdays as (
    select weekday, count(*) as n, count(*) filter (where records = 0) as empty
    from history where not closed group by weekday
),
closed_weekdays as (
    select weekday from weekdays
    where n >= {MIN_WEEKDAY_DATES} and empty >= {CLOSED_WEEKDAY_SHARE} * n
      and exists (select 1 from history where is_judged)
)
select
    (select count(*) from gaps)::bigint as history_gap_days,
    (select count(*) from spikes)::bigint as history_spike_days,
    (select min(day) from history) as history_from,
    (select max(day) from history) as history_through,
    (select string_agg(case when n = 1 then first_day::varchar
                            else first_day || '..' || last_day || ' (' || n || ' days)' end, ', ' order by first_day)
     from (select * from stretches order by first_day limit {MAX_STRETCHES}))
      || coalesce((select case when count(*) > {MAX_STRETCHES} then ' and ' || (count(*) - {MAX_STRETCHES})
                               || ' more' end from stretches), '') as gap_stretches,
    (select string_agg(day || ': ' || records || ' (weekday median ' || weekday_median || ')', ', ' order by day)
     from (select * from spikes order by day limit {MAX_SPIKES}))
      || coalesce((select case when count(*) > {MAX_SPIKES} then ' and ' || (count(*) - {MAX_SPIKES})
                               || ' more' end from spikes), '') as spike_examples,
    nullif(concat_ws(chr(10),
        (select 'closed_days: [' || string_agg('"' || day || '"', ', ' order by day) || ']' from closed_dates),
        (select 'closed_weekdays: [' || string_agg(list_extract({names}, weekday), ', ' order by weekday) || ']'
         from closed_weekdays)), '') as suggested_config
"""
