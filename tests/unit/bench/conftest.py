"""The benchmark scripts as modules (tests/support/bench_scripts.py)."""

from tests.support.bench_scripts import bench_pipeline  # noqa: F401 - fixture
