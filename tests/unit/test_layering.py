"""The layers import downwards only: orchestration -> assets -> models.

`models/` is pure modelling code (imports neither package), `assets/` holds
the assets with their settings and resources (never imports `orchestration`),
and `orchestration/` assembles the Definitions. Checked on the source with
`ast`, so imports inside functions count too.
"""

from __future__ import annotations

import ast
import subprocess
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


# --- inside assets/: no import circles, and areas that meet only in the shared core ---

PACKAGES = ("assets", "orchestration", "models")
# Every folder of the repository whose Python modules import each other; dbt_project/'s
# Python models are run by dbt, never imported, so they cannot take part in a cycle.
WHOLE_TREE = (*PACKAGES, "bench", "scripts", "tests")
NOT_IMPORTED = {"dbt_project"}
# Each area of assets/ imports the shared core and itself, never another area.
AREAS: dict[str, tuple[str, ...]] = {
    "extraction": ("assets.extraction",),
    "quality": ("assets.quality",),
    "serving": ("assets.serving",),
    "dbt": ("assets.dbt",),
}
# The shared core: every other module directly in assets/, and the source contract
# (it lives beside the extraction, but every area reads the entities from it).
CORE_IN_AREAS = {"assets.extraction.contract"}

# Known exceptions, each with why it is still here; the tests fail when one is fixed,
# so the list only shrinks.
KNOWN_SIDEWAYS: set[tuple[str, str]] = set()
# None left: the extraction builds the shop's source (assets/extraction/builders.py) and
# records its currency and time zone in the build file (assets/shop_profile.py).
KNOWN_CORE_TO_AREA: set[tuple[str, str]] = set()


def _under_type_checking(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` (annotations only, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def project_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    modules = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph(root: Path, packages=PACKAGES) -> dict[str, dict[str, int]]:
    """module -> {project module it imports: first line}; imports inside functions count, TYPE_CHECKING ones not."""
    modules = project_modules(root, packages)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        skipped = _under_type_checking(tree)
        edges: dict[str, int] = {}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    package = package[: len(package) - node.level + 1]
                    base = ".".join([*package, base] if base else package)
                # `from package import module` imports the module; `from module import name` the module
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                found = resolve(target)
                if found and found != module:
                    edges.setdefault(found, node.lineno)
        graph[module] = edges
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def describe_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> str:
    """One path around the group, with the importing line of each step."""
    members, path, seen = set(group), [group[0]], {group[0]}
    while True:
        here = path[-1]
        nxt = sorted(m for m in graph[here] if m in members)
        step = next((m for m in nxt if m not in seen), group[0] if group[0] in nxt else nxt[0])
        path.append(step)
        if step in seen:
            break
        seen.add(step)
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:])) + f" -> {path[-1]}"


def area_of(module: str) -> str | None:
    if module in CORE_IN_AREAS:
        return None
    return next((area for area, prefixes in AREAS.items()
                 if any(module == p or module.startswith(p + ".") for p in prefixes)), None)


def sideways_imports(graph: dict[str, dict[str, int]]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(area -> another area, core -> an area) import pairs inside assets/."""
    sideways, upward = set(), set()
    for module, edges in graph.items():
        if not module.startswith("assets"):
            continue
        for target in edges:
            if not target.startswith("assets"):
                continue
            mine, theirs = area_of(module), area_of(target)
            if theirs is None or mine == theirs:
                continue
            (sideways if mine else upward).add((module, target))
    return sideways, upward


GRAPH = import_graph(ROOT)


def test_no_import_cycle_anywhere_in_the_tree():
    graph = import_graph(ROOT, WHOLE_TREE)
    cycles = [describe_cycle(graph, c) for c in import_cycles(graph)]
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_walk_covers_every_folder_with_python_modules():
    # The folders git tracks: a data folder left by `make run` holds dbt's compiled Python models, not code.
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout, the tracked folders are unknown: {listed.stderr.strip()}")
    folders = {Path(p).parts[0] for p in listed.stdout.splitlines() if len(Path(p).parts) > 1}
    assert folders - NOT_IMPORTED - set(WHOLE_TREE) == set(), \
        "add these folders to WHOLE_TREE (or NOT_IMPORTED, saying why)"


def test_no_area_imports_another_area():
    sideways, _ = sideways_imports(GRAPH)
    new = sorted(f"{a} (line {GRAPH[a][b]}) imports {b}: {area_of(a)} may import only the core and itself"
                 for a, b in sideways - KNOWN_SIDEWAYS)
    assert new == []
    assert not KNOWN_SIDEWAYS - sideways, f"fixed, remove from KNOWN_SIDEWAYS: {sorted(KNOWN_SIDEWAYS - sideways)}"


def test_the_core_imports_no_area():
    _, upward = sideways_imports(GRAPH)
    new = sorted(f"{a} (line {GRAPH[a][b]}) imports {b}: the shared core may not import an area"
                 for a, b in upward - KNOWN_CORE_TO_AREA)
    assert new == []
    assert not KNOWN_CORE_TO_AREA - upward, f"fixed, remove: {sorted(KNOWN_CORE_TO_AREA - upward)}"


def test_every_area_has_modules():
    for area, prefixes in AREAS.items():
        assert any(area_of(m) == area for m in GRAPH), f"area {area} ({prefixes}) has no module: the rule checks nothing"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return tmp_path


def test_a_lazy_import_cycle_is_found_and_named(tmp_path):
    root = _tree(tmp_path, {
        "assets/__init__.py": "",
        "assets/a.py": "from assets import b\n",
        "assets/b.py": "def f():\n    from .a import g\n",
        "assets/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from assets.a import g\n",
    })
    graph = import_graph(root, ("assets",))
    assert import_cycles(graph) == [["assets.a", "assets.b"]]
    assert describe_cycle(graph, ["assets.a", "assets.b"]) == "assets.a (line 1) -> assets.b (line 2) -> assets.a"


def test_an_import_under_type_checking_makes_no_cycle(tmp_path):
    root = _tree(tmp_path, {
        "assets/__init__.py": "",
        "assets/a.py": "from assets import b\n",
        "assets/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from assets.a import g\n",
    })
    assert import_cycles(import_graph(root, ("assets",))) == []


def test_a_sideways_import_between_areas_is_found(tmp_path):
    root = _tree(tmp_path, {
        "assets/__init__.py": "",
        "assets/settings.py": "",
        "assets/serving/__init__.py": "",
        "assets/serving/assets.py": "from assets.settings import X\nfrom assets.extraction.extract import run\n",
        "assets/extraction/__init__.py": "",
        "assets/extraction/contract.py": "",
        "assets/extraction/extract.py": "from .contract import ENTITIES\n",
        "assets/quality/__init__.py": "",
        "assets/quality/checks.py": "from assets.extraction.contract import ENTITIES\n",
    })
    sideways, upward = sideways_imports(import_graph(root, ("assets",)))
    assert sideways == {("assets.serving.assets", "assets.extraction.extract")}
    assert upward == set()
