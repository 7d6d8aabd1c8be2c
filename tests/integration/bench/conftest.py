"""The benchmark scripts as modules (tests/support/bench_scripts.py)."""

from tests.support.bench_scripts import anchors, landing  # noqa: F401 - fixtures
