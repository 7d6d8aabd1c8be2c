"""Predictions as they would have been on past dates, for the audience backtest.

The nightly dbt Python model `int_audience_backtest_predictions` calls
`backtest_relation`: for each of the latest month-ends whose following
`horizon_days` lie inside the data (cutoffs), the models are refitted on the
orders dated on or before that month-end only, and every customer known then
is scored, as the nightly predictions would have been that night (no
holdout check: only the scores are needed), except for two caps, both by
the smallest md5 of the customer id (the same customers on every run):
a shop with more than BACKTEST_CUSTOMERS customers known at a cutoff is
backtested on that many of them (scored here; mart_audience_backtest
rebuilds and measures the audiences within the same sample), and the
models are fitted on the first FIT_SAMPLE_CUSTOMERS of them (`fit_sample`).
So the backtest's cost is bounded by the caps, not by the shop's size; a
backtest measures audiences, whose lift a sample estimates nearly unchanged
(docs/predictive-models.md).
The audience rules and the outcomes are SQL (mart_audience_backtest). The
caps are in the cutoffs' fingerprint: other caps refit every cutoff.

Memory and cost: the orders never leave DuckDB. One scan groups them by
order day (row count, a sum of row hashes, rows that cannot be summarised),
from which each cutoff's fingerprint is a cumulative sum. A cutoff whose
fingerprint equals the previous build's rows is copied inside DuckDB. A
cutoff to refit gets its per-customer aggregates from SQL (first and last
order day, order days, total, first day's total, median gap between order
days) over the orders' distinct (customer, day) rows, cut at the cutoff;
Python holds those rows for one cutoff at a time, fits on them
(`models.summary.summary_from_aggregates`,
`models.predictions.fit_and_score_summary`,
`models.cadence.cadence_from_gaps`) and appends the scores to a temporary
table. The returned relation reads that table and is written by DuckDB.

The fingerprint of a cutoff covers the cutoff date, the number of known
order rows, the sum of their hashes (customer, day, amount as an exact
decimal: a multiset hash, independent of row order), this package's
source and the two caps. Amounts are summed as exact decimals before the
fit sees them as doubles, so the same known rows give the same summary, hence the same fit,
whatever order DuckDB reads them in: an unchanged fingerprint is copied, and
the copy is what the refit would give. (DuckDB's `hash` may change between
its versions: an upgrade then refits every cutoff once, never copies a
stale one.)

When a changed cutoff is refitted (`refit_reason`): a new cutoff (a new
month) or rows fitted by other code at once; a cutoff whose known orders
changed (a late refund or cancellation of an order dated up to it) at once
by default, or, given the nightly models' refit interval (the dbt model
passes `predictions_refit_every_days`), once its rows are that many as-of
days old: a shop with daily late refunds would otherwise refit every cutoff
every night. Each row says what it was fitted from (`input_fingerprint`,
`code_fingerprint`) and when (`fitted_as_of`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl

from models.cadence import cadence_from_gaps
from models.errors import ModelError
from models.predictions import Predictions, fit_and_score_summary, published_frame
from models.scoring import unscored_customers
from models.summary import summary_from_aggregates

#: Month-ends rebuilt by the backtest.
BACKTEST_CUTOFFS = 6
#: Days after a cutoff that must lie inside the data (the longest outcome window).
HORIZON_DAYS = 90
#: Customers a cutoff's models are fitted on (all of them up to this many);
#: every customer known then is scored. Measured in docs/predictive-models.md.
FIT_SAMPLE_CUSTOMERS = 50_000
#: Customers a cutoff is backtested on: the audiences are rebuilt and measured
#: for at most this many of the customers known then (`backtest_sample`), so
#: the backtest's cost is bounded by this number, not by the shop's size.
BACKTEST_CUSTOMERS = 200_000
SCHEMA = {
    "cutoff_date": pl.Date,
    "customer_id": pl.String,
    "p_alive": pl.Float64,
    "predicted_clv_12m": pl.Float64,
    "churn_risk": pl.String,
    "expected_next_order_date": pl.Date,
    "typical_days_between_orders": pl.Float64,
    "cadence_method": pl.String,
    "prediction_note": pl.String,
    "input_fingerprint": pl.String,
    "fitted_as_of": pl.Date,
    "code_fingerprint": pl.String,
    "customers_known": pl.Int64,
}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)
_SQL_TYPES = {pl.Date: "date", pl.String: "varchar", pl.Float64: "double", pl.Int64: "bigint"}

# Temporary objects on the caller's connection (gone with it).
ORDERS_VIEW = "backtest_orders"
PREVIOUS_VIEW = "backtest_previous"
DAY_TOTALS = "backtest_day_totals"
ORDER_DAYS = "backtest_order_days"
ROWS = "backtest_rows"
# Amounts as the summary sums them: exact decimals (a sum of doubles depends
# on the order DuckDB's threads add them in).
AMOUNT = "cast(amount as decimal(38, 9))"
# The same, null for what cannot be one (null, NaN, infinite, too large): an unusable row.
EXACT = "try_cast(amount as decimal(38, 9))"


def month_end(day: dt.date) -> dt.date:
    """The last day of `day`'s month."""
    first_next = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first_next - dt.timedelta(days=1)


def backtest_cutoffs(first_order: dt.date | None, as_of: dt.date, count: int = BACKTEST_CUTOFFS,
                     horizon_days: int = HORIZON_DAYS) -> list[dt.date]:
    """The latest `count` month-ends E with first_order <= E and E + horizon_days <= as_of, oldest first."""
    if first_order is None:
        return []
    out: list[dt.date] = []
    end = month_end(as_of - dt.timedelta(days=horizon_days))
    while len(out) < count:
        if end + dt.timedelta(days=horizon_days) > as_of:
            end = month_end(end.replace(day=1) - dt.timedelta(days=1))
            continue
        if end < first_order:
            break
        out.append(end)
        end = month_end(end.replace(day=1) - dt.timedelta(days=1))
    return sorted(out)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of this package's sources: a change to the models refits every cutoff."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CutoffInput:
    """What a cutoff's rows depend on, measured in SQL: known order rows, their hash sum, unusable rows."""

    cutoff: dt.date
    rows: int
    hash_sum: int
    unusable: int
    #: (fit cap, sample cap) the rows are made with: rows of other caps are refitted, never copied.
    caps: tuple[int, int] = (FIT_SAMPLE_CUSTOMERS, BACKTEST_CUSTOMERS)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(
            f"{self.cutoff.isoformat()}|{self.rows}|{self.hash_sum}|{self.unusable}|{code_fingerprint()}"
            f"|{self.caps[0]}|{self.caps[1]}".encode()
        ).hexdigest()


def _temp_view(con: duckdb.DuckDBPyConnection, name: str, relation: duckdb.DuckDBPyRelation) -> None:
    """`relation` as a temporary view of `con` (a relation's to_view would create a view in the warehouse)."""
    con.execute(f"create or replace temp view {name} as {relation.sql_query()}")


def cutoff_inputs(con: duckdb.DuckDBPyConnection, as_of: dt.date, count: int, horizon_days: int,
                  caps: tuple[int, int] = (FIT_SAMPLE_CUSTOMERS, BACKTEST_CUSTOMERS)) -> list[CutoffInput]:
    """The cutoffs (oldest first) with their inputs, from one scan of ORDERS_VIEW grouped by order day."""
    con.execute(f"""
        create or replace temp table {DAY_TOTALS} as
        select
            cast(order_date as date) as day,
            count(*) as order_rows,
            coalesce(sum(cast(hash(customer_id, cast(order_date as date), {EXACT}) as hugeint)), 0) as hash_sum,
            count(*) filter (where customer_id is null or {EXACT} is null or amount < 0) as unusable
        from {ORDERS_VIEW}
        where order_date is not null
        group by 1
    """)
    first = con.execute(f"select min(day) from {DAY_TOTALS}").fetchall()[0][0]
    cutoffs = backtest_cutoffs(first, as_of, count, horizon_days)
    if not cutoffs:
        return []
    rows = con.execute(f"""
        select c.cutoff_date, sum(d.order_rows), sum(d.hash_sum), sum(d.unusable)
        from (select unnest(?::date[]) as cutoff_date) as c
        inner join {DAY_TOTALS} as d on d.day <= c.cutoff_date
        group by c.cutoff_date
        order by c.cutoff_date
    """, [cutoffs]).fetchall()
    return [CutoffInput(cutoff, int(n), int(h), int(bad), caps) for cutoff, n, h, bad in rows]


def _order_days(con: duckdb.DuckDBPyConnection, until: dt.date) -> None:
    """ORDER_DAYS: one row per customer and order day up to `until`, its exact total and the gap since the last one.

    The gap to a customer's previous order day is the same on every cutoff
    that knows the day (the previous day is earlier), so it is computed once.
    """
    con.execute(f"""
        create or replace temp table {ORDER_DAYS} as
        select
            customer_id,
            day,
            amount,
            date_diff('day', lag(day) over (partition by customer_id order by day), day) as gap
        from (
            select cast(customer_id as varchar) as customer_id, cast(order_date as date) as day, sum({AMOUNT}) as amount
            from {ORDERS_VIEW}
            where order_date is not null and cast(order_date as date) <= ?
                and customer_id is not null and amount is not null
            group by 1, 2
        ) as daily
    """, [until])


def _sample_sql(source: str) -> str:
    """Customers of `source` (rows with customer_id, up to the cutoff `?`) as `sample`: the `?` with the smallest md5.

    Also `known`: every customer of `source` and its md5 (`fit_key`).
    """
    return f"""
        known as (
            select customer_id, md5(customer_id) as fit_key
            from (select distinct cast(customer_id as varchar) as customer_id from {source}) as ids
        ),
        sample as (
            select customer_id, fit_key from known order by fit_key, customer_id limit ?
        )
    """


def cutoff_aggregates(con: duckdb.DuckDBPyConnection, cutoff: dt.date,
                      cap: int = BACKTEST_CUSTOMERS) -> pl.DataFrame:
    """One row per customer of `backtest_sample` on `cutoff`: AGGREGATE_COLUMNS, the cadence's gaps, `fit_key`
    and `customers_known` (all customers known then), by customer.

    The median gap is the mean of the middle one or two of the customer's
    gaps in order (a sort, which DuckDB can spill, where a holistic
    median would hold every customer's gaps in its hash table). `fit_key`
    is the customer id's md5 (see `fit_key`), which `fit_sample` ranks by.
    """
    _check_cap("backtest sample", cap)
    source = f"(select customer_id from {ORDER_DAYS} where day <= ?)"
    return con.sql(f"""
        with {_sample_sql(source)},
        days as (
            select
                d.customer_id, d.day, d.amount, d.gap, sample.fit_key,
                row_number() over (partition by d.customer_id order by d.gap nulls last) as gap_rank,
                count(d.gap) over (partition by d.customer_id) as gaps
            from {ORDER_DAYS} as d
            inner join sample on sample.customer_id = d.customer_id
            where d.day <= ?
        )
        select
            customer_id,
            min(day) as first_day,
            max(day) as last_day,
            count(*) as n_days,
            cast(sum(amount) as double) as total,
            cast(arg_min(amount, day) as double) as first_amount,
            avg(gap) filter (where gap is not null and gap_rank in ((gaps + 1) // 2, (gaps + 2) // 2)) as median_gap,
            any_value(fit_key) as fit_key,
            (select count(*) from known) as customers_known
        from days
        group by customer_id
        order by customer_id
    """, params=[cutoff, cap, cutoff]).pl()


def _check_cap(what: str, cap: int) -> None:
    if cap < 1:
        raise ValueError(f"{what} cap is {cap}; expected a positive number of customers")


def fit_key(customer_id: str) -> str:
    """The key a customer is sampled by: the hex md5 of its id (DuckDB's `md5` gives the same, on any version)."""
    return hashlib.md5(customer_id.encode()).hexdigest()


def fit_sample(aggregates: pl.DataFrame, cap: int = FIT_SAMPLE_CUSTOMERS) -> pl.Series | None:
    """The customer ids a cutoff's models are fitted on, or None for all of them (at most `cap` customers).

    The `cap` customers with the smallest `fit_key` (ties by id): a stable
    hash, so the same known orders give the same sample on every run and
    machine, and a copied cutoff stays what a refit would give. The key is
    the aggregates' `fit_key` column (`cutoff_aggregates` computes it in SQL).
    """
    _check_cap("fit sample", cap)
    if aggregates.height <= cap:
        return None
    return aggregates.select("customer_id", "fit_key").sort("fit_key", "customer_id").head(cap)["customer_id"]


def predict_cutoff(aggregates: pl.DataFrame, cutoff: dt.date, cap: int = FIT_SAMPLE_CUSTOMERS) -> Predictions:
    """Fit one cutoff on `fit_sample` of its per-customer aggregates (`cutoff_aggregates`), score them all.

    Never raises a model error.
    """
    try:
        summary = summary_from_aggregates(aggregates, observation_end=cutoff, time_unit="days")
    except ModelError as exc:
        return Predictions(unscored_customers(aggregates["customer_id"]),
                           skipped=f"transactions could not be summarised: {exc}")
    sample = fit_sample(aggregates, cap)
    run = fit_and_score_summary(summary, fit_on=None if sample is None else
                                summary.filter(pl.col("customer_id").is_in(sample.implode())))
    gaps = aggregates.select(
        "customer_id",
        pl.col("first_day").alias("first_order_date"),
        pl.col("last_day").alias("last_order_date"),
        (pl.col("n_days") - 1).alias("gaps"),
        "median_gap",
    )
    return replace(run, cadence=cadence_from_gaps(gaps, cutoff, run.bgnbd))


def _unusable_run(con: duckdb.DuckDBPyConnection, item: CutoffInput, cap: int) -> tuple[Predictions, int]:
    """The cutoff's sample (`cutoff_aggregates`' customers) unscored, and the number of customers known then."""
    source = f"(select customer_id from {ORDERS_VIEW} where customer_id is not null and cast(order_date as date) <= ?)"
    sample = con.sql(f"with {_sample_sql(source)} select customer_id, (select count(*) from known) as known "
                     "from sample order by customer_id", params=[item.cutoff, cap]).pl()
    known = int(sample["known"][0]) if sample.height else 0
    return Predictions(unscored_customers(sample["customer_id"]), skipped=(
        f"transactions could not be summarised: {item.unusable} order row(s) up to {item.cutoff} "
        "have a null customer or amount, or an amount that is negative, NaN or infinite")), known


def _rows_frame(run: Predictions, item: CutoffInput, as_of: dt.date, known: int) -> pl.DataFrame:
    frame = published_frame(run, item.cutoff).rename({"as_of_date": "cutoff_date"})
    return (frame.with_columns(pl.col("customer_id").cast(pl.String), pl.lit(item.fingerprint).alias("input_fingerprint"),
                               pl.lit(as_of, dtype=pl.Date).alias("fitted_as_of"),
                               pl.lit(code_fingerprint()).alias("code_fingerprint"),
                               pl.lit(known, dtype=pl.Int64).alias("customers_known"))
            .select(pl.col(c).cast(t) for c, t in SCHEMA.items()))


@dataclass(frozen=True)
class PreviousFit:
    """What the previous build's rows of one cutoff were fitted from, and when."""

    fingerprint: str
    fitted_as_of: dt.date
    code: str


def _previous_fits(con: duckdb.DuckDBPyConnection, previous: duckdb.DuckDBPyRelation | None) -> dict:
    """{cutoff: PreviousFit} of the previous build's rows (one fit per cutoff), registered as PREVIOUS_VIEW.

    Rows of another layout (a build before these columns) are ignored: refitted.
    """
    if previous is None or not set(COLUMNS) <= set(previous.columns):
        return {}
    _temp_view(con, PREVIOUS_VIEW, previous)
    rows = con.execute(
        "select cutoff_date, min(input_fingerprint), max(input_fingerprint), min(fitted_as_of), max(fitted_as_of), "
        f"min(code_fingerprint), max(code_fingerprint) from {PREVIOUS_VIEW} group by cutoff_date").fetchall()
    return {cutoff: PreviousFit(fp, fitted, code) for cutoff, fp, fp2, fitted, fitted2, code, code2 in rows
            if fp == fp2 and fitted == fitted2 and code == code2 and fp is not None and fitted is not None}


def refit_reason(item: CutoffInput, prior: PreviousFit | None, as_of: dt.date, every_days: int | None,
                 force: bool = False) -> str | None:
    """Why `item` is refitted tonight, or None when the previous rows are copied (pure).

    Unchanged input is always copied (unless `force`). Changed input (a late
    refund or cancellation of an order dated up to the cutoff) is refitted
    at once when `every_days` is None, else when the rows were fitted
    `every_days` as-of days ago or more, as the nightly models are
    (models/refit.py): until then the rows fitted on the input as it was are
    kept, which still saw nothing after the cutoff. New cutoffs, rows fitted
    by other code, and a rebuild of an earlier as-of date always refit.
    """
    if force:
        return "refit requested for this run"
    if prior is None:
        return "not fitted yet"
    if prior.fingerprint == item.fingerprint:
        return None
    if prior.code != code_fingerprint():
        return "fitted by another version of models/"
    if every_days is None:
        return "its known orders changed"
    if as_of < prior.fitted_as_of:
        return f"as-of date {as_of} is before the fit's {prior.fitted_as_of}"
    age = (as_of - prior.fitted_as_of).days
    if age >= every_days:
        return f"its known orders changed; fitted {age} days of data ago (refit every {every_days})"
    return None


def backtest_relation(con: duckdb.DuckDBPyConnection, orders: duckdb.DuckDBPyRelation, as_of: dt.date,
                      previous: duckdb.DuckDBPyRelation | None = None, count: int = BACKTEST_CUTOFFS,
                      horizon_days: int = HORIZON_DAYS, refit_every_days: int | None = None,
                      force: bool = False, fit_cap: int = FIT_SAMPLE_CUSTOMERS,
                      sample_cap: int = BACKTEST_CUSTOMERS) -> duckdb.DuckDBPyRelation:
    """One row per cutoff x customer of its sample (COLUMNS), fitted on the orders up to the cutoff only.

    The sample (`cutoff_aggregates`): the `sample_cap` customers with an
    order on or before the cutoff with the smallest md5 of their id (all of
    them in a smaller shop); `customers_known` counts them all.

    `orders`: a relation on `con` with customer_id, order_date, amount (one
    row per order). `previous`: the last build's rows; each cutoff is
    copied from them or refitted as `refit_reason` decides
    (`refit_every_days`, `force`: the nightly models' refit policy); a
    refit fits on at most `fit_cap` customers (`fit_sample`, the first of
    the same md5 order: a subset of the sample). The
    result reads temporary tables and views of `con` (the refitted rows, the
    previous rows): write it on `con` (the dbt Python model returns it), in
    no particular order.
    """
    _temp_view(con, ORDERS_VIEW, orders)
    inputs = cutoff_inputs(con, as_of, count, horizon_days, (fit_cap, sample_cap))
    prior = _previous_fits(con, previous)
    columns = ", ".join(f"{c} {_SQL_TYPES[t]}" for c, t in SCHEMA.items())
    con.execute(f"create or replace temp table {ROWS} ({columns})")
    refits = [item for item in inputs if refit_reason(item, prior.get(item.cutoff), as_of, refit_every_days, force)]
    if refits:
        _order_days(con, max(item.cutoff for item in refits))
    for item in refits:
        if item.unusable:
            run, known = _unusable_run(con, item, sample_cap)
        else:
            aggregates = cutoff_aggregates(con, item.cutoff, sample_cap)
            known = int(aggregates["customers_known"][0]) if aggregates.height else 0
            run = predict_cutoff(aggregates, item.cutoff, fit_cap)
            del aggregates
        frame = _rows_frame(run, item, as_of, known)
        con.register("backtest_cutoff_rows", frame)
        con.execute(f"insert into {ROWS} select * from backtest_cutoff_rows")
        con.unregister("backtest_cutoff_rows")
        del run, frame
    con.execute(f"drop table if exists {ORDER_DAYS}")
    copied = [item.cutoff for item in inputs if item not in refits]
    if not copied:
        return con.table(ROWS)
    # Copied month-ends are read from the previous rows once, by the write itself.
    dates = ", ".join(f"date '{c.isoformat()}'" for c in copied)
    return con.sql(f"select * from {ROWS} union all select {', '.join(COLUMNS)} from {PREVIOUS_VIEW} "
                   f"where cutoff_date in ({dates})")


def backtest_predictions(transactions: pl.DataFrame, as_of: dt.date, count: int = BACKTEST_CUTOFFS,
                         horizon_days: int = HORIZON_DAYS, previous: pl.DataFrame | None = None,
                         refit_every_days: int | None = None, force: bool = False,
                         fit_cap: int = FIT_SAMPLE_CUSTOMERS,
                         sample_cap: int = BACKTEST_CUSTOMERS) -> pl.DataFrame:
    """`backtest_relation` on Polars frames (an in-memory DuckDB), sorted by cutoff and customer; for tests and tools."""
    con = duckdb.connect()
    try:
        con.register("backtest_input_orders", transactions)
        prev = None
        if previous is not None:
            con.register("backtest_input_previous", previous)
            prev = con.table("backtest_input_previous")
        out = backtest_relation(con, con.table("backtest_input_orders"), as_of, prev, count, horizon_days,
                                refit_every_days, force, fit_cap, sample_cap).pl()
    finally:
        con.close()
    return out.select(pl.col(c).cast(t) for c, t in SCHEMA.items()).sort("cutoff_date", "customer_id")
