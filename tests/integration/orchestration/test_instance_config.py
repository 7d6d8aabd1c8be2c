"""The project's dagster.yaml: loads as an instance config with run monitoring, no telemetry, one run at a time."""

from __future__ import annotations

import shutil
import subprocess

from dagster._core.instance import DagsterInstance

from assets.settings import PROJECT_ROOT


def test_project_instance_config_monitors_runs_and_queues_one_at_a_time(tmp_path):
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0  # killed runs are failed, not resumed
        # The default launcher cannot see a dead worker: a run still STARTED after this long is failed.
        assert 0 < instance.run_monitoring_max_runtime_seconds <= 6 * 3600
        assert not instance.telemetry_enabled
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
    finally:
        instance.dispose()


def test_make_puts_the_project_instance_config_in_dagster_home(tmp_path):
    home = tmp_path / "home"
    out = subprocess.run(
        ["make", "-s", "dagster-home", f"DAGSTER_HOME={home}"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert (home / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster.yaml").read_text()
