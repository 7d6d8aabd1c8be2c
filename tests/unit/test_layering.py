"""The layers import downwards only: orchestration -> assets -> models.

`models/` is pure modelling code (imports neither package), `assets/` holds
the assets with their settings and resources (never imports `orchestration`),
and `orchestration/` assembles the Definitions. Checked on the source with
`ast`, so imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assets.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT
# package -> the project packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "models": {"assets", "orchestration"},
    "assets": {"orchestration"},
    "orchestration": set(),
}


def imported_packages(source: str, module: str) -> set[tuple[int, str]]:
    """(line, top-level package) of every import in `source`; relative imports resolve against `module`."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # a relative import stays inside the module's own package
                found.add((node.lineno, module.split(".")[0]))
            elif node.module:
                found.add((node.lineno, node.module.split(".")[0]))
    return found


def layering_violations(root: Path) -> list[str]:
    problems = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for line, imported in sorted(imported_packages(path.read_text(), module)):
                if imported in forbidden:
                    problems.append(
                        f"{path.relative_to(root)}:{line} imports {imported}: {package}/ may not import {', '.join(sorted(forbidden))}"
                    )
    return problems


def test_no_module_imports_a_layer_above_its_own():
    assert layering_violations(ROOT) == []


def test_every_layer_has_modules_to_check():
    for package in FORBIDDEN:
        assert any((ROOT / package).rglob("*.py")), f"{package}/ has no Python modules: the rule checks nothing"


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("models", "import assets.settings\n"),
        ("models", "def f():\n    from orchestration.where import describe\n"),
        ("assets", "from orchestration import definitions\n"),
    ],
)
def test_an_upward_import_is_reported(tmp_path, package, source):
    for name in FORBIDDEN:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / package / "bad.py").write_text(source)
    problems = layering_violations(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"{package}/bad.py:")


def test_downward_and_relative_imports_are_allowed(tmp_path):
    for name in FORBIDDEN:
        (tmp_path / name).mkdir()
    (tmp_path / "orchestration" / "ok.py").write_text("import assets.settings\nfrom models import bgnbd\n")
    (tmp_path / "assets" / "ok.py").write_text("from models.scoring import score\nfrom .settings import Settings\n")
    (tmp_path / "models" / "ok.py").write_text("from . import bgnbd\nimport numpy\n")
    assert layering_violations(tmp_path) == []


def settings_reads(source: str) -> list[int]:
    """Lines calling `Settings.from_env()`: the environment read again at run time, past the resources."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "from_env"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "Settings"
    ]


def test_assets_and_models_get_their_knobs_from_resources_not_the_environment():
    # assets/settings.py defines the read; orchestration/ calls it once to build the resources.
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("assets", "models")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "assets" / "settings.py"
        for line in settings_reads(path.read_text())
    ]
    assert offenders == []


def test_a_settings_read_is_found():
    assert settings_reads("def f():\n    return Settings.from_env().churn_after_days\n") == [2]
