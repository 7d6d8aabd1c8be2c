"""Fixtures of the dbt tests: run this venv's dbt CLI on the project against a given warehouse file."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from assets.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
# No phoning home; this checkout's `models` package for the Python model (profiles.yml module_paths).
DBT_ENV = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "RETENTION_CODE_DIR": str(PROJECT_ROOT)}


def run_dbt(args: list[str], *, warehouse: Path | None, target_path: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run `dbt <args>` on the project with artifacts and logs under target_path."""
    env = {**os.environ, **DBT_ENV}
    if warehouse is not None:
        env["RETENTION_BUILD_DB"] = str(warehouse)
    else:
        env.pop("RETENTION_BUILD_DB", None)
    cmd = [
        str(DBT), *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path),
        "--log-path", str(target_path / "logs"),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="session")
def dbt_project_dir() -> Path:
    return DBT_PROJECT_DIR


@pytest.fixture(scope="session")
def dbt_cli():
    """The `run_dbt(args, warehouse=..., target_path=...)` helper."""
    return run_dbt


@pytest.fixture(scope="session")
def project_manifest() -> Path:
    """`dbt parse` (no database) and put the manifest where assets/dbt/project.py reads it.

    Parses into a private folder and moves the manifest into place atomically,
    so parallel test workers never read half a file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        run_dbt(["parse"], warehouse=Path(tmp) / "unused.duckdb", target_path=Path(tmp) / "target")
        destination = DBT_PROJECT_DIR / "target" / "manifest.json"
        destination.parent.mkdir(exist_ok=True)
        staged = destination.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(Path(tmp) / "target" / "manifest.json", staged)
        os.replace(staged, destination)
    return destination
