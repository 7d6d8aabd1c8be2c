"""A small hand-made build warehouse with a `marts` schema (no dbt needed)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pytest

MARTS_SQL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.customers AS
    SELECT 'c' || i AS customer_id, 'person' || i || '@example.com' AS email FROM range(1, 51) t(i);
CREATE SCHEMA IF NOT EXISTS intermediate;
CREATE OR REPLACE TABLE intermediate.int_as_of_date AS
    SELECT DATE '2025-06-30' AS as_of_date, DATE '2025-06-01' AS as_of_month;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.mart_customer_churn AS
    SELECT 'c' || i AS customer_id,
           TIMESTAMP '2024-01-01 10:00:00' + INTERVAL (i) DAY AS first_order_at,
           DATE '2024-01-01' + INTERVAL (i * 3) DAY AS last_order_date,
           (i % 7)::BIGINT AS orders_count,
           DATE '2025-06-30' AS as_of_date,
           i % 3 = 0 AS is_churned,
           CASE WHEN i % 5 = 0 THEN NULL ELSE i * 1.5 END::DOUBLE AS typical_interorder_days
    FROM range(1, 51) t(i);
CREATE OR REPLACE TABLE marts.mart_aov_by_device AS
    SELECT (DATE '2024-07-01' + INTERVAL (m) MONTH)::DATE AS order_month, d AS device,
           (10 + m)::BIGINT AS orders, (8 + m)::BIGINT AS customers,
           ((10 + m) * 50.25)::DECIMAL(18,2) AS net_revenue, 50.25::DOUBLE AS aov,
           (3)::BIGINT AS new_customer_orders, 40.0::DOUBLE AS new_customer_aov,
           (7 + m)::BIGINT AS returning_customer_orders, 55.0::DOUBLE AS returning_customer_aov,
           0::BIGINT AS guest_orders, NULL::DOUBLE AS guest_aov
    FROM range(0, 12) a(m), (VALUES ('desktop'), ('mobile'), ('tablet')) b(d);
CREATE OR REPLACE TABLE marts.mart_retention_rate AS
    SELECT (DATE '2024-07-01' + INTERVAL (m) MONTH)::DATE AS month,
           m < 11 AS is_complete_month,
           CASE WHEN m = 0 THEN NULL ELSE 0.9 - m / 100 END::DOUBLE AS retention_rate
    FROM range(0, 12) a(m);
"""


def make_build_db(path: Path, extra_sql: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(MARTS_SQL)
        if extra_sql:
            con.execute(extra_sql)
    finally:
        con.close()
    return path


@pytest.fixture
def build_db(tmp_path) -> Path:
    return make_build_db(tmp_path / "data" / "build" / "warehouse.duckdb")


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under `root`: symlink targets and file sha256 (following nothing)."""
    out = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


@pytest.fixture
def make_db():
    """make_db(path, extra_sql="") -> path of a fresh hand-made build warehouse."""
    return make_build_db


@pytest.fixture
def digest():
    """digest(root) -> {relative path: sha256 | link target | 'dir'}."""
    return tree_digest
