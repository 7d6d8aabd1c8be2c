"""The build switch: warehouse, exports and report of a run become visible together."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from assets.serving.exports import read_manifest
from assets.serving.publish import PublishError, switch_build
from assets.warehouse import DataLayout

PY = sys.executable

# One run's serving steps, as the Dagster assets do them, with a pause hook.
STAGE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from assets.serving.exports import write_exports
    from assets.serving.publish import publish_database, switch_build
    from assets.serving.report import build_report, write_report
    from assets.warehouse import DataLayout
    data, run_id, stop_before, marker = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    layout = DataLayout(data)
    stage = layout.stage_dir(run_id)
    def step(name):
        if name == stop_before:
            marker.touch()
            time.sleep(60)
    step("warehouse")
    publish_database(layout.build_db, stage / "warehouse.duckdb", tag=run_id)
    step("exports")
    write_exports(layout.build_db, stage / "exports", run_id=run_id)
    step("report")
    write_report(build_report({}, as_of_date=None, currency="USD", shop_name="Shop", run_id=run_id,
                              churn_after_days=180), stage / "report")
    step("switch")
    switch_build(layout, run_id)
    """
)


def run_serving(data: Path, run_id: str, kill_before: str | None = None, tmp: Path | None = None) -> None:
    marker = (tmp or data) / f"paused-{run_id}"
    proc = subprocess.Popen([PY, "-c", STAGE, str(data), run_id, kill_before or "-", str(marker)])
    try:
        if kill_before is None:
            assert proc.wait(timeout=120) == 0
            return
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), f"the serving subprocess never reached {kill_before}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()


def add_customers(build_db: Path, n: int) -> None:
    con = duckdb.connect(str(build_db))
    con.execute(
        f"INSERT INTO marts.mart_customer_churn (customer_id, orders_count, is_churned) "
        f"SELECT 'new' || i, 1, false FROM range({n}) t(i)"
    )
    con.close()


def visible_build(data: Path) -> dict[str, object]:
    """What analysts, BI and the shop owner see through the stable paths."""
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        analysts = con.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()[0]
    finally:
        con.close()
    manifest = read_manifest(data / "exports")
    bi = duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{data / 'exports' / 'mart_customer_churn'}/*.parquet')"
    ).fetchone()[0]
    html = (data / "report" / "index.html").read_text()
    return {"analysts": analysts, "bi": bi, "manifest_run": manifest["run_id"], "report_run": manifest["run_id"] in html}


@pytest.mark.parametrize("kill_before", ["exports", "report", "switch"])
def test_killed_run_leaves_analysts_bi_and_report_on_the_same_old_build(make_db, tmp_path, kill_before):
    data = tmp_path / "data"
    build_db = make_db(DataLayout(data).build_db)
    run_serving(data, "run-a")
    before = visible_build(data)
    assert before == {"analysts": 50, "bi": 50, "manifest_run": "run-a", "report_run": True}

    add_customers(build_db, 10)
    run_serving(data, "run-b", kill_before=kill_before, tmp=tmp_path)
    assert visible_build(data) == before

    # The next good run switches all three at once and clears the killed run's stage.
    run_serving(data, "run-c")
    assert visible_build(data) == {"analysts": 60, "bi": 60, "manifest_run": "run-c", "report_run": True}
    assert not [p for p in (data / "builds").iterdir() if p.name.startswith(".stage-")]


def test_switch_refuses_a_partial_stage_and_changes_nothing(make_db, tmp_path):
    data = tmp_path / "data"
    make_db(DataLayout(data).build_db)
    run_serving(data, "run-a")
    before = os.readlink(data / "current")
    stage = DataLayout(data).stage_dir("run-b")
    (stage / "exports").mkdir(parents=True)
    (stage / "exports" / "_manifest.json").write_text("{}")
    with pytest.raises(PublishError, match=r"lacks \['warehouse.duckdb', 'report/index.html'\]"):
        switch_build(DataLayout(data), "run-b")
    assert os.readlink(data / "current") == before


def test_old_builds_are_pruned_and_stable_paths_are_symlinks(make_db, tmp_path):
    data = tmp_path / "data"
    make_db(DataLayout(data).build_db)
    for run in ("run-1", "run-2", "run-3"):
        run_serving(data, run)
    builds = sorted(p.name for p in (data / "builds").iterdir())
    assert len(builds) == 2 and builds[-1].endswith("run-3")
    for name in ("warehouse.duckdb", "exports", "report"):
        assert (data / name).is_symlink() and os.readlink(data / name) == f"current/{name}"
    for f in [data / "warehouse.duckdb", data / "report" / "index.html", *(data / "exports").rglob("*.parquet")]:
        assert stat.S_IMODE(f.resolve().stat().st_mode) & 0o222 == 0, f


def test_files_from_the_layout_before_builds_are_replaced_by_links(make_db, tmp_path):
    data = tmp_path / "data"
    make_db(DataLayout(data).build_db)
    (data / "exports" / "mart_x").mkdir(parents=True)
    (data / "report").mkdir()
    (data / "report" / "index.html").write_text("old report")
    (data / "warehouse.duckdb").write_bytes(b"old file")
    run_serving(data, "run-a")
    assert visible_build(data)["manifest_run"] == "run-a"
    assert not (data / "exports" / "mart_x").exists()


def test_wal_left_by_a_read_write_session_breaks_read_only_opens_for_one_run_at_most(make_db, tmp_path):
    data = tmp_path / "data"
    make_db(DataLayout(data).build_db)
    run_serving(data, "run-a")
    published = data / "warehouse.duckdb"
    # A crashed read-write session: its WAL sits next to the file it opened.
    crash = textwrap.dedent(
        f"""
        import os, duckdb
        con = duckdb.connect({str(published)!r})
        con.execute("CREATE TABLE marts.scratch AS SELECT range AS i FROM range(10)")
        os._exit(1)
        """
    )
    os.chmod(published.resolve(), 0o644)  # the analyst made it writable, too
    subprocess.run([PY, "-c", crash])
    wal = Path(str(published.resolve()) + ".wal")
    assert wal.exists()
    run_serving(data, "run-b")
    assert not wal.exists()
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.mart_customer_churn").fetchone()[0] == 50
    con.close()
    assert json.loads((data / "exports" / "_manifest.json").read_text())["run_id"] == "run-b"


def test_where_names_the_current_build(make_db, tmp_path, monkeypatch):
    from assets.settings import Settings
    from orchestration.where import describe

    data = tmp_path / "data"
    make_db(DataLayout(data).build_db)
    monkeypatch.setenv("RETENTION_DATA_DIR", str(data))
    assert "none published yet" in "\n".join(describe(Settings.from_env()))
    run_serving(data, "run-a")
    text = "\n".join(describe(Settings.from_env()))
    assert f"current build:        {os.readlink(data / 'current').split('/')[-1]}" in text
    assert "run run-a" in text
