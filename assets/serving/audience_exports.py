"""Sync-ready audience lists: per audience the full list and the changes since the last published build.

Layout, inside a build's exports folder (staged, then made visible with the
rest of the build by publish.switch_build; docs/serving.md):

    exports/audiences/
      _manifest.json                     as-of date, baseline date, per file rows and sha256
      <audience>/members.parquet|csv     everyone in the audience tonight
      <audience>/entered.parquet|csv     in tonight, not in the baseline
      <audience>/left.parquet|csv        in the baseline, not tonight

The baseline is the audience list of the last published build. A re-run
for the same as-of date finds tonight's lists already published and
rebuilds their own baseline from them (members - entered + left), so it
writes the same files, byte for byte: nothing in them
depends on the run (no run id, no clock), rows are sorted, and Parquet and
CSV are written by the same library with fixed options.

Customer ids only: no e-mail, name or phone column, and no text value that
looks like an e-mail address (checked before anything is written). On
`shopify_csv` the id is the salted hash of the e-mail (docs/shopify.md): a
shop maps it back by hashing its own customer list the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from assets.audiences import AUDIENCES
from assets.warehouse import relation_exists

from .exports import EMAIL_VALUE_REGEX, PersonalDataError, is_personal_column, sha256_file

AUDIENCES_FOLDER = "audiences"
MANIFEST = "_manifest.json"
MANIFEST_FORMAT = 1
MEMBERS_TABLE = ("marts", "mart_audience_members")
MEMBER_COLUMNS = (
    "customer_id",
    "entered_on",
    "reason",
    "score",
    "predicted_clv_12m",
    "p_alive",
    "expected_next_order_date",
    "last_order_date",
    "accepts_marketing",
)
LEFT_COLUMNS = ("customer_id", "entered_on")
LISTS = ("members", "entered", "left")


@dataclass(frozen=True)
class Baseline:
    """The lists to diff against: per audience (customer_id, entered_on), and their as-of date."""

    as_of_date: str | None
    lists: dict[str, pl.DataFrame]


def read_members(con: duckdb.DuckDBPyConnection) -> tuple[date | None, pl.DataFrame] | None:
    """(as-of date, members) from mart_audience_members; None when the build has no such table."""
    schema, table = MEMBERS_TABLE
    if not relation_exists(con, schema, table):
        return None
    members = con.sql(f"SELECT audience, {', '.join(MEMBER_COLUMNS)}, as_of_date FROM {schema}.{table}").pl()
    as_of = members["as_of_date"].max() if members.height else None
    if as_of is None:
        as_of = con.execute("SELECT max(as_of_date) FROM intermediate.int_as_of_date").fetchall()[0][0]
    return as_of, members.drop("as_of_date")


def _read_list(folder: Path, audience: str, name: str) -> pl.DataFrame:
    path = folder / audience / f"{name}.parquet"
    if not path.exists():
        return pl.DataFrame(schema={"customer_id": pl.String, "entered_on": pl.Date})
    return pl.read_parquet(path).select(LEFT_COLUMNS)


def published_baseline(published: Path | None, as_of: date | None) -> Baseline:
    """The baseline for `as_of` from the published audiences folder (empty when none was published)."""
    manifest_path = published / MANIFEST if published else None
    if manifest_path is None or not manifest_path.exists():
        return Baseline(None, {})
    manifest = json.loads(manifest_path.read_text())
    tonight = as_of.isoformat() if as_of else None
    lists = {}
    for audience in manifest["audiences"]:
        members = _read_list(published, audience, "members")
        if manifest["as_of_date"] == tonight:
            # Published by an earlier run of this same night: undo its diff.
            entered = _read_list(published, audience, "entered")
            left = _read_list(published, audience, "left")
            members = pl.concat([members.join(entered, on="customer_id", how="anti"), left])
        lists[audience] = members
    base_date = manifest["baseline_as_of_date"] if manifest["as_of_date"] == tonight else manifest["as_of_date"]
    return Baseline(base_date, lists)


def check_no_personal_values(frame: pl.DataFrame, where: str) -> None:
    """Refuse personal columns, and text values that look like e-mail addresses."""
    for name, dtype in frame.schema.items():
        if is_personal_column(name, str(dtype).upper()):
            raise PersonalDataError(f"{where}: column {name!r} is personal data; audiences export customer ids only")
        if dtype == pl.String and frame[name].str.contains(EMAIL_VALUE_REGEX).any():
            raise PersonalDataError(f"{where}: column {name!r} holds e-mail addresses; audiences export customer ids only")


def _write(frame: pl.DataFrame, folder: Path, name: str) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix in ("parquet", "csv"):
        path = folder / f"{name}.{suffix}"
        if suffix == "parquet":
            frame.write_parquet(path, compression="zstd", statistics=False)
        else:
            frame.write_csv(path)
        out.append({"path": f"{folder.name}/{path.name}", "rows": frame.height, "sha256": sha256_file(path)})
    return out


def audience_lists(members: pl.DataFrame, audience: str, baseline: pl.DataFrame | None,
                   as_of: date | None) -> dict[str, pl.DataFrame]:
    """members / entered / left of one audience, sorted by customer id."""
    today = members.filter(pl.col("audience") == audience).select(MEMBER_COLUMNS).sort("customer_id")
    if baseline is None:
        baseline = pl.DataFrame(schema={"customer_id": pl.String, "entered_on": pl.Date})
    entered = today.join(baseline, on="customer_id", how="anti")
    left = (baseline.join(today, on="customer_id", how="anti").select(LEFT_COLUMNS)
            .with_columns(pl.lit(as_of, dtype=pl.Date).alias("left_on")).sort("customer_id"))
    return {"members": today, "entered": entered, "left": left}


def write_audience_exports(db_path: Path, exports_dir: Path, published_exports: Path | None) -> dict | None:
    """Write exports_dir/audiences from the build warehouse; the manifest, or None without the mart."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        found = read_members(con)
        if found is None:
            return None
        as_of, members = found
    finally:
        con.close()
    # Every audience gets its folder, an empty one included (a sync tool then empties its list).
    names = sorted(set(AUDIENCES) | set(members["audience"].unique().to_list()))
    check_no_personal_values(members, "mart_audience_members")
    published = Path(published_exports) / AUDIENCES_FOLDER if published_exports else None
    baseline = published_baseline(published if published and published.exists() else None, as_of)
    root = Path(exports_dir) / AUDIENCES_FOLDER
    entries = {}
    for audience in names:
        lists = audience_lists(members, audience, baseline.lists.get(audience), as_of)
        files = []
        for name in LISTS:
            files += _write(lists[name], root / audience, name)
        entries[audience] = {**{name: lists[name].height for name in LISTS}, "files": files}
    manifest = {
        "format": MANIFEST_FORMAT,
        "as_of_date": as_of.isoformat() if as_of else None,
        "baseline_as_of_date": baseline.as_of_date,
        "columns": {"members": list(MEMBER_COLUMNS), "entered": list(MEMBER_COLUMNS),
                    "left": [*LEFT_COLUMNS, "left_on"]},
        "audiences": entries,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
