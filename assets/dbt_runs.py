"""dbt's run folders, shared by every area that runs dbt: where a run's artefacts go, which dbt runs.

Each dbt invocation of a pipeline run writes under the data folder,
`<data dir>/dbt/runs/<run id>/<step>/` (run_results.json, compiled SQL,
dbt.log); the last KEEP_DBT_RUNS runs are kept. A run starts from the
previous run's partial parse (`seed_partial_parse`), and so does the dbt docs
page (`latest_partial_parse`). In the shared core because the dbt step and
the dbt docs asset (serving) both use it, and neither area may import the other.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# Enough to compare a failed run with the last good ones; each run folder is ~13 MB.
KEEP_DBT_RUNS = 5

PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def dbt_runs_dir(data_dir: Path) -> Path:
    """Where dbt keeps each run's artefacts (run_results.json, compiled SQL) and dbt.log: <run id>/<step>/."""
    return Path(data_dir) / "dbt" / "runs"


def prune_dbt_runs(runs_root: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` most recently modified run folders; return the deleted ones."""
    if keep < 1:
        raise ValueError(f"prune_dbt_runs keep={keep}: expected at least 1 (the run just made)")
    if not runs_root.is_dir():
        return []
    runs = sorted((p for p in runs_root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    old = runs[keep:]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


def latest_partial_parse(runs_root: Path, exclude: Path | None = None) -> Path | None:
    """The newest dbt partial-parse file left by a previous run under `runs_root` (<run>/<step>/), or None."""
    if not Path(runs_root).is_dir():
        return None
    found = [p for p in Path(runs_root).glob(f"*/*/{PARTIAL_PARSE_FILE}") if exclude is None or exclude not in p.parents]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def seed_partial_parse(runs_root: Path, target: Path) -> Path | None:
    """Copy the last run's partial-parse file into `target`; return the file copied, if any.

    dagster-dbt otherwise seeds each run's fresh target folder from
    dbt_project/target, written by `dbt parse` without this run's --vars and
    profile, so dbt would re-parse the whole project (~8 s on 2 cores) every
    night. The previous run parsed with the same vars and profile unless
    the settings changed; dbt re-checks both and every file's hash, so a
    stale file costs only that full parse.
    """
    source = latest_partial_parse(runs_root, exclude=target)
    destination = Path(target) / PARTIAL_PARSE_FILE
    if source is None or destination.exists():
        return None
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return source


def dbt_executable() -> str:
    """The dbt CLI next to this interpreter (a venv that is not activated), else the one on PATH."""
    # sys.prefix is the venv even when the interpreter path was resolved past
    # the venv's symlink (dagster dev's code server does that).
    for candidate in (Path(sys.prefix) / "bin" / "dbt", Path(sys.executable).parent / "dbt"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"
