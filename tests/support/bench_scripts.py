"""The benchmark scripts live in bench/ (not a package): load them by path; fixtures for the bench tests' conftest files."""

import importlib.util
import sys

import pytest

from assets.settings import PROJECT_ROOT

BENCH = PROJECT_ROOT / "bench"


def load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module runs
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_pipeline():
    return load("bench_pipeline")


@pytest.fixture(scope="session")
def anchors():
    return load("anchors")


@pytest.fixture(scope="session")
def landing():
    return load("landing")
