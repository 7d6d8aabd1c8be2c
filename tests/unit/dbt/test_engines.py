"""The engines of the dbt step: one per RETENTION_ENGINE name, picked in one place, behind one interface."""

from __future__ import annotations

import ast
import inspect

import pytest

import assets.dbt.assets as factory
from assets.dbt.engine import Engine
from assets.dbt.engines import ENGINE_TYPES, engine_for
from assets.settings import ENGINES


def test_every_engine_name_has_an_engine_and_no_engine_lacks_a_name():
    assert sorted(ENGINE_TYPES) == sorted(ENGINES)
    for name in ENGINES:
        assert engine_for(name).name == name


@pytest.mark.parametrize("name", ENGINES)
def test_each_engine_implements_the_interface(name):
    engine = engine_for(name)
    for member in ("name", "console", "build"):
        assert hasattr(engine, member), f"{type(engine).__name__} lacks {member} of Engine"
    protocol = inspect.signature(Engine.build).parameters
    assert list(inspect.signature(type(engine).build).parameters) == list(protocol)
    assert inspect.isgeneratorfunction(type(engine).build), "build must yield the events as dbt reports them"


def test_an_unknown_engine_is_one_line_naming_the_choices():
    with pytest.raises(ValueError) as err:
        engine_for("flink")
    assert str(err.value) == f"warehouse.engine='flink': expected one of {', '.join(ENGINES)} (RETENTION_ENGINE)"


def test_the_asset_factory_names_no_engine():
    # It picks the engine with engine_for and talks to it only through Engine.
    tree = ast.parse(inspect.getsource(factory))
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not set(ENGINES) & literals, "the factory compares engine names"
    assert not {t.__name__ for t in ENGINE_TYPES.values()} & (names | imported), "the factory uses an engine class"


@pytest.mark.parametrize("operator_value, expected", [(None, "1"), ("4", "4")])
def test_the_duckdb_dbt_process_gets_one_openblas_thread_unless_the_operator_set_one(monkeypatch, operator_value,
                                                                                     expected):
    # OpenBLAS threads only busy-wait against DuckDB's in the Python models' fits (docs/benchmarks.md).
    import os
    from types import SimpleNamespace

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", operator_value or "")  # so that the test's setting is undone
    if operator_value is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("RETENTION_CODE_DIR", "unchanged")  # restored after the test
    seen = {}

    def cli(args, context, target_path):
        seen["threads"] = os.environ.get("OPENBLAS_NUM_THREADS")
        return SimpleNamespace(stream=lambda: iter(()))

    request = SimpleNamespace(dbt=SimpleNamespace(cli=cli), vars={}, full_refresh=False, target_path="t")
    assert list(engine_for("duckdb").build(None, request)) == []
    assert seen["threads"] == expected
