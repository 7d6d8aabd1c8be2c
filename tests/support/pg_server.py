"""A throwaway PostgreSQL server for tests and benchmarks (initdb + pg_ctl in a temp folder).

initdb refuses to run as root, and the suite runs as root in CI: the server
then runs as the `postgres` OS user, in a folder handed over to it. It listens
on a free local TCP port (password authentication, like a real shop database)
and on a unix socket in the same folder (trusted, for the admin connection).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("initdb", "pg_ctl", "postgres")
SHOP_USER = "shop_reader"
SHOP_PASSWORD = "s3cret-Pa55word"
SHOP_DB = "shop"


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    root: Path
    port: int
    as_user: list[str]

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, db: str = SHOP_DB) -> str:
        """What a shop would put in RETENTION_POSTGRES_URL (TCP, password)."""
        return f"postgresql://{SHOP_USER}:{SHOP_PASSWORD}@127.0.0.1:{self.port}/{db}"

    def admin_url(self, db: str = "postgres") -> str:
        """Superuser over the unix socket (copying databases, ending sessions)."""
        return f"postgresql://postgres@/{db}?host={self.root}&port={self.port}"

    def clone(self, template: str, name: str) -> str:
        """A fresh copy of a seeded database (cheap: a file copy); returns its URL."""
        with admin(self.admin_url()) as cur:
            cur.execute(f"CREATE DATABASE {name} TEMPLATE {template} OWNER {SHOP_USER}")
        return self.url(name)

    def end_reader_sessions(self) -> None:
        """Cut every connection of the shop's reader, as a failover or network drop would."""
        with admin(self.admin_url()) as cur:
            cur.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{SHOP_USER}'")
            cur.fetchall()

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, "pg_ctl", "-D", str(self.data_dir), *args],
            check=True, capture_output=True, text=True,
        )

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.pg_ctl("-o", opts, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "immediate", "-w", "stop")


@contextmanager
def admin(url: str):
    """An autocommit cursor (each statement commits on its own)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
        yield cur


@contextmanager
def throwaway_postgres() -> Iterator[PgServer]:
    """Start a fresh server with a `shop` database and a password-protected reader; stop and delete it after."""
    root = Path(tempfile.mkdtemp(prefix="retention-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PgServer(root, _free_port(), as_user)
    started = False
    try:
        subprocess.run(
            [*as_user, "initdb", "-D", str(server.data_dir), "-U", "postgres", "-E", "UTF8",
             "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"],
            check=True, capture_output=True, text=True,
        )
        server.start()
        started = True
        with admin(f"postgresql://postgres@/postgres?host={root}&port={server.port}") as cur:
            cur.execute(f"CREATE ROLE {SHOP_USER} LOGIN PASSWORD '{SHOP_PASSWORD}'")
            cur.execute(f"CREATE DATABASE {SHOP_DB} OWNER {SHOP_USER}")
        yield server
    finally:
        if started:
            try:
                server.stop()
            except subprocess.CalledProcessError:
                pass  # already stopped by a test
        shutil.rmtree(root, ignore_errors=True)


# A generic shop schema (Django-style names: `id` keys, `date_joined`), the
# example of docs/postgres.md. Money is NUMERIC and times are timestamptz, as
# in most shop systems.
SHOP_TABLES: dict[str, tuple[str, dict[str, str], str]] = {
    # entity: (table, {contract column: shop column}, DDL)
    "customers": ("shop_customer", {"customer_id": "id", "created_at": "date_joined"}, """
        id text PRIMARY KEY, email text, date_joined timestamptz NOT NULL, country text,
        acquisition_channel text, loyalty_tier text, updated_at timestamptz NOT NULL"""),
    "orders": ("shop_order", {"order_id": "id"}, """
        id text PRIMARY KEY, customer_id text, created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL, status text NOT NULL, device text, channel text,
        currency char(3), subtotal numeric(12,2), discount numeric(12,2), shipping numeric(12,2),
        tax numeric(12,2), refunded_amount numeric(12,2), coupon_code text"""),
    "order_lines": ("shop_orderline", {}, """
        order_id text NOT NULL, line_number integer NOT NULL, product_id text, category text,
        quantity integer, unit_price numeric(12,2), unit_cost numeric(12,2), updated_at timestamptz,
        PRIMARY KEY (order_id, line_number)"""),
    "carts": ("shop_cart", {"cart_id": "id"}, """
        id text PRIMARY KEY, customer_id text, device text, created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL, status text, converted_order_id text, item_count integer,
        cart_value numeric(12,2), currency char(3), first_recovery_email_at timestamptz,
        second_recovery_email_at timestamptz, recovered boolean"""),
    "support_tickets": ("helpdesk_ticket", {"ticket_id": "id"}, """
        id text PRIMARY KEY, customer_id text, order_id text, channel text, category text,
        created_at timestamptz NOT NULL, first_response_at timestamptz, resolved_at timestamptz,
        status text, csat_score integer, reopened_count integer, updated_at timestamptz NOT NULL"""),
}

SHOP_QUERIES: dict[str, str] = {
    "customers": "SELECT id AS customer_id, email, date_joined AS created_at, country, acquisition_channel, "
                 "loyalty_tier, updated_at FROM shop_customer",
    "orders": "SELECT id AS order_id, customer_id, created_at, updated_at, status, device, channel, currency, "
              "subtotal, discount, shipping, tax, refunded_amount, coupon_code FROM shop_order",
    "order_lines": "SELECT order_id, line_number, product_id, category, quantity, unit_price, unit_cost, "
                   "updated_at FROM shop_orderline",
    "carts": "SELECT id AS cart_id, customer_id, device, created_at, updated_at, status, converted_order_id, "
             "item_count, cart_value, currency, first_recovery_email_at, second_recovery_email_at, recovered "
             "FROM shop_cart",
    "support_tickets": "SELECT id AS ticket_id, customer_id, order_id, channel, category, created_at, "
                       "first_response_at, resolved_at, status, csat_score, reopened_count, updated_at "
                       "FROM helpdesk_ticket",
}


def seed_shop(url: str, frames: dict) -> None:
    """Create the shop tables (as the shop's own user) and fill them with the sample shop's frames."""
    with admin(url) as cur:
        cur.execute("SET TimeZone = 'UTC'")
        for entity, frame in frames.items():
            table, renames, ddl = SHOP_TABLES[entity]
            cur.execute(f"CREATE TABLE {table} ({ddl})")
            insert_rows(cur, table, frame.rename(renames))


def insert_rows(cur, table: str, frame) -> None:
    """Append a frame through a staging table (the shop table's own types apply on insert)."""
    stage = f"_stage_{table}"
    cur.adbc_ingest(stage, frame.to_arrow(), mode="replace")
    cols = ", ".join(frame.columns)
    cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}")
    cur.execute(f"DROP TABLE {stage}")
