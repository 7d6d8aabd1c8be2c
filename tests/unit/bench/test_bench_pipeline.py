"""The harness's pure parts: stages from a run's event log, goal verdicts, the tables."""

import json

import pytest

# A tiny run as the event log and execution plan record it: extraction, a raw
# suite, dbt in two invocations, a mart suite, predictions, publish.
STAGE_OF = {
    "raw/orders": "extraction",
    "raw/carts": "extraction",
    "staging/stg_orders": "dbt",
    "marts/mart_a": "dbt",
    "marts/mart_churn": "dbt",
    "marts/mart_predictions": "predictions",
    "published_warehouse": "publish",
}
PLAN = {
    "extract_shop": {"assets": ["raw/orders", "raw/carts"], "check_targets": []},
    "raw__orders_suite": {"assets": [], "check_targets": ["raw/orders"]},
    "retention_dbt": {"assets": ["staging/stg_orders", "marts/mart_a"], "check_targets": ["staging/stg_orders"]},
    "marts__mart_a_suite": {"assets": [], "check_targets": ["marts/mart_a"]},
    "predict": {"assets": ["marts/mart_predictions"], "check_targets": ["marts/mart_predictions"]},
    "retention_dbt_2": {"assets": ["marts/mart_churn"], "check_targets": []},
    "publish": {"assets": ["published_warehouse"], "check_targets": []},
}


def _events(spans, run=(0.0, 100.0)):
    events = [{"type": "RUN_START", "step": None, "ts": run[0]}]
    for step, (start, end) in spans.items():
        events += [{"type": "STEP_START", "step": step, "ts": start}, {"type": "STEP_SUCCESS", "step": step, "ts": end}]
    return events + [{"type": "RUN_SUCCESS", "step": None, "ts": run[1]}]


SPANS = {
    "extract_shop": (1.0, 11.0),
    "raw__orders_suite": (11.5, 14.0),
    "retention_dbt": (14.0, 44.0),
    "marts__mart_a_suite": (44.0, 45.5),
    "predict": (45.5, 48.5),
    "retention_dbt_2": (48.5, 53.5),
    "publish": (53.5, 55.0),
}


@pytest.mark.parametrize(
    ("group", "kinds", "stage"),
    [
        ("extraction", {"duckdb", "python"}, "extraction"),
        ("marts", {"dbt", "duckdb"}, "dbt"),
        ("staging", {"dbt"}, "dbt"),
        ("marts", {"python", "duckdb"}, "predictions"),
        ("serving", {"parquet"}, "publish"),
        ("exports_v2", {"python"}, "exports_v2"),
    ],
)
def test_asset_stage_follows_group_and_kind(bench_pipeline, group, kinds, stage):
    assert bench_pipeline.asset_stage(group, kinds) == stage


def test_check_only_steps_are_raw_or_mart_checks_by_their_target(bench_pipeline):
    step_stage = bench_pipeline.step_stage
    assert step_stage([], ["raw/orders", "raw/carts"], STAGE_OF) == "raw checks"
    assert step_stage([], ["marts/mart_a"], STAGE_OF) == "mart checks"
    assert step_stage([], ["marts/mart_predictions"], STAGE_OF) == "mart checks"


def test_a_step_that_materializes_takes_its_assets_stage_even_with_checks(bench_pipeline):
    assert bench_pipeline.step_stage(["staging/stg_orders"], ["staging/stg_orders"], STAGE_OF) == "dbt"
    assert bench_pipeline.step_stage(["marts/mart_predictions"], ["marts/mart_predictions"], STAGE_OF) == "predictions"


def test_a_step_with_unknown_outputs_is_unclassified(bench_pipeline):
    assert bench_pipeline.step_stage(["elsewhere/x"], [], STAGE_OF) == "unclassified"
    assert bench_pipeline.step_stage([], [], STAGE_OF) == "unclassified"


def test_stage_seconds_sum_each_stages_steps_including_both_dbt_invocations(bench_pipeline):
    stages = bench_pipeline.stage_seconds(_events(SPANS), PLAN, STAGE_OF)
    expected = {
        "extraction": SPANS["extract_shop"][1] - SPANS["extract_shop"][0],
        "raw checks": SPANS["raw__orders_suite"][1] - SPANS["raw__orders_suite"][0],
        "dbt": sum(SPANS[s][1] - SPANS[s][0] for s in ("retention_dbt", "retention_dbt_2")),
        "mart checks": SPANS["marts__mart_a_suite"][1] - SPANS["marts__mart_a_suite"][0],
        "predictions": SPANS["predict"][1] - SPANS["predict"][0],
        "publish": SPANS["publish"][1] - SPANS["publish"][0],
    }
    assert stages == pytest.approx(expected)


def test_a_failed_step_counts_until_its_failure_and_a_skipped_step_not_at_all(bench_pipeline):
    events = [
        {"type": "STEP_START", "step": "extract_shop", "ts": 2.0},
        {"type": "STEP_FAILURE", "step": "extract_shop", "ts": 5.5},
        {"type": "STEP_SKIPPED", "step": "retention_dbt", "ts": 5.6},
    ]
    assert bench_pipeline.step_durations(events) == {"extract_shop": 3.5}


def test_run_span_is_run_start_to_its_end_and_unknown_without_an_end(bench_pipeline):
    assert bench_pipeline.run_span(_events(SPANS, run=(0.5, 60.0))) == pytest.approx(59.5)
    assert bench_pipeline.run_span(_events(SPANS)[:-1]) is None


def test_time_between_steps_is_the_runs_span_less_its_steps(bench_pipeline):
    stages = bench_pipeline.stage_seconds(_events(SPANS), PLAN, STAGE_OF)
    r = bench_pipeline.RunResult("full", wall=70.0, peak_tree_bytes=1, peak_process_bytes=1, stages=stages, in_run=60.0)
    assert r.between_steps == pytest.approx(60.0 - sum(stages.values()))


def test_outside_run_splits_start_up_before_the_run_and_exit_after_it(bench_pipeline):
    events = _events(SPANS, run=(1000.0, 1060.0))
    assert bench_pipeline.outside_run(992.5, 1061.25, events) == pytest.approx((7.5, 1.25))
    assert bench_pipeline.outside_run(992.5, 1061.25, events[:-1]) == (pytest.approx(7.5), None)


def test_descendants_walk_the_whole_tree_below_root_only(bench_pipeline):
    parent_of = {10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
    assert bench_pipeline.descendants(10, parent_of) == {10, 11, 12, 13}
    assert bench_pipeline.descendants(13, parent_of) == {13}


def _runs(bench_pipeline, full_wall, one_day_wall, no_data_wall, stages, peak):
    R = bench_pipeline.RunResult
    return {
        "full": R("full", full_wall, peak, peak, stages=stages),
        "nightly one day": R("nightly one day", one_day_wall, peak // 2, peak // 2),
        "nightly no data": R("nightly no data", no_data_wall, peak // 2, peak // 2),
    }


def test_verdicts_compute_each_goals_ratio_and_say_met_or_not(bench_pipeline):
    gib = bench_pipeline.GIB
    stages = {"extraction": 10.0, "raw checks": 2.0, "dbt": 20.0, "mart checks": 1.0}
    runs = _runs(bench_pipeline, 40.0, 3.0, 2.5, stages, 5 * gib)
    by_what = {v.what: v for v in bench_pipeline.verdicts(runs, anchor_extract_s=5.5, anchor_marts_s=2.4, orders=1_000_000)}

    extraction = by_what["extraction / bare read-dedupe-persist"]
    assert extraction.ratio == pytest.approx(10.0 / 5.5) and extraction.met == "met"
    dbt = by_what["dbt step / (bare marts SQL x 1.3 + 15 s)"]
    assert dbt.ratio == pytest.approx(20.0 / (2.4 * 1.3 + 15)) and dbt.met == "not met"
    quality = by_what["quality gates / wall (full)"]
    assert quality.ratio == pytest.approx(3.0 / 40.0) and quality.met == "met" and quality.goal == "<= 13%"
    at_10m = {v.what: v for v in bench_pipeline.verdicts(runs, 5.5, 2.4, orders=10_000_000)}
    assert at_10m["quality gates / wall (full)"].met == "not met"  # 7.5 % against 6 % at 10M
    assert by_what["nightly one day / full (wall)"].ratio == pytest.approx(3.0 / 40.0)
    assert by_what["nightly one day / full (wall)"].met == "met"
    assert by_what["nightly no data / full (wall)"].ratio == pytest.approx(2.5 / 40.0)
    assert by_what["nightly no data / full (wall)"].met == "not met"
    assert by_what["full wall / goal at this scale"].ratio == pytest.approx(1.0)
    assert by_what["full wall / goal at this scale"].met == "met"
    assert by_what["peak RSS (tree) / 4 GiB"].ratio == pytest.approx(5 / 4) and by_what["peak RSS (tree) / 4 GiB"].met == "not met"


def test_wall_goal_follows_the_scale_and_is_na_where_the_goals_name_none(bench_pipeline):
    runs = _runs(bench_pipeline, 200.0, 10.0, 5.0, {"extraction": 1.0, "dbt": 1.0}, 1)
    at = {orders: {v.what: v for v in bench_pipeline.verdicts(runs, 1.0, 1.0, orders)} for orders in (10_000_000, 20_000)}
    assert at[10_000_000]["full wall / goal at this scale"].ratio == pytest.approx(200.0 / 240.0)
    assert at[20_000]["full wall / goal at this scale"].ratio is None
    assert at[20_000]["full wall / goal at this scale"].met == "n/a"


def test_runs_table_has_a_row_per_run_and_anchor_and_a_column_per_stage(bench_pipeline):
    stages = bench_pipeline.stage_seconds(_events(SPANS), PLAN, STAGE_OF)
    run = bench_pipeline.RunResult("full", 70.0, 3 * bench_pipeline.MIB, 2 * bench_pipeline.MIB, "SUCCESS", stages, 60.0, 1.5)
    anchors = {"read-dedupe-persist": {"wall": 6.0, "peak_tree_bytes": 0, "peak_process_bytes": 0}}
    lines = bench_pipeline.runs_table([run], anchors).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert [f"{s} s" for s in bench_pipeline.STAGES] == header[5:5 + len(bench_pipeline.STAGES)]
    assert len(lines) == 2 + 2
    full = [c.strip() for c in lines[2].strip("|").split("|")]
    assert len(full) == len(header)
    assert full[header.index("dbt s")] == f"{stages['dbt']:.1f}"
    assert full[header.index("peak RSS MiB (tree)")] == "3"
    assert lines[3].startswith("| anchor: read-dedupe-persist |")


def test_a_stage_outside_the_known_ones_gets_its_own_column(bench_pipeline):
    assert bench_pipeline.ordered_stages(["dbt", "exports_v2"]) == [*bench_pipeline.STAGES, "exports_v2"]


def test_dbt_breakdown_adds_elapsed_and_node_seconds_by_kind_over_invocations(bench_pipeline):
    invocations = {
        "retention_dbt": {"elapsed_time": 16.0, "results": [
            {"unique_id": "model.retention.int_orders", "execution_time": 3.0},
            {"unique_id": "model.retention.mart_a", "execution_time": 1.5},
            {"unique_id": "test.retention.unique_x", "execution_time": 0.5},
            {"unique_id": "unit_test.retention.mart_a.case", "execution_time": 0.25},
            {"unique_id": "operation.retention.on-run-end", "execution_time": 0.01},
        ]},
        "retention_dbt_2": {"elapsed_time": 4.0, "results": [
            {"unique_id": "model.retention.mart_churn", "execution_time": 2.0},
        ]},
    }
    assert bench_pipeline.dbt_breakdown(invocations) == pytest.approx(
        {"elapsed": 20.0, "model": 6.5, "test": 0.5, "unit_test": 0.25}
    )


def test_dbt_table_shows_the_step_time_dbt_itself_does_not_account_for(bench_pipeline):
    run = bench_pipeline.RunResult("full", 70.0, 1, 1, stages={"dbt": 25.0},
                                   dbt={"elapsed": 16.0, "model": 14.0, "test": 11.0, "unit_test": 5.0})
    header, _, row = bench_pipeline.dbt_table([run]).splitlines()
    cells = dict(zip((c.strip() for c in header.strip("|").split("|")), (c.strip() for c in row.strip("|").split("|"))))
    assert cells["step less dbt elapsed s"] == "9.0"
    assert cells["node s: unit tests"] == "5.0"


# --- engines: Spark beside DuckDB ------------------------------------------------

SPARK_LINE = 'spark step seconds: {"export_raw": 1.2, "dbt": 80.1, "fit": 3.4, "copy_back": 2.0}'


def test_spark_step_seconds_reads_the_steps_json_line_in_its_key_order(bench_pipeline):
    parts = bench_pipeline.spark_step_seconds(["dbt vars: {}", SPARK_LINE, "copied 32 Spark tables"])
    assert parts == pytest.approx({"export_raw": 1.2, "dbt": 80.1, "fit": 3.4, "copy_back": 2.0})
    assert list(parts) == ["export_raw", "dbt", "fit", "copy_back"]


def test_spark_step_seconds_takes_any_keys_and_adds_up_a_key_over_several_lines(bench_pipeline):
    lines = [
        'retention_dbt - spark step seconds: {"dbt_phase_1": 50.5, "dbt_phase_2": 20.0, "fit": 3.0}',
        'spark step seconds: {"fit": 1.5} (second dbt step)',
    ]
    assert bench_pipeline.spark_step_seconds(lines) == pytest.approx({"dbt_phase_1": 50.5, "dbt_phase_2": 20.0, "fit": 4.5})


def test_spark_step_seconds_is_empty_without_the_line_and_skips_what_does_not_parse(bench_pipeline):
    assert bench_pipeline.spark_step_seconds([]) == {}
    assert bench_pipeline.spark_step_seconds(["dbt vars: {}", None]) == {}
    broken = ["spark step seconds: {not json", 'spark step seconds: [1, 2]', 'spark step seconds: {"dbt": "slow", "ok": true}']
    assert bench_pipeline.spark_step_seconds(broken) == {}


def test_selected_runs_keeps_pipeline_order_and_needs_the_full_run_for_a_night(bench_pipeline):
    assert bench_pipeline.selected_runs(["no-data", "full"]) == ["full", "nightly no data"]
    assert bench_pipeline.selected_runs(list(bench_pipeline.RUN_OPTIONS)) == list(bench_pipeline.RUNS)
    with pytest.raises(ValueError, match="add full"):
        bench_pipeline.selected_runs(["one-day"])
    with pytest.raises(ValueError, match="unknown weekly"):
        bench_pipeline.selected_runs(["full", "weekly"])


def test_one_engine_uses_the_run_folder_and_two_engines_get_a_folder_each(bench_pipeline, tmp_path):
    assert bench_pipeline.engine_dirs(tmp_path, ["duckdb"]) == {"duckdb": tmp_path}
    both = bench_pipeline.engine_dirs(tmp_path, bench_pipeline.ENGINES)
    assert set(both) == set(bench_pipeline.ENGINES)
    assert len(set(both.values())) == 2 and all(p.parent == tmp_path for p in both.values())


def test_run_env_sets_the_engine_over_an_inherited_one(bench_pipeline, tmp_path, monkeypatch):
    monkeypatch.setenv("RETENTION_ENGINE", "duckdb")
    env = bench_pipeline.run_env(tmp_path / "landing", tmp_path / "data", tmp_path / "home", "spark")
    assert env["RETENTION_ENGINE"] == "spark"
    assert bench_pipeline.run_env(tmp_path, tmp_path, tmp_path)["RETENTION_ENGINE"] == "duckdb"


def test_spark_driver_memory_reaches_the_spark_profile_on_the_spark_engine_only(bench_pipeline, tmp_path, monkeypatch):
    monkeypatch.delenv("RETENTION_SPARK_DRIVER_MEMORY", raising=False)
    spark = bench_pipeline.run_env(tmp_path, tmp_path, tmp_path, "spark", spark_driver_memory="3g")
    assert spark["RETENTION_SPARK_DRIVER_MEMORY"] == "3g"
    duck = bench_pipeline.run_env(tmp_path, tmp_path, tmp_path, "duckdb", spark_driver_memory="3g")
    assert "RETENTION_SPARK_DRIVER_MEMORY" not in duck
    assert "RETENTION_SPARK_DRIVER_MEMORY" not in bench_pipeline.run_env(tmp_path, tmp_path, tmp_path, "spark")


def test_dbt_breakdown_without_invocations_is_empty_and_missing_fields_count_as_zero(bench_pipeline):
    assert bench_pipeline.dbt_breakdown({}) == {}
    sparse = {"retention_dbt": {"elapsed_time": None, "results": [
        {"unique_id": "model.retention.int_orders"},
        {"execution_time": 2.0},
        {"unique_id": "test.retention.unique_x", "execution_time": 0.5},
    ]}}
    assert bench_pipeline.dbt_breakdown(sparse) == pytest.approx({"elapsed": 0.0, "model": 0.0, "test": 0.5, "unit_test": 0.0})


def _run_results(elapsed, *nodes):
    return json.dumps({"elapsed_time": elapsed, "args": {"target": "spark"},
                       "results": [{"unique_id": u, "execution_time": t, "status": "success"} for u, t in nodes]})


def test_dbt_invocations_finds_run_results_at_any_depth_and_skips_broken_files(bench_pipeline, tmp_path):
    (tmp_path / "retention_dbt").mkdir()
    (tmp_path / "retention_dbt" / "run_results.json").write_text(_run_results(10.0, ("model.retention.a", 4.0)))
    (tmp_path / "retention_dbt" / "phase_2").mkdir()
    (tmp_path / "retention_dbt" / "phase_2" / "run_results.json").write_text(_run_results(5.0, ("test.retention.t", 1.0)))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "run_results.json").write_text('{"elapsed_time": 3')
    found = bench_pipeline.dbt_invocations(tmp_path)
    assert set(found) == {"retention_dbt", "retention_dbt/phase_2"}
    assert bench_pipeline.dbt_breakdown(found) == pytest.approx({"elapsed": 15.0, "model": 4.0, "test": 1.0, "unit_test": 0.0})
    assert bench_pipeline.dbt_invocations(tmp_path / "no_such_run") == {}


def test_dbt_table_shows_dashes_for_a_run_without_dbt_results(bench_pipeline):
    run = bench_pipeline.RunResult("full", 70.0, 1, 1, stages={"dbt": 25.0}, engine="spark")
    cells = [c.strip() for c in bench_pipeline.dbt_table([run]).splitlines()[2].strip("|").split("|")]
    assert cells[0] == "full (spark)"
    assert cells[1] == "25.0" and cells[2:] == ["-"] * 5


def _engine_pair(bench_pipeline, spark_parts):
    R, mib = bench_pipeline.RunResult, bench_pipeline.MIB
    duck = R("full", 40.0, 1000 * mib, 800 * mib, stages={"extraction": 6.0, "dbt": 20.0, "publish": 2.0})
    spark = R("full", 200.0, 3000 * mib, 1500 * mib, stages={"extraction": 6.5, "dbt": 170.0, "publish": 2.5},
              engine="spark", spark_parts=spark_parts)
    return duck, spark


def _table_cells(table: str) -> dict[str, list[str]]:
    return {cells[1]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])}


def test_engines_table_sets_each_stage_and_wall_side_by_side_with_the_ratio(bench_pipeline):
    duck, spark = _engine_pair(bench_pipeline, {})
    rows = _table_cells(bench_pipeline.engines_table([duck], [spark]))
    assert rows["dbt s"] == ["full", "dbt s", "20.0", "170.0", f"{170.0 / 20.0:.2f}x"]
    assert rows["wall s"][2:] == ["40.0", "200.0", f"{200.0 / 40.0:.2f}x"]
    assert rows["peak RSS MiB (tree)"][2:4] == ["1,000", "3,000"]
    assert rows["raw checks s"][2:] == ["-", "-", "-"]
    assert not any(what.startswith("dbt: ") for what in rows)


def test_engines_table_puts_the_spark_steps_parts_under_dbt_in_the_spark_column(bench_pipeline):
    duck, spark = _engine_pair(bench_pipeline, {"export_raw": 1.2, "dbt": 150.0, "copy_back": 2.0})
    table = bench_pipeline.engines_table([duck], [spark])
    whats = list(_table_cells(table))
    at = whats.index("dbt s")
    assert whats[at + 1:at + 4] == ["dbt: export_raw s", "dbt: dbt s", "dbt: copy_back s"]
    assert _table_cells(table)["dbt: export_raw s"][2:] == ["-", "1.2", "-"]


def test_engines_table_pairs_only_runs_both_engines_did(bench_pipeline):
    duck, spark = _engine_pair(bench_pipeline, {})
    night = bench_pipeline.RunResult("nightly one day", 10.0, 1, 1, stages={"dbt": 5.0})
    lines = bench_pipeline.engines_table([duck, night], [spark]).splitlines()[2:]
    assert {line.strip("|").split("|")[0].strip() for line in lines} == {"full"}


def test_verdicts_against_skipped_anchors_read_na_and_the_others_still_count(bench_pipeline):
    runs = _runs(bench_pipeline, 40.0, 3.0, 2.5, {"extraction": 10.0, "dbt": 20.0, "raw checks": 2.0}, 1)
    by_what = {v.what: v for v in bench_pipeline.verdicts(runs, None, None, 1_000_000)}
    assert by_what["extraction / bare read-dedupe-persist"].met == "n/a"
    assert by_what["dbt step / (bare marts SQL x 1.3 + 15 s)"].met == "n/a"
    assert by_what["extraction / bare read-dedupe-persist"].measured == "10.0 s / no anchor"
    assert by_what["quality gates / wall (full)"].ratio == pytest.approx(2.0 / 40.0)


def test_models_fall_in_the_first_family_whose_pattern_matches_else_other(bench_pipeline):
    assert bench_pipeline.model_group("mart_audience_members") == "audiences"
    assert bench_pipeline.model_group("int_audience_backtest_predictions") == "audiences"
    assert bench_pipeline.model_group("int_change_periods") == "changes"
    assert bench_pipeline.model_group("mart_metric_changes") == "changes"
    assert bench_pipeline.model_group("int_metric_segments") == "changes"
    assert bench_pipeline.model_group("mart_customer_churn") == "other models"
    assert bench_pipeline.model_group("mart_audience") == "other models"  # the pattern needs the underscore


def test_dbt_group_seconds_splits_node_seconds_by_family_and_kind_over_invocations(bench_pipeline):
    invocations = {
        "a": {"elapsed_time": 10.0, "results": [
            {"unique_id": "model.retention.mart_audience_members", "execution_time": 2.0},
            {"unique_id": "model.retention.int_change_periods.v2", "execution_time": 1.0},
            {"unique_id": "model.retention.int_orders", "execution_time": 4.0},
            {"unique_id": "test.retention.unique_int_orders_order_id", "execution_time": 0.5},
            {"unique_id": "unit_test.retention.mart_a.case", "execution_time": 0.25},
            {"unique_id": "operation.retention.on-run-end", "execution_time": 9.0},
        ]},
        "b": {"elapsed_time": 2.0, "results": [{"unique_id": "model.retention.mart_change_notes", "execution_time": 1.5}]},
    }
    got = bench_pipeline.dbt_group_seconds(invocations)
    assert got == pytest.approx({"audiences": 2.0, "changes": 2.5, "other models": 4.0, "data tests": 0.5,
                                 "unit tests": 0.25, "all nodes": 9.25})
    assert bench_pipeline.dbt_group_seconds({}) == {}
    assert bench_pipeline.top_models(invocations, 2) == [("int_orders", 4.0), ("mart_audience_members", 2.0)]


def test_dbt_groups_table_gives_each_familys_share_and_its_estimate_of_elapsed(bench_pipeline):
    run = bench_pipeline.RunResult("full", 70.0, 1, 1, stages={"dbt": 25.0}, dbt={"elapsed": 20.0},
                                   dbt_groups={"audiences": 2.0, "changes": 3.0, "other models": 10.0, "data tests": 5.0,
                                               "unit tests": 0.0, "all nodes": 20.0},
                                   dbt_top=[("int_orders", 4.0)])
    lines = bench_pipeline.dbt_groups_table([run]).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|"))))
    assert row["audiences node s"] == "2.0 (10%)" and row["changes node s"] == "3.0 (15%)"
    assert row["audiences + changes: est. elapsed s"] == "5.0"  # 25% of 20 s
    assert row["top models (node s)"] == "int_orders 4.0"


def test_night_split_table_gives_each_stage_and_fixed_cost_as_a_share_of_wall(bench_pipeline):
    runs = [bench_pipeline.RunResult("full", 100.0, 1, 1, stages={"extraction": 20.0, "dbt": 50.0}, in_run=80.0, startup=15.0, after_run=5.0),
            bench_pipeline.RunResult("nightly one day", 40.0, 1, 1, stages={"dbt": 20.0}, in_run=30.0, startup=8.0, after_run=2.0)]
    lines = bench_pipeline.night_split_table(runs).splitlines()
    rows = {c[0]: c[1:] for c in ([x.strip() for x in line.strip("|").split("|")] for line in lines[2:])}
    assert rows["dbt"] == ["50.0 (50%)", "20.0 (50%)"]
    assert rows["extraction"] == ["20.0 (20%)", "-"]
    assert rows["between steps"] == ["10.0 (10%)", "10.0 (25%)"]
    assert rows["start-up"] == ["15.0 (15%)", "8.0 (20%)"]
    assert rows["wall"] == ["100.0", "40.0"]


def test_the_one_day_and_anchor_goals_follow_the_scale(bench_pipeline):
    runs = _runs(bench_pipeline, 50.0, 6.0, 2.0, {"extraction": 1.0, "dbt": 1.0}, 1)
    at = {orders: {v.what: v for v in bench_pipeline.verdicts(runs, 6.0, 4.0, orders)} for orders in (1_000_000, 10_000_000, 20_000)}
    assert at[1_000_000]["nightly one day / full (wall)"].met == "met"  # 12% <= 15%
    assert at[10_000_000]["nightly one day / full (wall)"].met == "not met"  # 12% > 10%
    anchors = "full wall / (read-dedupe-persist + marts SQL)"
    assert at[1_000_000][anchors].ratio == pytest.approx(5.0) and at[1_000_000][anchors].met == "met"
    assert at[10_000_000][anchors].met == "not met"
    assert at[20_000][anchors].met == "n/a"


def test_until_config_names_the_extractions_until_for_the_freshness_rules(bench_pipeline, tmp_path):
    import yaml
    from datetime import datetime

    path = bench_pipeline.until_config(tmp_path, datetime(2025, 12, 31, 23, 59, 59))
    assert yaml.safe_load(path.read_text()) == {"ops": {"extract_shop": {"config": {"until": "2025-12-31T23:59:59"}}}}
