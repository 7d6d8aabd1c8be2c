"""Shared fixtures. Tests never touch the project's data/ folder or the network."""

import os
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


import pytest  # noqa: E402


TESTS = Path(__file__).resolve().parent
# Fixtures whose tests are marked for what they start (beside the marks set in the test files).
MARK_BY_FIXTURE = {"dbt_cli": "slow", "pg": "postgres"}


def _shares_a_module_fixture(item) -> bool:
    """A fixture built once for the module's tests: module-scoped, or session-scoped but defined in the module."""
    info = getattr(item, "_fixtureinfo", None)
    defs = [d[-1] for d in (info.name2fixturedefs.values() if info else ()) if d]
    return any(d.scope in ("module", "class", "package") or (d.scope == "session" and d.baseid.endswith(".py"))
               for d in defs)


# tryfirst: xdist's own collection hook on a worker reads the xdist_group marks
# (and appends the group to each node id), so they must be set before it runs.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Marks from the folder and the fixtures; slowest first; a module's shared fixture built once.

    tests/e2e runs the whole pipeline: every test there is `slow`. With
    `-n 2 --dist loadgroup` (pyproject.toml) xdist hands out work in this
    order: the Spark builds, then the other slow tests, start first and
    spread over both workers instead of ending the run on one. The tests of a
    module that share a module-scoped fixture (a pipeline run, a dbt build)
    form one group, so that fixture runs on one worker only; tests of several
    modules that share a session fixture name their group themselves
    (`pytest.mark.xdist_group`, e.g. tests/e2e's first night)
    (tests/integration/support/test_xdist_groups.py proves it still does: the
    group rides on the node id, which pytest 9.2 made read-only, hence the pin
    in pyproject.toml).
    """
    e2e = TESTS / "e2e"
    for item in items:
        if e2e in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
        for fixture, mark in MARK_BY_FIXTURE.items():
            if fixture in item.fixturenames:
                item.add_marker(getattr(pytest.mark, mark))
        if _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))

    def cost(item) -> int:
        if item.get_closest_marker("spark"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=cost)  # stable: the collection order within each class
