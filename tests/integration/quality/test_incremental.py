"""Row rules cover the rows loaded since the suite's last successful validation, and miss none.

Raw rows carry the loader's `_loaded_at` stamp; `audit.suite_runs.loaded_through`
keeps the newest stamp a successful validation covered. GX's counts on the
SQL data source are checked against GX validating the same rows on pandas.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from assets.quality.config import ERROR
from assets.quality.suites import ROWS

from .test_suites import FAST, SUITES, validate

NIGHT_2 = "TIMESTAMP '2100-01-02 03:00:00'"
NIGHT_3 = "TIMESTAMP '2100-01-03 03:00:00'"


def night(con, name, **kw):
    """A run's validation: row rules judge the rows loaded since the last successful one."""
    return validate(con, name, full=False, **kw)


def _load_copies(con, n: int, stamp: str, suffix: str, status: str | None = None) -> None:
    """`n` new orders (copies of existing ones under new ids) stamped as loaded at `stamp`."""
    status_sql = f", '{status}' AS status" if status else ""
    con.execute(
        f"INSERT INTO raw.orders SELECT * REPLACE (order_id || '{suffix}' AS order_id, {stamp} AS _loaded_at"
        f"{status_sql}) FROM raw.orders WHERE _loaded_at < TIMESTAMP '2100-01-01' ORDER BY order_id LIMIT {n}"
    )


def test_a_night_validates_only_the_rows_loaded_since_the_last_successful_run(scratch):
    con = scratch()
    total = con.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
    first = night(con, "raw_orders", run_id="night-1")
    # a first validation: the history was judged row by row by the loader, not again here
    row_rules = [r for r in SUITES["raw_orders"].rules if r.frame == ROWS]
    assert first.passed and first.first_validation and first.rows_validated == 0
    assert first.rules_not_run == len(row_rules) > 0
    assert not {r.id for r in row_rules} & {r.rule_id for r in first.results}
    assert "not re-verified" in first.row_rules_text
    recorded = con.execute("SELECT row_rules_not_run, expectations FROM audit.suite_runs WHERE run_id = 'night-1'")
    assert recorded.fetchone() == (len(row_rules), len(first.results))

    _load_copies(con, 25, NIGHT_2, "-n2")
    second = night(con, "raw_orders", run_id="night-2")
    assert second.failed() == [], second.failures_markdown()
    assert second.rows_validated == 25
    assert second.validated_since == first.loaded_through
    assert second.result("order_id_unique").element_count == 25  # the rows handed to the row rules

    again = night(con, "raw_orders", run_id="night-2-retry")
    assert again.rows_validated == 0 and again.passed and again.rules_not_run == len(row_rules)
    assert not again.first_validation
    assert validate(con, "raw_orders", run_id="full", full=True).rows_validated == total + 25


def test_a_bad_row_loaded_by_a_failed_run_is_caught_again_the_next_night(scratch):
    con = scratch()
    assert night(con, "raw_orders", run_id="night-1").passed

    _load_copies(con, 3, NIGHT_2, "-n2", status="shipped")
    failed = night(con, "raw_orders", run_id="night-2")
    assert not failed.passed and failed.result("status_in_set").unexpected_count == 3

    _load_copies(con, 10, NIGHT_3, "-n3")  # a clean night after the failed one
    night3 = night(con, "raw_orders", run_id="night-3")
    r = night3.result("status_in_set")
    assert not r.success and r.severity == ERROR
    assert r.unexpected_count == 3 and r.examples == ["shipped"] * 3
    assert night3.rows_validated == 13  # night 2's rows again, and night 3's

    con.execute("UPDATE raw.orders SET status = 'fulfilled', _loaded_at = TIMESTAMP '2100-01-04 03:00:00' WHERE status = 'shipped'")
    assert night(con, "raw_orders", run_id="night-4").passed
    assert night(con, "raw_orders", run_id="night-5").rows_validated == 0


def test_rows_of_a_run_whose_checks_never_ran_are_validated_next_time(scratch):
    con = scratch()
    assert night(con, "raw_orders", run_id="night-1").passed
    _load_copies(con, 4, NIGHT_2, "-n2", status="shipped")  # night 2 loaded, its checks did not run
    _load_copies(con, 6, NIGHT_3, "-n3")
    run = night(con, "raw_orders", run_id="night-3")
    assert run.rows_validated == 10
    assert run.result("status_in_set").unexpected_count == 4


def test_a_first_validation_judges_the_rows_the_loader_did_not_stamp(scratch):
    con = scratch()
    old = con.execute("SELECT min(order_id) FROM raw.orders").fetchone()[0]
    # written around the loader: no load stamp, an unknown status, a key already held by a loaded row
    con.execute(f"INSERT INTO raw.orders SELECT * REPLACE ('shipped' AS status, NULL AS _loaded_at) "
                f"FROM raw.orders WHERE order_id = '{old}'")
    run = night(con, "raw_orders", run_id="night-1")
    assert run.first_validation and run.rules_not_run == 0 and run.rows_validated == 1
    assert not run.passed
    assert run.result("status_in_set").unexpected_count == 1
    assert run.result("order_id_unique").unexpected_count == 2  # the unstamped row and the loaded one


def test_a_new_row_repeating_an_older_key_breaks_uniqueness(scratch):
    con = scratch()
    assert night(con, "raw_orders", run_id="night-1").passed
    old = con.execute("SELECT min(order_id) FROM raw.orders").fetchone()[0]
    con.execute(f"INSERT INTO raw.orders SELECT * REPLACE ({NIGHT_2} AS _loaded_at) FROM raw.orders "
                f"WHERE order_id = '{old}'")
    run = night(con, "raw_orders", run_id="night-2")
    r = run.result("order_id_unique")
    assert run.rows_validated == 1
    # GX counts every row holding the repeated key: the new copy and the older one it repeats
    assert not r.success and r.unexpected_count == 2 and r.examples == [old, old]
    assert r.element_count == 2


def _break_orders(orders: pd.DataFrame) -> pd.DataFrame:
    bad = orders.copy()
    bad.loc[bad.index[:40], "status"] = "shipped"
    bad.loc[bad.index[40:45], "currency"] = None
    bad.loc[bad.index[45:80], "discount"] = -1.5
    bad.loc[bad.index[80:90], "updated_at"] = bad.loc[bad.index[80:90], "created_at"] - pd.Timedelta(hours=2)
    bad.loc[bad.index[90:95], "customer_id"] = None
    bad.loc[bad.index[100:105], "order_id"] = None
    return pd.concat([bad, bad.iloc[200:203]], ignore_index=True)  # three duplicated keys


def _break_tickets(tickets: pd.DataFrame) -> pd.DataFrame:
    bad = tickets.copy()
    rated = bad.index[bad.csat_score.notna()]
    bad.loc[rated[:30], "csat_score"] = 9
    resolved = bad.index[bad.resolved_at.notna()]
    bad.loc[resolved[:12], "resolved_at"] = bad.loc[resolved[:12], "created_at"] - pd.Timedelta(hours=1)
    bad.loc[bad.index[:4], "category"] = "billing"
    return bad


def _as_set(values) -> set:
    """Values as comparable text (pandas shows a missing value as NaN, DuckDB as None)."""
    return {repr(None if v is None or (np.isscalar(v) and pd.isna(v)) else v.tolist() if isinstance(v, np.ndarray)
                 else v) for v in values}


def _on_pandas(df: pd.DataFrame, rules) -> dict:
    """The same expectations validated by GX on a pandas frame of the same rows: the reference."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("reference").add_dataframe_asset("rows") \
        .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": df})
    suite = gx.ExpectationSuite(name="reference", expectations=[
        getattr(gxe, r.expectation)(**r.kwargs, meta={"rule_id": r.id}) for r in rules])
    out = batch.validate(suite, result_format={"result_format": "SUMMARY",
                                               "partial_unexpected_count": FAST.max_examples})
    return {e.expectation_config.meta["rule_id"]: e for e in out.results}


@pytest.mark.parametrize(("table", "suite", "breaker"), [
    ("raw.orders", "raw_orders", _break_orders),
    ("raw.support_tickets", "raw_support_tickets", _break_tickets),
])
def test_gx_on_duckdb_counts_as_gx_on_pandas(scratch, frame, table, suite, breaker):
    """The suite's batch (a union of parts, each rule restricted to its part) changes no count."""
    bad = breaker(frame(table))
    con = scratch({table: bad})
    on_duckdb = validate(con, suite, write_audit=False)
    row_rules = [r for r in SUITES[suite].rules if r.frame == ROWS]
    reference = _on_pandas(con.execute(f"SELECT * FROM {table}").df(), row_rules)
    broken = 0
    for rule in row_rules:
        a, b = on_duckdb.result(rule.id), reference[rule.id]
        assert (a.success, a.expectation, a.element_count, a.unexpected_count) == \
            (b.success, b.expectation_config.type, b.result["element_count"], b.result["unexpected_count"]), rule.id
        broken += bool(a.unexpected_count)
        if a.unexpected_count:
            assert len(a.examples) == min(a.unexpected_count, FAST.max_examples)
            if a.unexpected_count <= FAST.max_examples:  # all of them: the same values either way
                assert _as_set(a.examples) == _as_set(b.result["partial_unexpected_list"]), rule.id
    assert broken >= 3


def test_any_gx_expectation_runs_on_the_new_rows(scratch):
    """A rule naming any gallery expectation (here value lengths) is judged by GX on the rows in scope."""
    from assets.quality.engine import run_suite
    from assets.quality.suites import Rule

    suite = SUITES["raw_orders"]
    length = Rule("order_id_length", "value_set", "ExpectColumnValueLengthsToEqual", {"column": "order_id", "value": 10})
    custom = replace(suite, rules=suite.rules + (length,))
    con = scratch()
    first = run_suite(con, custom, "night-1", FAST, log_fn=lambda m: None, full=True)
    r = first.result("order_id_length")
    assert r.expectation == "expect_column_value_lengths_to_equal"
    assert first.passed and r.element_count == first.row_count
    _load_copies(con, 5, NIGHT_2, "-n2")  # ids like O000000023-n2 are longer
    second = run_suite(con, custom, "night-2", FAST, log_fn=lambda m: None)
    r = second.result("order_id_length")
    assert (r.element_count, r.unexpected_count) == (5, 5)
    assert second.rows_validated == 5


def test_a_night_judges_the_subtotals_of_the_orders_it_loaded(scratch):
    con = scratch()
    assert night(con, "raw_orders", run_id="night-1").passed
    con.execute(f"UPDATE raw.orders SET subtotal = subtotal + 5, _loaded_at = {NIGHT_2} WHERE order_id = "
                "(SELECT min(order_id) FROM raw.order_lines)")
    con.execute(f"UPDATE raw.order_lines SET _loaded_at = {NIGHT_2} WHERE order_id = "
                "(SELECT max(order_id) FROM raw.order_lines)")  # a line reloaded: its order is judged again
    r = night(con, "raw_orders", run_id="night-2").result("subtotal_matches_lines")
    assert not r.success
    assert (r.observed_value["orders_with_lines"], r.observed_value["orders_off"]) == (2, 1)


def test_an_expectation_gx_cannot_compute_fails_naming_why(scratch):
    """GX has no regex for the DuckDB dialect: the rule fails with GX's exception, it does not pass silently."""
    from assets.quality.engine import run_suite
    from assets.quality.suites import Rule

    suite = SUITES["raw_orders"]
    regex = Rule("order_id_pattern", "value_set", "ExpectColumnValuesToMatchRegex",
                 {"column": "order_id", "regex": r"^O[0-9]+$"})
    run = run_suite(scratch(), replace(suite, rules=suite.rules + (regex,)), "regex", FAST, write_audit=False,
                    log_fn=lambda m: None, full=True)
    r = run.result("order_id_pattern")
    assert not r.success and r.exception
    assert [x.rule_id for x in run.failed()] == ["order_id_pattern"]
