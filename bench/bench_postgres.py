"""Benchmark: extraction from a PostgreSQL shop database vs the landing folder, and the client libraries.

Starts a throwaway PostgreSQL server (tests/support/pg_server.py), seeds it
with the sample shop (the generic schema of docs/postgres.md), writes the
same rows as a Parquet landing folder, then measures, each in a fresh
subprocess (so that its peak RSS is its own):

- the first load from PostgreSQL and from the landing folder (the ratio);
- one nightly increment from PostgreSQL after updating 1% of the orders and
  inserting 0.2% new ones;
- with --clients: reading the orders query into Polars with each client
  library that is installed (ADBC, psycopg 3, ConnectorX; only ADBC is a
  project dependency: `pip install 'psycopg[binary]' connectorx` for the others).

    .venv/bin/python bench/bench_postgres.py --orders 1000000 --clients
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENTITY_ORDER = ("customers", "orders", "order_lines", "carts", "support_tickets")


def _child(kind: str, db: str, url: str, landing: str, batch_rows: str) -> None:
    from assets.extraction.contract import ENTITIES
    from assets.extraction.extract import ExtractRequest, run_extraction
    from assets.extraction.postgres import PostgresSettings, PostgresSource
    from assets.extraction.sources import LandingSource
    from assets.warehouse import connect
    from tests.support.pg_server import SHOP_QUERIES

    source = (
        LandingSource(Path(landing))
        if kind == "landing"
        else PostgresSource(url, PostgresSettings(dict(SHOP_QUERIES), int(batch_rows)))
    )
    con = connect(Path(db))
    t0 = time.perf_counter()
    stats = run_extraction(con, source, ExtractRequest(tuple(ENTITIES)), kind, log=lambda m: None)
    seconds = time.perf_counter() - t0
    con.close()
    print(json.dumps({
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "rows_read": sum(s.rows_read for s in stats.values()),
        "orders": {"read": stats["orders"].rows_read, "inserted": stats["orders"].inserted,
                   "updated": stats["orders"].updated, "unchanged": stats["orders"].unchanged},
    }))


def _client_child(client: str, url: str, batch_rows: int) -> None:
    import polars as pl

    from tests.support.pg_server import SHOP_QUERIES

    query = f"SELECT * FROM ({SHOP_QUERIES['orders']}) q ORDER BY q.updated_at"
    t0 = time.perf_counter()
    rows = 0
    if client == "adbc (server-side cursor, as used)":
        from assets.extraction.postgres import PostgresSettings, PostgresSource

        src = PostgresSource(url, PostgresSettings({"orders": SHOP_QUERIES["orders"]}, batch_rows))
        rows = sum(b.frame.height for b in src.batches(("orders",), {"orders": None}, None))
    elif client == "adbc (one COPY stream)":
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(url) as conn, conn.cursor() as cur:
            cur.execute(query)
            rows = sum(pl.from_arrow(b).height for b in cur.fetch_record_batch())
    elif client == "psycopg 3 (server-side cursor, rows to Polars)":
        import psycopg

        with psycopg.connect(url) as conn:
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.cursor(name="bench") as cur:
                cur.execute(query)
                while batch := cur.fetchmany(batch_rows):
                    names = [d.name for d in cur.description]
                    rows += pl.DataFrame(batch, schema=names, orient="row", infer_schema_length=None).height
    elif client == "connectorx (whole result)":
        import connectorx as cx

        rows = cx.read_sql(url, query, return_type="polars").height
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows_read": rows, "peak_rss_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would also count the parent's, inherited across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _seed(url: str, orders: int, landing: Path) -> dict[str, int]:
    """The sample shop into PostgreSQL and, block by block, the same rows as Parquet files."""
    from assets.extraction.sample_shop import SampleShopConfig, iter_blocks
    from tests.support.pg_server import SHOP_TABLES, admin, insert_rows

    counts = dict.fromkeys(ENTITY_ORDER, 0)
    with admin(url) as cur:
        cur.execute("SET TimeZone = 'UTC'")
        for table, _, ddl in SHOP_TABLES.values():
            cur.execute(f"CREATE TABLE {table} ({ddl})")
        for i, block in enumerate(iter_blocks(SampleShopConfig(orders=orders), duplicates=False)):
            for entity, frame in block.items():
                table, renames, _ = SHOP_TABLES[entity]
                insert_rows(cur, table, frame.rename(renames))
                (landing / entity).mkdir(parents=True, exist_ok=True)
                frame.write_parquet(landing / entity / f"block-{i:04d}.parquet")
                counts[entity] += frame.height
        cur.execute("ANALYZE")
    return counts


def _nightly_changes(url: str, orders: int) -> None:
    """1% of orders refunded or cancelled after the last run, 0.2% new orders."""
    from tests.support.pg_server import admin

    with admin(url) as cur:
        cur.execute("SELECT max(updated_at) FROM shop_order")
        after = cur.fetchone()[0] + timedelta(hours=1)
        cur.execute(
            "UPDATE shop_order SET status = 'refunded', refunded_amount = subtotal, updated_at = $1 "
            "WHERE id IN (SELECT id FROM shop_order ORDER BY md5(id) LIMIT $2)",
            parameters=(after, orders // 100),
        )
        cur.execute(
            "INSERT INTO shop_order SELECT 'N' || id, customer_id, $1, $1, 'placed', device, channel, currency, "
            "subtotal, discount, shipping, tax, 0, coupon_code FROM shop_order ORDER BY md5(id || 'n') LIMIT $2",
            parameters=(after, orders // 500),
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:7])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--client-child":
        _client_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--clients", action="store_true", help="also compare client libraries on the orders query")
    parser.add_argument("--batch-rows", type=int, default=50_000)
    args = parser.parse_args()

    from tests.support.pg_server import throwaway_postgres

    with throwaway_postgres() as server, tempfile.TemporaryDirectory() as tmp:
        tmp_path, url = Path(tmp), server.url()
        t0 = time.perf_counter()
        counts = _seed(url, args.orders, tmp_path / "landing")
        print(f"seeded {counts} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        rows = [("| step | rows read | seconds | rows/s | peak RSS (MB) |"), "|---|---:|---:|---:|---:|"]

        def row(label: str, r: dict) -> None:
            rows.append(f"| {label} | {r['rows_read']:,} | {r['seconds']:.1f} | "
                        f"{r['rows_read'] / r['seconds']:,.0f} | {r['peak_rss_mb']:.0f} |")
            print(rows[-1], file=sys.stderr)

        landing = _measure(["--child", "landing", str(tmp_path / "landing.duckdb"), url, str(tmp_path / "landing"), "0"])
        row("first load, landing folder (Parquet)", landing)
        first = _measure(["--child", "postgres", str(tmp_path / "pg.duckdb"), url, "", str(args.batch_rows)])
        row("first load, PostgreSQL", first)
        _nightly_changes(url, args.orders)
        nightly = _measure(["--child", "postgres", str(tmp_path / "pg.duckdb"), url, "", str(args.batch_rows)])
        row(f"nightly increment, PostgreSQL (orders: {nightly['orders']})", nightly)
        rows.append(f"\nPostgreSQL / landing, first load: {first['seconds'] / landing['seconds']:.2f}x")
        if args.clients:
            rows += ["", "| client (orders query into Polars) | rows | seconds | peak RSS (MB) |", "|---|---:|---:|---:|"]
            for client in ("adbc (server-side cursor, as used)", "adbc (one COPY stream)",
                           "psycopg 3 (server-side cursor, rows to Polars)", "connectorx (whole result)"):
                try:
                    r = _measure(["--client-child", client, url, str(args.batch_rows)])
                except subprocess.CalledProcessError as exc:
                    rows.append(f"| {client} | not measured: {(exc.stderr.strip().splitlines() or ['failed'])[-1]} | | |")
                    continue
                rows.append(f"| {client} | {r['rows_read']:,} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |")
                print(rows[-1], file=sys.stderr)
        print(f"\n{args.orders:,} sample-shop orders ({sum(counts.values()):,} rows in all entities)\n")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
