"""Publishing: the analysts' warehouse, and the switch that makes a whole build visible.

The analysts' file is written fresh, never copied (docs/serving.md):

1. the pipeline writes only the private build file `data/build/warehouse.duckdb`
   (owner-only: it holds personal data);
2. after the blocking checks pass, the build file is checkpointed and the
   tables analysts may read (`analyst_tables`) are written with CREATE TABLE
   AS into a NEW database file next to the target. A copy of the build file
   would carry personal data in freed blocks even after `DROP COLUMN`; a new
   file holds only the bytes written into it;
3. the new file is fsync'ed, made read-only and moved over the target with
   `os.replace` (atomic on POSIX).

A run stages its warehouse, exports and report in `builds/.stage-<run id>/`;
`switch_build` then renames that folder to `builds/<build id>/` and flips the
`current` symlink with one `os.replace`: the stable paths `warehouse.duckdb`,
`exports/` and `report/` are symlinks through `current`, so all three change
together. A run killed before the flip changes nothing analysts, BI or the
report show.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from assets.extraction.contract import ENTITIES, RAW_SCHEMA, Entity
from assets.descriptions import TableDoc
from assets.warehouse import DataLayout, make_private, quote_ident as _qi, quote_literal as _ql

TMP_PREFIX = ".publish-"
COPY_CHUNK = 8 * 1024 * 1024
READ_ONLY_FILE_MODE = 0o444
# Schemas whose tables analysts read as they are. `staging` holds views over
# `raw` and `raw` holds personal data: neither is published; the quarantine
# is, redacted (`redacted_record_sql`). The audit tables say why a run
# stopped; examples of failing values of a personal column are blanked.
ANALYST_SCHEMAS = ("marts", "intermediate")
QUARANTINE = "quarantine"
QUARANTINE_COLUMNS = ("entity", "reason", "source_file", "row_number", "quarantined_at")
AUDIT_SCHEMA = "audit"
AUDIT_VALUE_COLUMNS = ("observed_value", "unexpected_examples", "exception")

# Inside a build folder (stable paths resolve through `current` to these).
WAREHOUSE_FILE = "warehouse.duckdb"
EXPORTS_FOLDER = "exports"
REPORT_FOLDER = "report"
REPORT_FILE = "index.html"
MANIFEST_FILE = "_manifest.json"
STAGE_PREFIX = ".stage-"
KEEP_BUILDS = 2


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class PublishResult:
    published_db: Path
    bytes: int
    sha256: str
    mart_tables: tuple[str, ...]


def fsync_dir(path: Path) -> None:
    """Make a rename/replace inside `path` durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def checkpoint(db_path: Path, schema: str = "marts") -> tuple[str, ...]:
    """Fold the write-ahead log into the database file; return the tables of `schema`.

    Needs the only writer of the file (the in-process executor guarantees it).
    """
    con = duckdb.connect(str(db_path))
    try:
        con.execute("CHECKPOINT")
        tables = tuple(
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? ORDER BY table_name", [schema]
            ).fetchall()
        )
    finally:
        con.close()
    return tables


def publishable_record_columns(entity: Entity) -> list[str]:
    """Keys of a quarantined record analysts may see: the entity's contract columns minus personal ones."""
    return [c.name for c in entity.columns if not c.personal]


def redacted_record_sql(column: str = "record") -> str:
    """SQL rebuilding a quarantined JSON record from its publishable keys only.

    Anything else the landing file carried (`Email`, `Billing Name`, ...) is
    dropped; an entity the contract does not know keeps no record at all.
    """
    cases = []
    for name, entity in sorted(ENTITIES.items()):
        pairs = ", ".join(
            f"{_ql(c)}, json_extract({column}, {_ql('$.' + _qi(c))})" for c in publishable_record_columns(entity)
        )
        cases.append(f"WHEN {_ql(name)} THEN json_object({pairs})")
    return f"CASE entity {' '.join(cases)} ELSE NULL END"


def personal_column_names() -> list[str]:
    return sorted({c.name for e in ENTITIES.values() for c in e.columns if c.personal})


def redacted_audit_sql(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SELECT of an audit table with the value columns blanked on rows about a personal column."""
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [AUDIT_SCHEMA, table],
        ).fetchall()
    ]
    personal = ", ".join(_ql(c) for c in personal_column_names())
    if "column_name" not in cols or not personal:
        return f"SELECT * FROM {_qi(AUDIT_SCHEMA)}.{_qi(table)}"
    select = [
        f"CASE WHEN column_name IN ({personal}) THEN NULL ELSE {_qi(c)} END AS {_qi(c)}"
        if c in AUDIT_VALUE_COLUMNS
        else _qi(c)
        for c in cols
    ]
    return f"SELECT {', '.join(select)} FROM {_qi(AUDIT_SCHEMA)}.{_qi(table)}"


def analyst_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, table, SELECT) of everything the analysts' file holds, read from `con`'s database."""
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "ORDER BY schema_name, table_name"
    ).fetchall()
    out = []
    for schema, table in rows:
        if schema in ANALYST_SCHEMAS:
            out.append((schema, table, f"SELECT * FROM {_qi(schema)}.{_qi(table)}"))
        elif schema == AUDIT_SCHEMA:
            out.append((schema, table, redacted_audit_sql(con, table)))
        elif schema == RAW_SCHEMA and table == QUARANTINE:
            cols = ", ".join(_qi(c) for c in QUARANTINE_COLUMNS)
            out.append(
                (schema, table, f"SELECT {cols}, {redacted_record_sql()} AS record FROM {_qi(schema)}.{_qi(table)}")
            )
    return out


def comment_sql(catalog: str, schema: str, table: str, columns: list[str], doc: TableDoc | None) -> list[str]:
    """COMMENT ON statements giving `catalog.schema.table` and its `columns` their descriptions (pure).

    A SQL client (DBeaver, the duckdb shell's `duckdb_columns()`) then shows
    what each table and column means. Columns `doc` does not describe get none.
    """
    if doc is None:
        return []
    name = f"{_qi(catalog)}.{_qi(schema)}.{_qi(table)}"
    out = [f"COMMENT ON TABLE {name} IS {_ql(doc.description)}"] if doc.description else []
    out += [f"COMMENT ON COLUMN {name}.{_qi(c)} IS {_ql(doc.columns[c])}" for c in columns if doc.columns.get(c)]
    return out


def write_analyst_database(
    build_db: Path, dst: Path, docs: dict[tuple[str, str], TableDoc] | None = None
) -> None:
    """Write the tables analysts may read from `build_db` into the new database file `dst`.

    `docs` ((schema, table) -> descriptions, assets/descriptions.py)
    become the tables' and columns' comments: CREATE TABLE AS carries none.
    """
    if dst.exists():
        raise PublishError(f"{dst} already exists; the analysts' file is always written fresh")
    con = duckdb.connect(str(build_db))
    try:
        con.execute(f"ATTACH {_ql(str(dst))} AS analyst_copy")
        try:
            for schema, table, select in analyst_tables(con):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS analyst_copy.{_qi(schema)}")
                con.execute(f"CREATE TABLE analyst_copy.{_qi(schema)}.{_qi(table)} AS {select}")
                columns = [r[0] for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = 'analyst_copy' "
                    "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()]
                for sql in comment_sql("analyst_copy", schema, table, columns, (docs or {}).get((schema, table))):
                    con.execute(sql)
            con.execute("CHECKPOINT analyst_copy")
        finally:
            con.execute("DETACH analyst_copy")
    finally:
        con.close()
    with open(dst, "rb") as f:
        os.fsync(f.fileno())


def _sha256(path: Path, chunk: int = COPY_CHUNK) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def remove_leftovers(published_db: Path) -> list[Path]:
    """Delete temporary files that a killed publish left next to the published file."""
    removed = []
    for p in published_db.parent.glob(f"{TMP_PREFIX}{published_db.name}.*"):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def remove_stale_wal(db_path: Path) -> bool:
    """Delete a `.wal` next to a published file.

    The pipeline never writes a published file, so a WAL there comes from
    someone's read-write session; left in place it makes read-only opens fail,
    and replayed on a newer file it would corrupt it.
    """
    wal = Path(str(db_path) + ".wal")
    if wal.exists() or wal.is_symlink():
        wal.unlink()
        return True
    return False


def publish_database(
    build_db: Path, published_db: Path, tag: str = "run", docs: dict[tuple[str, str], TableDoc] | None = None
) -> PublishResult:
    """Write the analysts' tables of `build_db` into a new file that atomically replaces `published_db`.

    `tag` (the run id) names the temporary file, so two publishers never
    share one. Raises before the replace on any problem: `published_db` is
    then byte-for-byte what it was. `docs` become the tables' comments.
    """
    build_db = Path(build_db)
    published_db = Path(published_db)
    if not build_db.exists():
        raise PublishError(f"no build warehouse at {build_db}: run the pipeline first")
    make_private(build_db)
    published_db.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(published_db)

    tables = checkpoint(build_db)
    if not tables:
        raise PublishError(f"{build_db} has no tables in schema `marts`: refusing to publish an empty warehouse")

    tmp = published_db.parent / f"{TMP_PREFIX}{published_db.name}.{tag}"
    try:
        write_analyst_database(build_db, tmp, docs=docs)
        os.chmod(tmp, READ_ONLY_FILE_MODE)
        size, digest = tmp.stat().st_size, _sha256(tmp)
        # The new file must open as a database before it replaces anything.
        con = duckdb.connect(str(tmp), read_only=True)
        try:
            con.execute("SELECT count(*) FROM duckdb_tables()").fetchall()
        finally:
            con.close()
        remove_stale_wal(published_db)
        os.replace(tmp, published_db)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise
    fsync_dir(published_db.parent)
    return PublishResult(published_db=published_db, bytes=size, sha256=digest, mart_tables=tables)


# --- the switch -------------------------------------------------------------


@dataclass(frozen=True)
class SwitchResult:
    build_id: str
    build_dir: Path
    removed: tuple[str, ...]


def new_build_id(run_id: str, now: datetime | None = None) -> str:
    """Sortable by time, unique per run."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{run_id[:8]}"


def replace_symlink(link: Path, target: str) -> None:
    """Point `link` at `target` atomically (new symlink, then os.replace)."""
    tmp = link.parent / f".{link.name}.tmp-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def current_build_dir(layout: DataLayout) -> Path | None:
    link = layout.current_link
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


def stable_links(layout: DataLayout) -> dict[Path, str]:
    """Stable path -> symlink target through `current`."""
    current = layout.current_link.name
    return {
        layout.published_db: f"{current}/{WAREHOUSE_FILE}",
        layout.exports_dir: f"{current}/{EXPORTS_FOLDER}",
        layout.report_dir: f"{current}/{REPORT_FOLDER}",
    }


def _ensure_stable_link(path: Path, target: str, builds_dir: Path) -> None:
    if path.is_symlink():
        if os.readlink(path) != target:
            replace_symlink(path, target)
        return
    if path.is_dir():
        # A folder from before builds were switched as a whole: moved aside,
        # then deleted (readers with files open keep them).
        aside = builds_dir / f".legacy-{path.name}-{os.getpid()}"
        os.rename(path, aside)
        replace_symlink(path, target)
        shutil.rmtree(aside, ignore_errors=True)
        return
    remove_stale_wal(path)
    replace_symlink(path, target)  # a plain file (or nothing) is replaced atomically


def staged_parts(stage: Path) -> list[Path]:
    return [stage / WAREHOUSE_FILE, stage / EXPORTS_FOLDER / MANIFEST_FILE, stage / REPORT_FOLDER / REPORT_FILE]


def make_read_only(root: Path) -> None:
    """No write bits on any published file: analysts and BI only ever read them."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                os.chmod(p, stat.S_IMODE(p.stat().st_mode) & ~0o222)


def switch_build(layout: DataLayout, run_id: str, keep: int = KEEP_BUILDS) -> SwitchResult:
    """Make the run's staged warehouse, exports and report visible together.

    Raises, changing nothing visible, when a part is missing.
    """
    stage = layout.stage_dir(run_id)
    missing = [str(p.relative_to(stage)) for p in staged_parts(stage) if not p.exists()]
    if missing:
        raise PublishError(
            f"{stage} lacks {missing}: the warehouse, exports and report must all be staged before the switch"
        )
    make_read_only(stage)
    builds = layout.builds_dir
    build_id = new_build_id(run_id)
    final = builds / build_id
    os.rename(stage, final)
    fsync_dir(builds)
    # THE switch: one atomic replace; every stable path resolves through it.
    replace_symlink(layout.current_link, f"{builds.name}/{build_id}")
    for path, target in stable_links(layout).items():
        _ensure_stable_link(path, target, builds)
    fsync_dir(layout.data_dir)
    removed = prune_builds(layout, keep=keep)
    return SwitchResult(build_id=build_id, build_dir=final, removed=tuple(removed))


def prune_builds(layout: DataLayout, keep: int = KEEP_BUILDS) -> list[str]:
    """Delete stages of killed runs and all but the `keep` newest builds (never the current one).

    Older builds kept for sessions still reading them lose any `.wal` a
    read-write session left next to their warehouse.
    """
    builds = layout.builds_dir
    if not builds.is_dir():
        return []
    current = current_build_dir(layout)
    removed = []
    for p in builds.iterdir():
        if p.name.startswith((STAGE_PREFIX, ".legacy-")):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    done = sorted((p for p in builds.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    for i, p in enumerate(done):
        if current is not None and p.resolve() == current:
            continue
        if i >= keep:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
        else:
            remove_stale_wal(p / WAREHOUSE_FILE)
    return removed
