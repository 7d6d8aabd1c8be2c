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
