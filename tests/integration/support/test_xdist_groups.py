"""A group of tests runs on one xdist worker (`xdist_group` marks under `--dist loadgroup`), the rest spread.

A throwaway suite in tmp_path, run with `-n 2 --dist loadgroup` in a
subprocess: its conftest marks groups the way tests/conftest.py does.
Each test writes the pid of the worker that ran it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from assets.settings import PROJECT_ROOT

CONFTEST = '''
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "grouped" in item.name:
            item.add_marker(pytest.mark.xdist_group("shared"))
'''

TESTS = '''
import os, time
import pytest

@pytest.mark.parametrize("i", range(6))
def test_grouped(i, tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent.parent / f"grouped{i}").write_text(str(os.getpid()))
    time.sleep(0.2)

@pytest.mark.parametrize("i", range(6))
def test_free(i, tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent.parent / f"free{i}").write_text(str(os.getpid()))
    time.sleep(0.2)
'''


def test_grouped_tests_share_one_worker_and_both_workers_take_work(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_groups.py").write_text(TESTS)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
         "--no-loadscope-reorder", "--rootdir", str(suite), "--basetemp", str(out / "base"), str(suite)],
        cwd=suite, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    pids = {p.name: p.read_text() for p in out.iterdir() if p.is_file()}
    grouped = {v for k, v in pids.items() if k.startswith("grouped")}
    free = {v for k, v in pids.items() if k.startswith("free")}
    assert len([k for k in pids if k.startswith("grouped")]) == 6, json.dumps(pids)
    assert len(grouped) == 1, f"the grouped tests ran on {len(grouped)} workers: {pids}"
    # Both workers took work (which tests each takes is xdist's choice), so one group is not one worker by default.
    assert len(grouped | free) == 2, f"the tests ran on {len(grouped | free)} worker(s), expected both: {pids}"
