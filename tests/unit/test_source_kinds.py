"""The source kinds registry (assets/source_kinds.py) is the one list of source kinds.

Settings validation, the RETENTION_SOURCE help and retention.yml's sections
read it; the constructors (assets/extraction/builders.py) and the docs cannot, so they
are checked here, naming the kind and the file. docs/architecture.md
("Adding a source kind") lists the same pieces.
"""

from __future__ import annotations

import re

import pytest

from assets.extraction.builders import SOURCE_BUILDERS
from assets.settings import PROJECT_ROOT, Settings, SettingsError
from assets.source_kinds import SOURCE_KINDS, SourceKind, kind_list
from assets.user_config import SECTIONS

ROOT = PROJECT_ROOT


def test_every_kind_has_a_constructor_and_every_constructor_a_kind():
    assert sorted(set(SOURCE_KINDS) - set(SOURCE_BUILDERS)) == [], "assets/extraction/builders.py SOURCE_BUILDERS lacks kinds"
    assert sorted(set(SOURCE_BUILDERS) - set(SOURCE_KINDS)) == [], "SOURCE_BUILDERS has kinds assets/source_kinds.py lacks"


# Sections of retention.yml that belong to a part of the pipeline, not to a source kind.
PIPELINE_SECTIONS = ("quality", "audiences")


def test_retention_yml_sections_are_the_pipelines_and_the_kinds_sections():
    own = [k.config_section for k in SOURCE_KINDS.values() if k.config_section]
    assert len(own) == len(set(own)), f"two kinds share a retention.yml section: {own}"
    assert [s for s in SECTIONS if s not in PIPELINE_SECTIONS] == own


def test_a_kind_without_its_folder_fails_naming_the_variable_and_what_it_holds(monkeypatch, tmp_path):
    kinds = [k for k in SOURCE_KINDS.values() if k.landing_dir]
    assert kinds, "no kind reads a folder: the check compares nothing"
    for kind in kinds:
        monkeypatch.setenv("RETENTION_SOURCE", kind.name)
        monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path))
        monkeypatch.delenv("RETENTION_LANDING_DIR", raising=False)
        with pytest.raises(SettingsError, match=re.escape(
                f"RETENTION_LANDING_DIR: RETENTION_SOURCE={kind.name} needs it: expected {kind.landing_dir}")):
            Settings.from_env()


def test_a_kind_without_its_required_variable_fails_naming_it(monkeypatch, tmp_path):
    kinds = [k for k in SOURCE_KINDS.values() if k.required_env]
    assert kinds, "no kind needs a variable: the check compares nothing"
    for kind in kinds:
        name, expected = kind.required_env
        monkeypatch.setenv("RETENTION_SOURCE", kind.name)
        monkeypatch.setenv("RETENTION_DATA_DIR", str(tmp_path))
        monkeypatch.delenv(name, raising=False)
        with pytest.raises(SettingsError, match=re.escape(f"{name}: RETENTION_SOURCE={kind.name} needs it: expected {expected}")):
            Settings.from_env()


def test_the_readme_and_each_kinds_docs_name_it():
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `RETENTION_SOURCE` |"))
    for kind in SOURCE_KINDS.values():
        assert f"`{kind.name}`" in row, f"README.md: the RETENTION_SOURCE row does not name {kind.name}"
        doc = ROOT / kind.docs
        assert doc.is_file(), f"assets/source_kinds.py: {kind.name} docs {kind.docs} does not exist"
        assert kind.name in doc.read_text(), f"{kind.docs} does not name the source kind {kind.name}"


def test_the_help_lists_the_kinds():
    assert kind_list(["a"]) == "`a`"
    assert kind_list(["a", "b", "c"]) == "`a`, `b` or `c`"
    assert SourceKind("x", "y").landing_dir is None


def test_the_architecture_doc_names_what_a_kind_needs():
    section = (ROOT / "docs" / "architecture.md").read_text().split("## Adding a source kind")[1].split("\n## ")[0]
    for piece in ("assets/source_kinds.py", "SOURCE_BUILDERS", "assets/extraction/builders.py", "README.md",
                  "tests/unit/test_source_kinds.py"):
        assert piece in section, f"docs/architecture.md: 'Adding a source kind' does not name {piece}"
