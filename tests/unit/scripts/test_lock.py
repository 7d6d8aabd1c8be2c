"""scripts/lock.py and constraints.txt: the exact versions `make setup` installs."""

from __future__ import annotations


import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.spark_markers import SPARK_EXTRA_MISSING
from scripts.lock import EXTRAS, HEADER, project_requirements, render, resolve_installed
from assets.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT


def _pins(text: str) -> dict[str, str]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return {canonicalize_name(n): v for n, v in (ln.split("==") for ln in lines)}


def test_every_requirement_of_the_project_and_its_extras_is_pinned_within_its_range():
    pins = _pins((ROOT / "constraints.txt").read_text())
    for req in project_requirements(ROOT / "pyproject.toml"):
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt: {req.name} (pyproject.toml) is not pinned; run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt: {req.name}=={pins[name]} is outside pyproject.toml's {req.specifier}; run `make lock`"
        )


def test_the_pinned_set_includes_what_the_requirements_pull_in():
    pins = _pins((ROOT / "constraints.txt").read_text())
    # dagster -> dagster-shared; dbt-spark[session] -> pyspark (only through the extra).
    assert {"dagster-shared", "pyspark", "pluggy"} <= set(pins)


def test_resolving_drops_what_nothing_requires():
    pins = resolve_installed([Requirement("pytest")])
    assert {"pytest", "pluggy", "iniconfig", "packaging"} <= set(pins)
    assert "dagster" not in pins


# The only installed package with an extra that pulls in another package is dbt-spark.
@pytest.mark.skipif(SPARK_EXTRA_MISSING, reason="the spark extra is not installed (`make setup-spark`): no extra to follow")
def test_resolving_follows_extras():
    with_extra = resolve_installed([Requirement("dbt-spark[session]")])
    without = resolve_installed([Requirement("dbt-spark")])
    assert "pyspark" in set(with_extra) - set(without)


def test_an_unknown_extra_fails_naming_the_file(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = []\n[project.optional-dependencies]\ndev = []\n')
    with pytest.raises(SystemExit, match=r"pyproject.toml: extra 'spark' not in"):
        project_requirements(pyproject, EXTRAS)


def test_the_file_is_sorted_pins_after_the_header():
    text = render({"zeta": "1.0", "alpha": "2.0"})
    assert text == HEADER + "alpha==2.0\nzeta==1.0\n"
