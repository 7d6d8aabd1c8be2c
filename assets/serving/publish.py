"""Publishing the build warehouse to the file analysts open read-only.

The pattern (docs/architecture.md, docs/serving.md):

1. the pipeline writes only the private build file `data/build/warehouse.duckdb`;
2. after the blocking checks pass, the build file is checkpointed (so the
   `.wal` is folded into the file), copied to a temporary file next to the
   published one, fsync'ed, and moved over `data/warehouse.duckdb` with
   `os.replace`, which is atomic on POSIX;
3. a reader that had the old file open keeps reading the old inode (its
   snapshot) until it reconnects; a new connection sees the new file.

A run that fails or is killed before step 2 finishes leaves the published
file as it was: the temporary file is the only thing it may leave behind,
and the next publish removes such leftovers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

TMP_PREFIX = ".publish-"
COPY_CHUNK = 8 * 1024 * 1024


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

    Needs the only writer of the file (the in-process executor guarantees
    it). Fails loudly if a `.wal` still holds data afterwards: a copy without
    its WAL would miss the last committed writes.
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
    wal = Path(str(db_path) + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise PublishError(f"{wal} is still there after CHECKPOINT; is another process writing {db_path}?")
    return tables


def copy_file(src: Path, dst: Path, chunk: int = COPY_CHUNK) -> tuple[int, str]:
    """Copy `src` to `dst` (created exclusively), fsync it; return (bytes, sha256)."""
    h = hashlib.sha256()
    n = 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        while True:
            buf = fin.read(chunk)
            if not buf:
                break
            fout.write(buf)
            h.update(buf)
            n += len(buf)
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copymode(src, dst)
    return n, h.hexdigest()


def _sha256(path: Path, chunk: int = COPY_CHUNK) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def remove_leftovers(published_db: Path) -> list[Path]:
    """Delete temporary copies that a killed publish left next to the published file."""
    removed = []
    for p in published_db.parent.glob(f"{TMP_PREFIX}{published_db.name}.*"):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


# Personal data stays in the pipeline's build file. The analysts' copy keeps
# `raw` (handy for debugging) minus these columns; quarantined customer rows
# lose their raw record text, which would repeat the e-mail address.
PERSONAL_COLUMNS: tuple[tuple[str, str, str], ...] = (("raw", "customers", "email"),)


def redact_personal_data(db_path: Path) -> list[str]:
    """Drop personal columns from a (copied) warehouse file; returns what was dropped."""
    dropped = []
    con = duckdb.connect(str(db_path))
    try:
        for schema, table, column in PERSONAL_COLUMNS:
            exists = con.execute(
                "select count(*) from information_schema.columns "
                "where table_schema = ? and table_name = ? and column_name = ?",
                [schema, table, column],
            ).fetchone()[0]
            if exists:
                con.execute(f'alter table "{schema}"."{table}" drop column "{column}"')
                dropped.append(f"{schema}.{table}.{column}")
        has_quarantine = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'quarantine'"
        ).fetchone()[0]
        if has_quarantine:
            con.execute("update raw.quarantine set record = null where entity = 'customers'")
        con.execute("checkpoint")
    finally:
        con.close()
    return dropped


def publish_database(build_db: Path, published_db: Path, tag: str = "run") -> PublishResult:
    """Checkpoint `build_db` and atomically replace `published_db` with a copy of it.

    `tag` (the run id) names the temporary file, so two publishers never
    share one. Raises before the replace on any problem: the published file
    is then byte-for-byte what it was.
    """
    build_db = Path(build_db)
    published_db = Path(published_db)
    if not build_db.exists():
        raise PublishError(f"no build warehouse at {build_db}: run the pipeline first")
    published_db.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(published_db)

    tables = checkpoint(build_db)
    if not tables:
        raise PublishError(f"{build_db} has no tables in schema `marts`: refusing to publish an empty warehouse")

    tmp = published_db.parent / f"{TMP_PREFIX}{published_db.name}.{tag}"
    try:
        copy_file(build_db, tmp)
        redact_personal_data(tmp)
        size, digest = tmp.stat().st_size, _sha256(tmp)
        # The copy must open as a database before it replaces anything.
        con = duckdb.connect(str(tmp), read_only=True)
        try:
            con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()
        finally:
            con.close()
        # A WAL next to the published file belongs to the OLD file (someone
        # opened it read-write). Replayed on the new file it would corrupt it.
        stale_wal = Path(str(published_db) + ".wal")
        if stale_wal.exists():
            stale_wal.unlink()
        os.replace(tmp, published_db)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(published_db.parent)
    return PublishResult(published_db=published_db, bytes=size, sha256=digest, mart_tables=tables)
