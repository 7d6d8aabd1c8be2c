"""Speed anchors: what bare DuckDB needs for the pipeline's work on the same files.

`read_dedupe_persist` reads every entity's Parquet files of a landing folder,
keeps the newest version per primary key and writes one table per entity
(schema `raw`) to a fresh DuckDB file: the floor for extraction, which also
validates, quarantines and upserts. `run_marts` runs bench/anchor_marts.sql
over those tables: the floor for the dbt step's required marts. Neither is
used by the product.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assets.extraction.contract import ENTITIES  # noqa: E402

MARTS_SQL = Path(__file__).resolve().parent / "anchor_marts.sql"


def read_dedupe_persist(landing: Path, db: Path) -> dict:
    """Read, dedupe (newest `updated_at` per key) and persist each entity; seconds and rows per entity."""
    landing, db = Path(landing), Path(db)
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("create schema raw")
    rows = {}
    for name, entity in ENTITIES.items():
        files = sorted((landing / name).glob("*.parquet"))
        if not files:
            continue
        key = ", ".join(entity.primary_key)
        paths = ", ".join(f"'{p}'" for p in files)
        con.execute(
            f"create table raw.{name} as select * from read_parquet([{paths}], union_by_name = true) "
            f"qualify row_number() over (partition by {key} order by updated_at desc nulls last) = 1"
        )
        rows[name] = con.execute(f"select count(*) from raw.{name}").fetchone()[0]
    con.execute("checkpoint")
    con.close()
    return {"seconds": round(time.perf_counter() - t0, 2), "rows": rows}


def marts_statements(sql: str, params: dict[str, object]) -> list[str]:
    """anchor_marts.sql with its {placeholders} filled, split into statements."""
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in code.format(**params).split(";") if s.strip()]


def run_marts(db: Path, shop_timezone: str, churn_after_days: int = 180, active_window_days: int = 365) -> dict:
    """Build the required marts with bare SQL over read_dedupe_persist's tables; seconds and mart rows."""
    statements = marts_statements(MARTS_SQL.read_text(), {
        "shop_timezone": shop_timezone,
        "churn_after_days": churn_after_days,
        "active_window_days": active_window_days,
    })
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    for statement in statements:
        con.execute(statement)
    con.execute("checkpoint")
    seconds = time.perf_counter() - t0
    marts = [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'anchor_marts' order by 1"
    ).fetchall()]
    rows = {m: con.execute(f"select count(*) from anchor_marts.{m}").fetchone()[0] for m in marts}
    con.close()
    return {"seconds": round(seconds, 2), "rows": rows}
