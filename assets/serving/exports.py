"""Parquet exports of every mart for BI tools, swapped in atomically.

Layout under `data/exports/` (docs/serving.md):

    exports/
      .versions/<version>/               one complete export set per run
          <mart>/<mart>.parquet          small marts: one zstd Parquet file
          <mart>/<month_col>=YYYY-MM-01/data_0.parquet   large time-series marts
          _manifest.json
      current -> .versions/<version>     THE switch: one os.replace flips every mart
      <mart> -> current/<mart>           stable paths BI tools point at
      _manifest.json -> current/_manifest.json

A run writes a new version into `.versions/.tmp-<version>/`, renames it to
`.versions/<version>/` and then replaces the `current` symlink: readers see
the old set or the new set, never half of one. A failed or killed run never
reaches the flip, so `exports/` reads exactly as before. The two newest
versions are kept (a reader that resolved the previous one can finish).

Partitioning: a mart is hive-partitioned by its month column when it has
one (a DATE column named `month` or `*_month`), is not customer-grain
(`mart_customer_*`) and has at least `partition_min_rows` rows. Partition
columns are also written inside the files (WRITE_PARTITION_COLUMNS), so
every file is self-describing with the warehouse's exact types.

Every file describes itself: the mart's dbt description is the Parquet
key-value metadata `description` and each column's is its Arrow field
metadata `description` (pyarrow, Polars and pandas read it through the
`ARROW:schema` entry) and the JSON `column_descriptions`; `_manifest.json`
carries the same text per mart and column.

Carried, not rewritten: each mart's manifest entry has a content
fingerprint (row count and order-independent hashes of every row, the
schema, the partitioning, DuckDB's version). A mart whose fingerprint equals
the one in the previous export set is hard-linked from that set's files
into the new version (same bytes, same read-only inode) instead of being
written again; `carried_from` names the version. Only when the link cannot
be made (another file system, a file gone or of another size) is it written.

Every file is read-only (mode 0444). In the pipeline, `exports_dir` is the
run's staging folder (`builds/.stage-<run id>/exports`): the build switch
(publish.switch_build) makes it visible together with the warehouse and report.

No personal data: a column whose name is a personal field (e-mail, phone,
address, name, birth date, IP...) or a text column holding e-mail addresses
makes the export fail before anything is swapped in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from assets.warehouse import quote_ident as _qi, quote_literal as _ql

from assets.descriptions import TableDoc
from .publish import READ_ONLY_FILE_MODE, fsync_dir, replace_symlink

VERSIONS_DIR = ".versions"
CURRENT_LINK = "current"
MANIFEST = "_manifest.json"
KEEP_VERSIONS = 2
DEFAULT_PARTITION_MIN_ROWS = 1_000_000
MANIFEST_FORMAT = 1

# Personal field names. A column is personal when its name IS one of these
# (optionally prefixed customer_/user_/contact_/billing_/shipping_...), whatever
# its type; or when its name ENDS with one of these and it holds text. So
# `email`, `customer_email` and a text `backup_email` are refused, while
# `email_recovery_rate`, `first_recovery_email_at` (timestamp) and
# `recovered_after_second_email` (a count) pass. Hashes (`email_sha256`) end otherwise.
_PII_TERMS = (
    r"e_?mail|e_?mail_address|mail_address|"
    r"phone|phone_number|mobile|mobile_number|telephone|fax|"
    r"address|street|street_address|address_line_?\d*|postcode|postal_code|zip|zip_code|"
    r"name|first_name|last_name|full_name|surname|given_name|family_name|"
    r"birth_date|birthday|date_of_birth|dob|"
    r"ip|ip_address|ssn|national_id|passport|passport_number|tax_id|"
    r"card_number|credit_card|iban|password"
)
PII_EXACT_RE = re.compile(
    rf"^(?:(?:customer|user|contact|billing|shipping|buyer|recipient|person)_)?(?:{_PII_TERMS})$", re.IGNORECASE
)
PII_SUFFIX_RE = re.compile(rf"^(?:.*_)?(?:{_PII_TERMS})$", re.IGNORECASE)
TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "BLOB", "LARGE_STRING", "BINARY", "LARGE_BINARY", "UTF8")
# Values: anything that looks like an e-mail address.
EMAIL_VALUE_REGEX = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"

# Identifiers that are not personal even though they end like a PII name.
PII_NAME_ALLOW = {"device_name", "channel_name", "segment_name", "category_name", "product_name", "mart_name"}


class ExportError(RuntimeError):
    pass


class PersonalDataError(ExportError):
    pass


def is_personal_column(name: str, dtype: str | None = None) -> bool:
    """Whether a column named `name` (of type `dtype`: DuckDB or Arrow name; None = unknown) is personal."""
    n = name.strip().lower()
    if n in PII_NAME_ALLOW:
        return False
    if PII_EXACT_RE.match(n):
        return True
    is_text = dtype is None or dtype.strip().upper().split("(")[0] in TEXT_TYPES
    return is_text and bool(PII_SUFFIX_RE.match(n))


def check_no_personal_data(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Raise PersonalDataError if `schema.table` has a personal column or e-mail-like values."""
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    bad = [c for c, t in cols if is_personal_column(c, t)]
    if bad:
        raise PersonalDataError(
            f"{schema}.{table} has personal column(s) {bad}: personal data stays in `raw`; "
            "carry customer_id (or a salted hash) in marts instead"
        )
    text_cols = [c for c, t in cols if t.upper() in ("VARCHAR", "TEXT", "STRING")]
    for c in text_cols:
        hit = con.execute(
            f"SELECT {_qi(c)} FROM {_qi(schema)}.{_qi(table)} "
            f"WHERE regexp_matches({_qi(c)}, {_ql(EMAIL_VALUE_REGEX)}) LIMIT 1"
        ).fetchone()
        if hit:
            raise PersonalDataError(f"{schema}.{table}.{c} holds e-mail addresses: personal data stays in `raw`")


@dataclass
class MartExport:
    name: str
    rows: int
    partitioned_by: str | None
    schema: list[dict[str, str]]
    files: list[dict[str, object]] = field(default_factory=list)
    description: str = ""
    fingerprint: str | None = None
    # The export version whose files were hard-linked instead of written; None: written.
    carried_from: str | None = None


def table_metadata(schema: pa.Schema, doc: TableDoc) -> dict[str, str]:
    """The file-level description keys: the table's text and its columns' as JSON (pure)."""
    columns = {f.name: doc.columns[f.name] for f in schema if doc.columns.get(f.name)}
    return {"description": doc.description, "column_descriptions": json.dumps(columns, ensure_ascii=False)}


def described_schema(schema: pa.Schema, doc: TableDoc) -> pa.Schema:
    """`schema` with the table's descriptions on it and each column's on its field (pure)."""
    fields = [
        f.with_metadata({"description": doc.columns[f.name]}) if doc.columns.get(f.name) else f for f in schema
    ]
    return pa.schema(fields, metadata=table_metadata(schema, doc))


def parquet_kv_metadata(schema: pa.Schema, doc: TableDoc) -> dict[str, str]:
    """The Parquet key-value metadata that carries `doc` (pure).

    `schema` must be the Arrow schema of the file as DuckDB writes it: Arrow
    readers take the columns' types, and the schema's metadata, from
    `ARROW:schema` when it is there; other readers see the plain keys.
    """
    described = described_schema(schema, doc)
    return {
        "ARROW:schema": base64.b64encode(described.serialize().to_pybytes()).decode("ascii"),
        **table_metadata(schema, doc),
    }


def _kv_option(con: duckdb.DuckDBPyConnection, src: str, doc: TableDoc | None, scratch: Path) -> str:
    """`, KV_METADATA {...}` for a COPY of `src`, or "" without a doc.

    The Arrow schema is read from a zero-row file DuckDB writes the same way,
    so the types readers see are exactly the ones DuckDB writes.
    """
    if doc is None:
        return ""
    con.execute(f"COPY ({src} LIMIT 0) TO {_ql(str(scratch))} (FORMAT parquet)")
    try:
        schema = pq.read_schema(scratch)
    finally:
        scratch.unlink(missing_ok=True)
    pairs = ", ".join(f"{_ql(k)}: {_ql(v)}" for k, v in parquet_kv_metadata(schema, doc).items())
    return f", KV_METADATA {{{pairs}}}"


@dataclass(frozen=True)
class ExportResult:
    version: str
    version_dir: Path
    manifest: dict
    pruned: tuple[str, ...]


def partition_column(table: str, columns: list[tuple[str, str]], rows: int, min_rows: int) -> str | None:
    """The month column to partition a large time-series mart by, or None."""
    if rows < min_rows or table.startswith("mart_customer"):
        return None
    for name, dtype in columns:
        if dtype.upper() == "DATE" and (name == "month" or name.endswith("_month")):
            return name
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for buf in iter(lambda: f.read(1 << 20), b""):
            h.update(buf)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mart_fingerprint(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                     columns: list[tuple[str, str]], partitioned_by: str | None,
                     doc: TableDoc | None = None) -> tuple[int, str]:
    """(rows, fingerprint) of a mart's content as it would be exported (one scan, no write).

    Row hashes are combined by XOR and by sum, so row order does not matter
    and duplicated rows still count; the schema, the partitioning, the
    descriptions written into the files and DuckDB's version (its hash
    function) are part of the fingerprint.
    """
    rows, xor_hash, sum_hash = con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash(t)), 0), coalesce(sum(hash(t)::HUGEINT), 0) "
        f"FROM {_qi(schema)}.{_qi(table)} AS t"
    ).fetchone()
    described = json.dumps({
        "format": MANIFEST_FORMAT, "duckdb": duckdb.__version__, "table": table, "columns": columns,
        "partitioned_by": partitioned_by, "rows": rows, "xor": int(xor_hash), "sum": int(sum_hash),
        "description": doc.description if doc else None, "column_descriptions": dict(doc.columns) if doc else None,
    }, sort_keys=True)
    return rows, hashlib.sha256(described.encode()).hexdigest()


def carry_mart(previous: dict, previous_dir: Path, out_dir: Path) -> list[dict[str, object]] | None:
    """Hard-link a previous export's files (its manifest entry `previous`) into `out_dir`; their entries, or None.

    None when a file is missing, of another size than its manifest says, or
    cannot be linked (e.g. another file system): the caller writes the mart.
    """
    files = previous.get("files") or []
    if not files:
        return None
    try:
        for f in files:
            src, dst = previous_dir / str(f["path"]), out_dir / str(f["path"])
            if src.is_symlink() or not src.is_file() or src.stat().st_size != f["bytes"]:
                raise OSError(f"{src} is not the file its manifest describes")
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)
    except OSError:
        # Leave nothing behind: the mart is written into a clean folder instead.
        for top in {Path(str(f["path"])).parts[0] for f in files}:
            shutil.rmtree(out_dir / top, ignore_errors=True)
        return None
    return [dict(f) for f in files]


def export_mart(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    out_dir: Path,
    partition_min_rows: int,
    doc: TableDoc | None = None,
    previous: tuple[dict, Path, str] | None = None,
) -> MartExport:
    """Export one mart into `out_dir`; `previous` = (its entry in the previous manifest, that set's folder, version).

    The personal-data check runs whether the mart is written or carried.
    """
    check_no_personal_data(con, schema, table)
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    rows = con.execute(f"SELECT count(*) FROM {_qi(schema)}.{_qi(table)}").fetchone()[0]
    part = partition_column(table, columns, rows, partition_min_rows)
    described = doc.columns if doc else {}
    # The descriptions are written into the files, so they are part of what must match to carry them.
    rows, fingerprint = mart_fingerprint(con, schema, table, [list(c) for c in columns], part, doc)
    export = MartExport(
        name=table,
        rows=rows,
        partitioned_by=part,
        schema=[
            {"name": c, "type": t, **({"description": described[c]} if described.get(c) else {})} for c, t in columns
        ],
        description=doc.description if doc else "",
        fingerprint=fingerprint,
    )
    if previous is not None and previous[0].get("fingerprint") == fingerprint:
        carried = carry_mart(previous[0], previous[1], out_dir)
        if carried is not None:
            export.files, export.carried_from = carried, previous[2]
            return export
    _write_mart_files(con, schema, table, out_dir, part, doc, export)
    written = sum(int(f["rows"]) for f in export.files)
    if written != rows:
        raise ExportError(f"{table}: wrote {written} rows, the warehouse has {rows}")
    return export


def _write_mart_files(con: duckdb.DuckDBPyConnection, schema: str, table: str, out_dir: Path,
                      part: str | None, doc: TableDoc | None, export: MartExport) -> None:
    mart_dir = out_dir / table
    src = f"SELECT * FROM {_qi(schema)}.{_qi(table)}"
    kv = _kv_option(con, src, doc, out_dir / f".schema-{table}.parquet")
    if part:
        con.execute(
            f"COPY ({src} ORDER BY {_qi(part)}) TO {_ql(str(mart_dir))} "
            f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({_qi(part)}), WRITE_PARTITION_COLUMNS true{kv})"
        )
    else:
        mart_dir.mkdir(parents=True)
        con.execute(
            f"COPY ({src}) TO {_ql(str(mart_dir / (table + '.parquet')))} (FORMAT parquet, COMPRESSION zstd{kv})"
        )
    for f in sorted(mart_dir.rglob("*.parquet")):
        _fsync_file(f)
        os.chmod(f, READ_ONLY_FILE_MODE)  # a published file is never edited in place
        n = con.execute(f"SELECT count(*) FROM read_parquet({_ql(str(f))}, hive_partitioning = false)").fetchone()[0]
        export.files.append(
            {"path": f.relative_to(out_dir).as_posix(), "rows": n, "bytes": f.stat().st_size, "sha256": sha256_file(f)}
        )


def new_version_id(run_id: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{run_id[:8]}"


def current_version_dir(exports_dir: Path) -> Path | None:
    link = Path(exports_dir) / CURRENT_LINK
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


def prune_versions(exports_dir: Path, keep: int = KEEP_VERSIONS) -> list[str]:
    """Delete old versions and leftovers of killed runs; never the current one."""
    versions = Path(exports_dir) / VERSIONS_DIR
    if not versions.is_dir():
        return []
    current = current_version_dir(exports_dir)
    removed = []
    for p in versions.iterdir():
        if p.name.startswith(".tmp-"):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    done = sorted((p for p in versions.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    for p in done[keep:]:
        if current is not None and p.resolve() == current:
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p.name)
    return removed


def write_exports(
    db_path: Path,
    exports_dir: Path,
    run_id: str,
    as_of_date: date | None = None,
    schema: str = "marts",
    partition_min_rows: int = DEFAULT_PARTITION_MIN_ROWS,
    keep: int = KEEP_VERSIONS,
    on_mart_written: Callable[[str], None] | None = None,
    docs: dict[tuple[str, str], TableDoc] | None = None,
    previous_exports: Path | None = None,
) -> ExportResult:
    """Export every table of `schema` in `db_path` (opened read-only) and swap the set in.

    Marts whose fingerprint matches the current set of `previous_exports`
    (default: `exports_dir` itself) are hard-linked from it, not rewritten.
    Raises before the swap on any problem (including personal data): the
    previous export set then stays in place, unchanged. `docs` ((schema,
    table) -> descriptions) go into the files' metadata and the manifest.
    """
    exports_dir = Path(exports_dir)
    versions = exports_dir / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    prune_versions(exports_dir, keep=keep)  # leftovers of killed runs

    previous = previous_export_set(previous_exports if previous_exports is not None else exports_dir)
    version = new_version_id(run_id)
    tmp_dir = versions / f".tmp-{version}"
    final_dir = versions / version
    tmp_dir.mkdir()
    try:
        tables, as_of_date, marts = _export_marts(
            db_path, schema, tmp_dir, as_of_date, partition_min_rows, docs or {}, previous, on_mart_written
        )
        manifest = _export_manifest(version, run_id, as_of_date, db_path, schema, marts)
        _write_read_only(tmp_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        fsync_dir(tmp_dir)
        os.rename(tmp_dir, final_dir)
        fsync_dir(versions)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise

    _swap_in(exports_dir, version, tables)
    pruned = prune_versions(exports_dir, keep=keep)
    return ExportResult(version=version, version_dir=final_dir, manifest=manifest, pruned=tuple(pruned))


def _export_marts(
    db_path: Path,
    schema: str,
    tmp_dir: Path,
    as_of_date: date | None,
    partition_min_rows: int,
    docs: dict[tuple[str, str], TableDoc],
    previous: tuple[dict, Path, str] | None,
    on_mart_written: Callable[[str], None] | None,
) -> tuple[list[str], date | None, dict[str, MartExport]]:
    """(tables, as-of date, their exports): every table of `schema` written into `tmp_dir`."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? ORDER BY table_name", [schema]
            ).fetchall()
        ]
        if not tables:
            raise ExportError(f"{db_path} has no tables in schema `{schema}`: nothing to export")
        if as_of_date is None:
            as_of_date = read_as_of_date(con)
        marts = {}
        for t in tables:
            entry = previous[0].get(t) if previous else None
            marts[t] = export_mart(con, schema, t, tmp_dir, partition_min_rows, docs.get((schema, t)),
                                   (entry, previous[1], previous[2]) if entry else None)
            if on_mart_written is not None:
                on_mart_written(t)
    finally:
        con.close()
    return tables, as_of_date, marts


def _export_manifest(version: str, run_id: str, as_of_date: date | None, db_path: Path, schema: str,
              marts: dict[str, MartExport]) -> dict:
    return {
        "format": MANIFEST_FORMAT,
        "version": version,
        "run_id": run_id,
        "as_of_date": as_of_date.isoformat() if as_of_date else None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": f"{Path(db_path).name}, schema {schema}",
        "compression": "zstd",
        "marts": {
            m.name: {
                **({"description": m.description} if m.description else {}),
                "rows": m.rows,
                "partitioned_by": m.partitioned_by,
                "schema": m.schema,
                "files": m.files,
                "fingerprint": m.fingerprint,
                "carried_from": m.carried_from,
            }
            for m in marts.values()
        },
    }


def _write_read_only(path: Path, text: str) -> None:
    path.write_text(text)
    _fsync_file(path)
    os.chmod(path, READ_ONLY_FILE_MODE)


def _swap_in(exports_dir: Path, version: str, tables: list[str]) -> None:
    """Point `current` at the new version, and a stable link at each mart of it."""
    # The flip: one atomic replace of `current`; everything else points through it.
    replace_symlink(exports_dir / CURRENT_LINK, f"{VERSIONS_DIR}/{version}")
    for t in tables:
        link = exports_dir / t
        if not link.is_symlink():
            if link.exists():
                raise ExportError(f"{link} exists and is not a symlink; move it away")
            replace_symlink(link, f"{CURRENT_LINK}/{t}")
    if not (exports_dir / MANIFEST).is_symlink():
        replace_symlink(exports_dir / MANIFEST, f"{CURRENT_LINK}/{MANIFEST}")
    # Marts that no longer exist: drop their (now dangling) stable links.
    for p in exports_dir.iterdir():
        if p.is_symlink() and p.name not in (CURRENT_LINK, MANIFEST) and not p.exists():
            p.unlink()
    fsync_dir(exports_dir)


def previous_export_set(exports_dir: Path) -> tuple[dict, Path, str] | None:
    """(marts of its manifest, version folder, version) of `exports_dir`'s current set; None if it has none."""
    current = current_version_dir(Path(exports_dir))
    if current is None or not (current / MANIFEST).is_file():
        return None
    try:
        manifest = json.loads((current / MANIFEST).read_text())
    except (OSError, ValueError):
        return None  # unreadable: every mart is written afresh
    return manifest.get("marts") or {}, current, str(manifest.get("version") or current.name)


def read_as_of_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The marts' as-of date: intermediate.int_as_of_date, else max(as_of_date) of a mart."""
    candidates = [
        ("intermediate", "int_as_of_date"),
        ("marts", "mart_customer_churn"),
    ]
    for schema, table in candidates:
        try:
            row = con.execute(f"SELECT max(as_of_date) FROM {_qi(schema)}.{_qi(table)}").fetchone()
        except duckdb.Error:
            continue
        if row and row[0] is not None:
            return row[0]
    return None


def read_manifest(exports_dir: Path) -> dict:
    return json.loads((Path(exports_dir) / MANIFEST).read_text())
