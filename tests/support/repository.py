"""The files under the repository, to show that a test run left nothing behind in it."""

import os
from pathlib import Path

from assets.settings import PROJECT_ROOT

# Caches and the editor's files come and go under the tree; anything else new is a leak.
IGNORED_PARTS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}


def repository_files() -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(PROJECT_ROOT):
        dirnames[:] = [d for d in dirnames if d not in IGNORED_PARTS]
        rel = Path(dirpath).relative_to(PROJECT_ROOT)
        out.update((rel / name).as_posix() for name in dirnames + filenames)
    return out
