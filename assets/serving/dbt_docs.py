"""The dbt docs site (models, columns, tests, lineage, the metric glossary) as one page that opens from disk.

`dbt docs generate` writes an index.html that fetches manifest.json and
catalog.json: a browser refuses those fetches on a `file://` page, so it
hangs on "loading". With `--static` dbt inlines both into
static_index.html, which is kept as `<data dir>/dbt_docs/index.html`; the
rest of dbt's target folder (compiled SQL, the JSON files) is deleted.

The catalog is read from the data folder's own build warehouse, with the
dbt vars of that shop (its time zone, windows, as-of date), so the page shows
this shop's tables and column types. The pipeline's `dbt_docs` asset builds
it after a published build whose page would differ (`docs_fingerprint`: the
dbt project and its docs, the shop's vars, the build's tables and column
types; row counts are not on the page); `make docs` (`python -m
orchestration.docs`) builds it on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assets.manifest import documented_schemas, load_manifest
from assets.run_state import CODE_GLOBS, code_fingerprint
from assets.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from assets.warehouse import connect

DOCS_PAGE = "index.html"
STATIC_PAGE = "static_index.html"
FINGERPRINT_FILE = ".fingerprint"
# The page also shows the docs blocks (metric glossary) and the project's yml descriptions.
DOCS_GLOBS = (*CODE_GLOBS, "dbt_project/docs/**/*")


class DocsError(RuntimeError):
    """dbt could not build the docs; one line saying why."""


def docs_generate_args(vars_: Mapping[str, Any], target_path: Path) -> list[str]:
    """Arguments of the `dbt docs generate` invocation (pure)."""
    return [
        "docs", "generate", "--static", "--quiet",
        "--vars", json.dumps(dict(vars_), sort_keys=True),
        "--target-path", str(target_path),
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
    ]


def docs_fingerprint(build_db: Path, vars_: Mapping[str, Any], root: Path = PROJECT_ROOT) -> str:
    """What the page is made of: the dbt project's files, the vars, and the tables and column types of the
    schemas dbt documents (the quality checks' scratch tables and the audit are not on the page)."""
    schemas = sorted(documented_schemas(load_manifest()))
    con = connect(build_db, read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            f"where table_schema in ({', '.join('?' for _ in schemas)}) order by all", schemas
        ).fetchall() if schemas else []
    finally:
        con.close()
    digest = hashlib.sha256()
    digest.update(code_fingerprint(root, DOCS_GLOBS).encode())
    digest.update(json.dumps(dict(vars_), sort_keys=True, default=str).encode())
    digest.update(json.dumps(columns).encode())
    return digest.hexdigest()


def page_is_current(docs_dir: Path, fingerprint: str) -> bool:
    """True when `docs_dir` holds a page built from the same fingerprint."""
    marker = Path(docs_dir) / FINGERPRINT_FILE
    return (Path(docs_dir) / DOCS_PAGE).exists() and marker.exists() and marker.read_text() == fingerprint


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1]


def build_dbt_docs(
    build_db: Path,
    docs_dir: Path,
    vars_: Mapping[str, Any],
    dbt: str = "dbt",
    memory_limit: str = "3GB",
    partial_parse: Path | None = None,
    fingerprint: str | None = None,
) -> Path:
    """Generate the static docs page from `build_db` into `docs_dir/index.html`; return its path.

    The page replaces the previous one atomically. Raises DocsError (one
    line) when there is no build warehouse or dbt fails, e.g. because a run
    holds the warehouse's write lock. `partial_parse` (the last build's
    partial_parse.msgpack) spares dbt a full parse when vars and profile match.
    `fingerprint` (docs_fingerprint) is stored beside the page for `page_is_current`.
    """
    build_db, docs_dir = Path(build_db), Path(docs_dir)
    if not build_db.exists():
        raise DocsError(f"{build_db}: no build warehouse yet; run the pipeline for this data folder first (make run)")
    docs_dir.mkdir(parents=True, exist_ok=True)
    work = docs_dir / f".generate-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    if partial_parse is not None and Path(partial_parse).exists():
        work.mkdir()
        shutil.copyfile(partial_parse, work / Path(partial_parse).name)
    env = {
        **os.environ,
        "RETENTION_BUILD_DB": str(build_db),
        "RETENTION_CODE_DIR": str(PROJECT_ROOT),
        "RETENTION_DUCKDB_MEMORY_LIMIT": memory_limit,
    }
    try:
        proc = subprocess.run(
            [dbt, *docs_generate_args(vars_, work)], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True
        )
        page = work / STATIC_PAGE
        if proc.returncode != 0 or not page.exists():
            raise DocsError(
                f"dbt docs generate failed (exit {proc.returncode}) on {build_db}: "
                f"{_last_error_line(proc.stdout + proc.stderr)}"
            )
        target = docs_dir / DOCS_PAGE
        os.replace(page, target)
        marker = docs_dir / FINGERPRINT_FILE
        if fingerprint is None:
            marker.unlink(missing_ok=True)
        else:
            marker.write_text(fingerprint)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
