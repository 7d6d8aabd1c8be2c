"""A readable `make run`: INFO console, dbt's progress lines filtered, a short end-of-run summary."""

import io
import shutil
from datetime import datetime

import duckdb
import pytest
from dagster._core.instance import DagsterInstance

from assets.dbt import DbtProgressFilter, is_dbt_progress_line
from assets.settings import PROJECT_ROOT
from orchestration.where import RunRecord, summarize_run, warehouse_records


@pytest.mark.parametrize(
    "line",
    [
        "12 of 191 START sql table model marts.mart_churn_monthly ........ [RUN]",
        "186 of 191 PASS unique_mart_churn_monthly_month ......... [\x1b[32mPASS\x1b[0m in 0.03s]",
        "1 of 1 OK hook: retention.on-run-start.0 ........ [\x1b[32mOK\x1b[0m in 0.01s]",
        "154 of 156 NO-OP exposure analysts_warehouse ......... [\x1b[33mNO-OP\x1b[0m in 0.00s]",
        "Running with dbt=1.11.16",
        "Found 27 models, 1 operation, 149 data tests, 6 sources, 560 macros, 23 unit tests",
        "",
    ],
)
def test_dbt_progress_lines_are_recognised(line):
    assert is_dbt_progress_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "7 of 191 FAIL 3 unique_stg_shop__orders_order_id ......... [\x1b[31mFAIL 3\x1b[0m in 0.05s]",
        "9 of 191 WARN 1 accepted_range_mart_retention_rate ........ [\x1b[33mWARN 1\x1b[0m in 0.02s]",
        "3 of 191 ERROR creating sql table model staging.stg_shop__orders ... [\x1b[31mERROR\x1b[0m in 0.1s]",
        "Done. PASS=192 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=192",
        "Compilation Error in model stg_shop__orders",
    ],
)
def test_dbt_failures_warnings_and_tally_are_kept(line):
    assert not is_dbt_progress_line(line)


def test_progress_filter_passes_only_kept_lines_even_when_written_in_pieces():
    out = io.StringIO()
    stream = DbtProgressFilter(out)
    stream.write("1 of 2 START sql view model staging.stg_a ... [RUN]\n2 of 2 ER")
    stream.write("ROR creating sql view model staging.stg_b\nDone. PASS=1 ERROR=1\n")
    stream.flush()
    assert out.getvalue() == "2 of 2 ERROR creating sql view model staging.stg_b\nDone. PASS=1 ERROR=1\n"


def test_summary_names_failed_steps_quarantine_warn_checks_and_as_of_date():
    run = RunRecord(
        run_id="r-1",
        status="FAILURE",
        steps={"extract_shop": "SUCCESS", "retention_dbt": "FAILURE", "published_build": "SKIPPED"},
        quarantined={"orders": 3, "carts": 1},
        warn_suites=["raw_orders"],
        as_of_date="2025-12-31",
    )
    text = "\n".join(summarize_run(run))
    assert "r-1  FAILURE" in text
    assert "steps failed:       retention_dbt" in text
    assert "steps skipped:      published_build" in text
    assert "steps succeeded:    1 step(s)" in text  # successes are counted, not listed
    assert "4 (carts 1, orders 3)" in text
    assert "WARN checks:        raw_orders" in text
    assert "as-of date:         2025-12-31" in text


def test_summary_counts_many_skipped_steps_but_names_every_failed_one():
    skipped = {f"check_{i}": "SKIPPED" for i in range(10)}
    failed = {f"step_{i}": "FAILURE" for i in range(5)}
    run = RunRecord(run_id="r-2", status="FAILURE", steps={**skipped, **failed}, quarantined={}, warn_suites=[])
    text = "\n".join(summarize_run(run))
    assert "steps skipped:      10 step(s): check_0, check_1, check_2, ..." in text
    assert "steps failed:       step_0, step_1, step_2, step_3, step_4" in text


def test_summary_of_a_quiet_night_says_the_published_build_is_current():
    steps = {"extract_shop": "SUCCESS", "retention_dbt": "SKIPPED", "published_build": "SKIPPED"}
    quiet = "\n".join(summarize_run(RunRecord(run_id="r-3", status="SUCCESS", steps=steps)))
    assert "no new data:        the last published build is current" in quiet
    failed = "\n".join(summarize_run(RunRecord(run_id="r-4", status="FAILURE", steps=steps)))
    assert "no new data" not in failed


def test_summary_of_a_clean_run_says_none():
    text = "\n".join(summarize_run(RunRecord(run_id="r-2", status="SUCCESS", steps={"a": "SUCCESS"})))
    assert "quarantined rows:   none" in text and "WARN checks:        none" in text
    assert "as-of date:         unknown" in text


def test_summary_reads_this_runs_records_from_the_build_warehouse(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA raw; CREATE SCHEMA audit; CREATE SCHEMA intermediate")
        con.execute("CREATE TABLE raw.quarantine (entity VARCHAR, run_id VARCHAR)")
        con.execute("INSERT INTO raw.quarantine VALUES ('orders','r-1'), ('orders','r-1'), ('orders','r-0')")
        con.execute("CREATE TABLE audit.suite_runs (run_id VARCHAR, suite VARCHAR, warn_failures INTEGER)")
        con.execute("INSERT INTO audit.suite_runs VALUES ('r-1','raw_orders',2), ('r-1','raw_carts',0), ('r-0','raw_customers',1)")
        con.execute("CREATE TABLE intermediate.int_as_of_date AS SELECT DATE '2025-06-30' AS as_of_date")
    got = warehouse_records(db, "r-1")
    assert got == {"quarantined": {"orders": 2}, "warn_suites": ["raw_orders"], "as_of_date": "2025-06-30",
                   "failed_rules": []}


def test_summary_repeats_the_runs_failed_rules_errors_first(tmp_path):
    from assets.quality import audit
    from assets.quality.results import RuleResult

    db = tmp_path / "warehouse.duckdb"
    lost = RuleResult("no_empty_day", "volume", "expect_column_values_to_be_between", "records_on_busy_days", False,
                      "ERROR", element_count=30, unexpected_count=1, description="no empty day",
                      examples=[{"day": "2025-06-11", "weekday_median": 57.0}])
    spike = RuleResult("daily_volume_spike", "volume", "expect_column_values_to_be_between", None, False, "WARN",
                       unexpected_count=1, examples=[{"day": "2025-06-12", "records": 400, "weekday_median": 57.0}])
    with duckdb.connect(str(db)) as con:
        audit.write_results(con, "r-1", "raw_orders", "raw/orders", [spike, lost], datetime(2025, 6, 13))
        audit.write_results(con, "r-0", "raw_orders", "raw/orders", [lost], datetime(2025, 6, 12))
    records = warehouse_records(db, "r-1")
    text = "\n".join(summarize_run(RunRecord(run_id="r-1", status="FAILURE", steps={}, **records)))
    errors, warns = text.index("ERROR raw_orders.no_empty_day: 1 day(s): 2025-06-11"), text.index("WARN raw_orders")
    assert errors < warns and 'closed_days: ["2025-06-11"]' in text, text
    assert "2025-06-12 (records 400, weekday median 57)" in text and text.count("ERROR raw_orders.no_empty_day") == 1, text


def test_summary_of_a_run_that_stopped_before_dbt_has_no_as_of_date(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw.quarantine (entity VARCHAR, run_id VARCHAR)")
    assert warehouse_records(db, "r-1") == {"quarantined": {}, "warn_suites": [], "as_of_date": None,
                                            "failed_rules": []}


def test_make_run_console_config_shows_info_and_hides_debug(capfd):
    import dagster as dg
    import yaml

    run_config = yaml.safe_load((PROJECT_ROOT / "orchestration" / "console.yaml").read_text())

    @dg.op
    def talk(context):
        context.log.debug("debug-line-hidden")
        context.log.info("info-line-shown")

    @dg.job
    def chatty():
        talk()

    assert chatty.execute_in_process(run_config=run_config).success
    printed = "".join(capfd.readouterr())
    assert "info-line-shown" in printed
    assert "debug-line-hidden" not in printed and "STEP_START" not in printed


def test_make_run_passes_the_console_config():
    run_line = next(line for line in (PROJECT_ROOT / "Makefile").read_text().splitlines() if "asset materialize" in line)
    assert "-c orchestration/console.yaml" in run_line


def test_instance_keeps_python_logs_from_info_up(tmp_path):
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.python_log_level == "INFO"
    finally:
        instance.dispose()


def test_summary_skips_the_warehouse_while_a_run_writes_it(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "warehouse.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(db)!r}); print('open', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "open"
        assert warehouse_records(db, "r-1") == {}
    finally:
        writer.kill()
        writer.wait()


def test_warn_checks_lists_failed_warn_checks_other_than_the_suites():
    import dagster as dg

    from orchestration.where import warn_checks

    @dg.asset(check_specs=[dg.AssetCheckSpec("model_fit", asset="scores"),
                           dg.AssetCheckSpec("gx_scores", asset="scores"),
                           dg.AssetCheckSpec("fresh", asset="scores")])
    def scores():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="model_fit", passed=False, severity=dg.AssetCheckSeverity.WARN)
        # the suites' WARN results are read from audit.suite_runs, not here
        yield dg.AssetCheckResult(check_name="gx_scores", passed=False, severity=dg.AssetCheckSeverity.WARN)
        yield dg.AssetCheckResult(check_name="fresh", passed=True)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([scores], instance=instance)
    assert warn_checks(instance, result.run_id) == ["scores.model_fit"]
