"""Tests that share an expensive fixture run on one xdist worker; the groups travel from the workers by file.

pytest-xdist's `loadgroup` learns a test's group from a suffix it appends
to the test's node id on the worker (`<id>@<group>`). With pytest 9.2's
structured node ids that suffix is silently lost: every test was scheduled
on its own, and a module's shared fixture (a pipeline run, a Spark build)
was built on both workers at once, doubling the costliest part of the suite.

Here the workers write {node id: group} to a folder the controller made
(`RETENTION_TEST_GROUPS_DIR`, set before the workers start), and the
controller's scheduler, `loadgroup`'s own with the group lookup replaced,
reads it once every worker has collected. A test with no group is a work
unit of its own, as in xdist's `load`. Work units are handed out in the
collection order (`--no-loadscope-reorder`), which tests/conftest.py sorts
slowest first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

GROUPS_DIR_ENV = "RETENTION_TEST_GROUPS_DIR"


def publish_groups(config: pytest.Config, groups: dict[str, str]) -> Path | None:
    """On an xdist worker: write this worker's {node id: group}; elsewhere nothing (returns the file written)."""
    folder = os.environ.get(GROUPS_DIR_ENV)
    workerinput = getattr(config, "workerinput", None)
    if not folder or workerinput is None:
        return None
    path = Path(folder) / f"{workerinput['workerid']}.json"
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps(groups))
    os.replace(staged, path)
    return path


def read_groups(folder: Path) -> dict[str, str]:
    """Every worker's groups, merged (they collect the same tests, so they agree)."""
    merged: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.json")):
        merged.update(json.loads(path.read_text()))
    return merged


def make_scheduler_class():
    """The scheduler class (imported here: xdist is a test-only dependency)."""
    from xdist.scheduler import LoadGroupScheduling

    class FileGroupScheduling(LoadGroupScheduling):
        """`loadgroup`, with each test's group read from the workers' files instead of its node id."""

        def __init__(self, config: pytest.Config, log, folder: Path) -> None:
            super().__init__(config, log)
            self.folder = folder
            self.groups: dict[str, str] = {}

        def schedule(self) -> None:
            if self.collection is None:  # the first call: every worker has collected and written its file
                self.groups = read_groups(self.folder)
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            group = self.groups.get(nodeid)
            return f"group:{group}" if group else super()._split_scope(nodeid)

    return FileGroupScheduling


class XdistGroups:
    """Registered on the controller of an `-n N --dist loadgroup` run (tests/conftest.py)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="retention-test-groups-"))
        os.environ[GROUPS_DIR_ENV] = str(self.folder)

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        if config.getvalue("dist") != "loadgroup":
            return None
        return make_scheduler_class()(config, log, self.folder)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        os.environ.pop(GROUPS_DIR_ENV, None)
        shutil.rmtree(self.folder, ignore_errors=True)
