"""The audience backtest's refits: month-end cutoffs, no hindsight, reuse of unchanged fits, SQL aggregates = Polars summary."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

import models.backtest as backtest
from models.backtest import backtest_cutoffs, backtest_predictions
from models.cadence import cadence_from_gaps, expected_next_orders
from models.errors import InvalidInputError
from models.predictions import predict_or_skip
from models.summary import customer_summary, summary_from_aggregates

D = dt.date
CDNOW_END = D(1998, 6, 30)


def test_cutoffs_are_the_latest_month_ends_with_90_days_of_data_after_them():
    assert backtest_cutoffs(D(2024, 1, 15), D(2025, 12, 31)) == [
        D(2025, 4, 30), D(2025, 5, 31), D(2025, 6, 30), D(2025, 7, 31), D(2025, 8, 31), D(2025, 9, 30)]
    # 2025-09-30 + 90 days = 2025-12-29: one day short on 2025-12-28.
    assert backtest_cutoffs(D(2024, 1, 15), D(2025, 12, 28))[-1] == D(2025, 8, 31)
    # Never before the first order; a young shop has fewer cutoffs, a new one none.
    assert backtest_cutoffs(D(2025, 7, 10), D(2025, 12, 31)) == [D(2025, 7, 31), D(2025, 8, 31), D(2025, 9, 30)]
    assert backtest_cutoffs(D(2025, 11, 1), D(2025, 12, 31)) == []
    assert backtest_cutoffs(None, D(2025, 12, 31)) == []


@pytest.fixture(scope="module")
def cdnow(cdnow_transactions):
    return cdnow_transactions.with_columns(pl.col("customer_id").cast(pl.String))


@pytest.fixture(scope="module")
def cdnow_backtest(cdnow):
    return backtest_predictions(cdnow, CDNOW_END, count=2)


def test_cdnow_each_cutoff_is_fitted_on_its_known_orders_only(cdnow, cdnow_backtest):
    cutoffs = cdnow_backtest["cutoff_date"].unique().sort().to_list()
    assert cutoffs == [D(1998, 2, 28), D(1998, 3, 31)]
    for cutoff in cutoffs:
        rows = cdnow_backtest.filter(pl.col("cutoff_date") == cutoff)
        # CDNOW's cohort bought in Q1 1997: everyone is known on both cutoffs, all scored.
        assert rows.height == cdnow["customer_id"].n_unique() == 2357
        assert rows["p_alive"].null_count() == 0 and rows["prediction_note"].null_count() == rows.height
        assert (rows["expected_next_order_date"].is_not_null()).all()


def test_a_planted_future_order_changes_no_prediction_on_an_earlier_cutoff(cdnow, cdnow_backtest):
    first = cdnow_backtest.filter(pl.col("cutoff_date") == D(1998, 2, 28)).drop("input_fingerprint")
    planted = pl.concat([cdnow, pl.DataFrame({"customer_id": ["1"], "order_date": [D(1998, 3, 5)], "amount": [500.0]},
                                             schema=cdnow.schema)])
    again = backtest_predictions(planted, CDNOW_END, count=2)
    assert again.filter(pl.col("cutoff_date") == D(1998, 2, 28)).drop("input_fingerprint").equals(first)
    # The later cutoff does see it: customer 1's last order moved.
    later = again.filter((pl.col("cutoff_date") == D(1998, 3, 31)) & (pl.col("customer_id") == "1"))
    before = cdnow_backtest.filter((pl.col("cutoff_date") == D(1998, 3, 31)) & (pl.col("customer_id") == "1"))
    assert later["p_alive"][0] != before["p_alive"][0]


def test_an_unchanged_cutoff_is_copied_from_the_previous_build_and_a_changed_one_refitted(cdnow, cdnow_backtest, monkeypatch):
    calls = []
    real = backtest.predict_cutoff
    monkeypatch.setattr(backtest, "predict_cutoff", lambda agg, cutoff, *rest: calls.append(cutoff) or real(agg, cutoff, *rest))
    assert backtest_predictions(cdnow, CDNOW_END, count=2, previous=cdnow_backtest).equals(cdnow_backtest)
    assert calls == []
    # A late refund on an order of March 1998 changes only the second cutoff's input.
    march = cdnow.filter((pl.col("order_date") > D(1998, 2, 28)) & (pl.col("order_date") <= D(1998, 3, 31))).row(0, named=True)
    changed = cdnow.with_columns(
        pl.when((pl.col("customer_id") == march["customer_id"]) & (pl.col("order_date") == march["order_date"]))
        .then(pl.col("amount") / 2).otherwise(pl.col("amount")).alias("amount"))
    backtest_predictions(changed, CDNOW_END, count=2, previous=cdnow_backtest)
    assert calls == [D(1998, 3, 31)]


def _aggregates(transactions: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    con = duckdb.connect()
    try:
        con.register("tx", transactions)
        backtest._temp_view(con, backtest.ORDERS_VIEW, con.table("tx"))
        backtest._order_days(con, cutoff)
        return backtest.cutoff_aggregates(con, cutoff)
    finally:
        con.close()


def test_sql_aggregates_give_the_summary_and_cadence_of_the_orders_themselves(cdnow):
    cutoff = D(1998, 2, 28)
    aggregates = _aggregates(cdnow, cutoff)
    ours = summary_from_aggregates(aggregates, observation_end=cutoff)
    theirs = customer_summary(cdnow, observation_end=cutoff)
    assert ours.select("customer_id", "frequency", "recency", "T", "first_day").equals(
        theirs.select("customer_id", "frequency", "recency", "T", "first_day"))
    # Exact decimal sums against float sums: the same to the last few bits.
    assert (ours["monetary_value"] - theirs["monetary_value"]).abs().max() < 1e-9
    gaps = aggregates.select("customer_id", pl.col("first_day").alias("first_order_date"),
                             pl.col("last_day").alias("last_order_date"), (pl.col("n_days") - 1).alias("gaps"),
                             "median_gap")
    bg = predict_or_skip(cdnow, cutoff, holdout=False).bgnbd
    assert cadence_from_gaps(gaps, cutoff, bg).equals(expected_next_orders(cdnow, cutoff, bg))


def test_the_fingerprint_ignores_row_order_and_sees_any_changed_amount(cdnow, cdnow_backtest):
    shuffled = backtest_predictions(cdnow.sample(fraction=1.0, shuffle=True, seed=7), CDNOW_END, count=2)
    assert shuffled["input_fingerprint"].unique().sort().equals(cdnow_backtest["input_fingerprint"].unique().sort())
    cent = cdnow.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("amount") + 0.01)
                              .otherwise(pl.col("amount")).alias("amount"))
    assert backtest_predictions(cent, CDNOW_END, count=2)["input_fingerprint"].n_unique() == 2
    assert set(backtest_predictions(cent, CDNOW_END, count=2)["input_fingerprint"]).isdisjoint(
        set(cdnow_backtest["input_fingerprint"]))


def test_an_unusable_order_row_skips_the_cutoffs_that_know_it_with_the_reason(cdnow):
    bad = pl.concat([cdnow, pl.DataFrame({"customer_id": ["1"], "order_date": [D(1998, 3, 5)], "amount": [-5.0]},
                                         schema=cdnow.schema)])
    out = backtest_predictions(bad, CDNOW_END, count=2)
    before, after = (out.filter(pl.col("cutoff_date") == c) for c in (D(1998, 2, 28), D(1998, 3, 31)))
    assert before["prediction_note"].null_count() == before.height
    assert after.height == 2357 and after["p_alive"].null_count() == after.height
    assert after["prediction_note"].unique().to_list() == [
        "no predictions: transactions could not be summarised: 1 order row(s) up to 1998-03-31 have a null "
        "customer or amount, or an amount that is negative, NaN or infinite"]


@pytest.mark.parametrize(("change", "message"), [
    ({"total": [float("nan")]}, "NaN/inf"),
    ({"first_amount": [-1.0]}, "negative"),
    ({"last_day": [D(2025, 2, 1)]}, "after observation_end"),
    ({"n_days": [0]}, "n_days >= 1"),
    ({"total": [None]}, "nulls"),
])
def test_summary_from_aggregates_rejects_what_the_transactions_path_rejects(change, message):
    row = {"customer_id": ["a"], "first_day": [D(2025, 1, 1)], "last_day": [D(2025, 1, 9)], "n_days": [2],
           "total": [30.0], "first_amount": [10.0]}
    good = summary_from_aggregates(pl.DataFrame(row), observation_end=D(2025, 1, 31))
    assert good.select("frequency", "recency", "T", "monetary_value").row(0) == (1, 8.0, 30.0, 20.0)
    with pytest.raises(InvalidInputError, match=message):
        summary_from_aggregates(pl.DataFrame({**row, **change}), observation_end=D(2025, 1, 31))
    with pytest.raises(InvalidInputError, match="lack column"):
        summary_from_aggregates(pl.DataFrame(row).drop("total"), observation_end=D(2025, 1, 31))


def test_on_the_refit_schedule_a_changed_cutoff_keeps_its_recent_fit_until_it_is_due(cdnow, cdnow_backtest, monkeypatch):
    calls = []
    real = backtest.predict_cutoff
    monkeypatch.setattr(backtest, "predict_cutoff", lambda agg, cutoff, *rest: calls.append(cutoff) or real(agg, cutoff, *rest))
    # A late refund of a March 1998 order: the second cutoff's input changed.
    march = cdnow.filter((pl.col("order_date") > D(1998, 2, 28)) & (pl.col("order_date") <= D(1998, 3, 31))).row(0, named=True)
    changed = cdnow.with_columns(
        pl.when((pl.col("customer_id") == march["customer_id"]) & (pl.col("order_date") == march["order_date"]))
        .then(pl.col("amount") / 2).otherwise(pl.col("amount")).alias("amount"))
    six_days_on = CDNOW_END + dt.timedelta(days=6)
    kept = backtest_predictions(changed, six_days_on, count=2, previous=cdnow_backtest, refit_every_days=7)
    assert calls == [] and kept.equals(cdnow_backtest)
    backtest_predictions(changed, CDNOW_END + dt.timedelta(days=7), count=2, previous=cdnow_backtest, refit_every_days=7)
    assert calls == [D(1998, 3, 31)]
    # Forced, or fitted by other code: every cutoff, at once.
    backtest_predictions(cdnow, CDNOW_END, count=2, previous=cdnow_backtest, refit_every_days=7, force=True)
    assert calls[1:] == [D(1998, 2, 28), D(1998, 3, 31)]
    monkeypatch.setattr(backtest, "code_fingerprint", lambda: "another version")
    refitted = backtest_predictions(cdnow, six_days_on, count=2, previous=cdnow_backtest, refit_every_days=7)
    assert calls[3:] == [D(1998, 2, 28), D(1998, 3, 31)]
    assert refitted["code_fingerprint"].unique().to_list() == ["another version"]
    assert refitted["fitted_as_of"].unique().to_list() == [six_days_on]


def test_refit_reason_follows_the_nightly_policy():
    item = backtest.CutoffInput(D(2025, 3, 31), rows=10, hash_sum=1, unusable=0)
    same = backtest.PreviousFit(item.fingerprint, D(2025, 6, 30), backtest.code_fingerprint())
    changed = backtest.PreviousFit("older input", D(2025, 6, 30), backtest.code_fingerprint())
    as_of = D(2025, 7, 3)
    assert backtest.refit_reason(item, None, as_of, 7) == "not fitted yet"
    assert backtest.refit_reason(item, same, as_of, 7) is None
    assert backtest.refit_reason(item, same, as_of, 7, force=True) == "refit requested for this run"
    assert backtest.refit_reason(item, changed, as_of, None) == "its known orders changed"
    assert backtest.refit_reason(item, changed, as_of, 7) is None
    assert "fitted 7 days" in backtest.refit_reason(item, changed, D(2025, 7, 7), 7)
    assert "before the fit" in backtest.refit_reason(item, changed, D(2025, 6, 29), 7)
    other_code = backtest.PreviousFit("older input", D(2025, 6, 30), "another version")
    assert backtest.refit_reason(item, other_code, as_of, 7) == "fitted by another version of models/"


def test_the_backtest_leaves_nothing_in_the_database_but_its_result(cdnow, cdnow_backtest):
    con = duckdb.connect()
    try:
        con.register("orders", cdnow)
        con.register("previous", cdnow_backtest)
        con.execute("create table kept as select * from previous")
        rows = backtest.backtest_relation(con, con.table("orders"), CDNOW_END, con.table("kept"), count=2)
        con.execute("create table result as select * from rows")
        persistent = con.sql("select view_name from duckdb_views() where not internal and not temporary "
                             "union all select table_name from duckdb_tables() where not temporary").fetchall()
        assert sorted(name for (name,) in persistent) == ["kept", "result"]
        assert con.sql("select count(*) from result").fetchall() == [(cdnow_backtest.height,)]
    finally:
        con.close()


def test_a_large_shop_is_fitted_on_a_stable_hash_sample_and_every_customer_is_scored(cdnow, cdnow_backtest, monkeypatch):
    fitted = []
    real = backtest.fit_and_score_summary
    monkeypatch.setattr(backtest, "fit_and_score_summary",
                        lambda summary, fit_on=None: fitted.append((summary, fit_on)) or real(summary, fit_on=fit_on))
    sampled = backtest_predictions(cdnow, CDNOW_END, count=2, fit_cap=1000)
    for summary, fit_on in fitted:
        keys = sorted(summary["customer_id"].to_list(), key=lambda c: (backtest.fit_key(c), c))[:1000]
        assert sorted(fit_on["customer_id"].to_list()) == sorted(keys)
    # Everyone known is still scored; the parameters moved a little, not the population.
    assert sampled.select("cutoff_date", "customer_id").equals(cdnow_backtest.select("cutoff_date", "customer_id"))
    assert sampled["p_alive"].null_count() == 0
    assert not sampled["p_alive"].equals(cdnow_backtest["p_alive"])
    # A shop at or below the cap is fitted on all its customers, as before.
    # (its fingerprint names the cap: the rows of one cap are never copied into a run with another)
    at_cap = backtest_predictions(cdnow, CDNOW_END, count=2, fit_cap=2357)
    assert at_cap.drop("input_fingerprint").equals(cdnow_backtest.drop("input_fingerprint"))


def test_the_sample_ignores_row_order_and_a_copied_cutoff_equals_its_refit(cdnow):
    first = backtest_predictions(cdnow, CDNOW_END, count=2, fit_cap=1000)
    shuffled = cdnow.sample(fraction=1.0, shuffle=True, seed=7)
    assert backtest_predictions(shuffled, CDNOW_END, count=2, fit_cap=1000).equals(first)
    assert backtest_predictions(cdnow, CDNOW_END, count=2, previous=first, fit_cap=1000, force=True).equals(first)


def test_the_sample_key_is_the_same_md5_in_duckdb_and_python(cdnow):
    ids = cdnow["customer_id"].unique().sort().head(50)
    # Its own connection: the module's default one is shared with whatever else ran in this process.
    with duckdb.connect() as con:
        con.register("ids", ids.to_frame())
        in_duckdb = [k for (k,) in con.execute("select md5(customer_id) from ids order by customer_id").fetchall()]
    assert in_duckdb == [backtest.fit_key(c) for c in ids]
    with pytest.raises(ValueError, match="fit sample cap is 0"):
        backtest.fit_sample(pl.DataFrame({"customer_id": ["a"]}), 0)


def test_a_large_shop_is_backtested_on_a_stable_hash_sample_scored_as_in_the_full_backtest(cdnow):
    full = backtest_predictions(cdnow, CDNOW_END, count=2, fit_cap=300)
    assert (full["customers_known"] == 2357).all()
    sampled = backtest_predictions(cdnow, CDNOW_END, count=2, fit_cap=300, sample_cap=1000)
    keys = sorted(cdnow["customer_id"].unique().to_list(), key=lambda c: (backtest.fit_key(c), c))[:1000]
    for cutoff in (D(1998, 2, 28), D(1998, 3, 31)):
        rows = sampled.filter(pl.col("cutoff_date") == cutoff)
        assert sorted(rows["customer_id"].to_list()) == sorted(keys)
        assert (rows["customers_known"] == 2357).all()
    # The fit sample is the head of the backtest sample (same key): the same fit, the same scores.
    same = full.join(sampled.select("cutoff_date", "customer_id"), on=["cutoff_date", "customer_id"], how="semi")
    assert sampled.drop("input_fingerprint").equals(same.drop("input_fingerprint"))
    assert backtest_predictions(cdnow, CDNOW_END, count=2, previous=sampled, fit_cap=300, sample_cap=1000,
                                force=True).equals(sampled)
    # Rows made with another cap are refitted, not copied.
    assert backtest_predictions(cdnow, CDNOW_END, count=2, previous=sampled, fit_cap=300).equals(full)
    # At or below the cap: every customer, as without a sample.
    at_cap = backtest_predictions(cdnow, CDNOW_END, count=2, fit_cap=300, sample_cap=2357)
    assert at_cap.drop("input_fingerprint").equals(full.drop("input_fingerprint"))
    with pytest.raises(ValueError, match="backtest sample cap is 0"):
        backtest_predictions(cdnow, CDNOW_END, count=2, sample_cap=0)


def test_an_unusable_cutoff_lists_its_sample_unscored(cdnow):
    bad = pl.concat([cdnow, pl.DataFrame({"customer_id": ["1"], "order_date": [D(1998, 3, 5)], "amount": [-5.0]},
                                         schema=cdnow.schema)])
    after = backtest_predictions(bad, CDNOW_END, count=2, sample_cap=100).filter(pl.col("cutoff_date") == D(1998, 3, 31))
    keys = sorted(cdnow["customer_id"].unique().to_list(), key=lambda c: (backtest.fit_key(c), c))[:100]
    assert sorted(after["customer_id"].to_list()) == sorted(keys)
    assert (after["customers_known"] == 2357).all() and after["p_alive"].null_count() == 100
