"""The incremental staging tables and intermediates give exactly what a full rebuild gives.

A sample shop (20,000 orders, fixed seed) is extracted up to the day before
its last day and built; then the last day is extracted (new orders, orders
fulfilled and cancelled, and late refunds of orders weeks old) and, to cover
the one case the natural data lacks, one customer's only qualifying order is
refunded in full by an upsert (the customer must leave int_customer_orders)
and an old order moves to another customer, and one customer's attributes
change (country, acquisition channel, loyalty tier) with no order of theirs.
The same warehouse is then built twice: incrementally, as the nightly run
does, and from scratch with --full-refresh on a copy. Every intermediate and
mart table must hold exactly the same rows, and so must every staging table.
"""

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.sample_shop import ENTITY_NAMES, SampleShopConfig
from assets.extraction.sources import SampleShopSource
from assets.warehouse import connect
from models.predictions import FIT_METADATA_TABLE

from .conftest import DBT, DBT_ENV, DBT_PROJECT_DIR

pytestmark = pytest.mark.slow  # dbt builds of a 20,000-order shop

VARS = '{"shop_timezone": "America/New_York"}'
INCREMENTAL = {
    "int_orders": "intermediate", "int_customer_orders": "intermediate", "int_customer_order_facts": "intermediate",
    "int_cohort_activity": "intermediate",
    **{f"stg_shop__{e}": "staging" for e in ENTITY_NAMES},
}


def _dbt(args: list[str], warehouse: Path, target: Path) -> subprocess.Popen:
    """Start dbt on `warehouse`, named relative to its folder (the working directory).

    Both warehouses are then the same profile to dbt, so the second target can
    reuse the first one's partial parse (a full parse is ~10 s).
    """
    cmd = [
        str(DBT), *args, "--vars", VARS,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"),
    ]
    env = {**DBT_ENV, "RETENTION_BUILD_DB": warehouse.name}
    return subprocess.Popen(
        cmd, cwd=warehouse.parent, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait(proc: subprocess.Popen, what: str) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"dbt {what} failed:\n{out[-8000:]}"
    return out


def _tables(con, schema: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'inc' AND schema_name = ? ORDER BY 1", [schema]
    ).fetchall()]


@pytest.fixture(scope="module")
def nightly_and_full(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dbt_incremental")
    source = SampleShopSource(SampleShopConfig(orders=20_000))
    last_day_end = source.history_end()
    (tmp / "incremental").mkdir()
    (tmp / "full").mkdir()
    incremental_db, full_db = tmp / "incremental" / "warehouse.duckdb", tmp / "full" / "warehouse.duckdb"

    con = connect(str(incremental_db))
    run_extraction(con, source, ExtractRequest(ENTITY_NAMES, until=last_day_end - timedelta(days=1)), "day-1", log=lambda m: None)
    con.close()
    _wait(_dbt(["run"], incremental_db, tmp / "target_inc"), "run (first build)")

    con = connect(str(incremental_db))
    before = dict(con.execute("SELECT order_id, refunded_amount FROM raw.orders").fetchall())
    (loaded_before,) = con.execute("SELECT max(_loaded_at) FROM raw.orders").fetchone()
    stats = run_extraction(con, source, ExtractRequest(ENTITY_NAMES, until=last_day_end), "day", log=lambda m: None)
    week_before = last_day_end - timedelta(days=7)
    late_refunds = sum(
        1 for order_id, refunded, created_at in con.execute("SELECT order_id, refunded_amount, created_at FROM raw.orders").fetchall()
        if order_id in before and refunded > before[order_id] and created_at < week_before
    )
    # A customer with one qualifying order, months old: refund it in full, as a late upsert would. Taken
    # from a first-order month no other customer's order moved in tonight, so the cohort facts must
    # notice the customer leaving on their own (nothing else recomputes that cohort).
    (order_id, cohort_untouched) = con.execute(
        """
        WITH firsts AS (
            SELECT customer_id, date_trunc('month', min(created_at)) AS cohort
            FROM raw.orders WHERE customer_id IS NOT NULL GROUP BY customer_id
        ),
        touched AS (
            SELECT DISTINCT firsts.cohort FROM raw.orders JOIN firsts USING (customer_id) WHERE raw.orders._loaded_at > ?
        )
        SELECT any_value(order_id), firsts.cohort NOT IN (SELECT cohort FROM touched)
        FROM raw.orders JOIN firsts USING (customer_id)
        WHERE status = 'fulfilled' AND created_at < TIMESTAMP '2025-06-01'
        GROUP BY customer_id, firsts.cohort HAVING count(*) = 1
        ORDER BY 2 DESC, customer_id LIMIT 1
        """,
        [loaded_before],
    ).fetchone()
    con.execute(
        """
        UPDATE raw.orders
        SET status = 'refunded', refunded_amount = subtotal - discount,
            updated_at = ?, _loaded_at = (SELECT max(_loaded_at) FROM raw.orders) + INTERVAL 1 SECOND
        WHERE order_id = ?
        """,
        [last_day_end, order_id],
    )
    # And an old order moved to another customer (a guest order claimed by an account, say): both
    # customers' sequences change, and the old owner's row must go.
    regulars = [r[0] for r in con.execute(
        "SELECT customer_id FROM raw.orders WHERE status = 'fulfilled' AND customer_id IS NOT NULL "
        "GROUP BY customer_id HAVING count(*) >= 3 ORDER BY customer_id LIMIT 2"
    ).fetchall()]
    new_owner = regulars[1]
    (moved_order,) = con.execute(
        "SELECT order_id FROM raw.orders WHERE customer_id = ? AND status = 'fulfilled' ORDER BY created_at LIMIT 1",
        [regulars[0]],
    ).fetchone()
    con.execute(
        """
        UPDATE raw.orders
        SET customer_id = ?, updated_at = ?, _loaded_at = (SELECT max(_loaded_at) FROM raw.orders) + INTERVAL 1 SECOND
        WHERE order_id = ?
        """,
        [new_owner, last_day_end, moved_order],
    )
    # And a customer with orders whose attributes changed (country, channel, tier): the marts that
    # carry them must follow although none of the customer's orders moved.
    (changed_customer,) = con.execute(
        "SELECT customer_id FROM raw.orders WHERE status = 'fulfilled' AND customer_id IS NOT NULL "
        "AND customer_id NOT IN (?, ?) GROUP BY customer_id HAVING count(*) >= 2 ORDER BY customer_id DESC LIMIT 1",
        regulars,
    ).fetchone()
    con.execute(
        """
        UPDATE raw.customers
        SET country = CASE WHEN country = 'DE' THEN 'FR' ELSE 'DE' END,
            acquisition_channel = acquisition_channel || '_moved', loyalty_tier = 'gold',
            updated_at = ?, _loaded_at = (SELECT max(_loaded_at) FROM raw.orders) + INTERVAL 1 SECOND
        WHERE customer_id = ?
        """,
        [last_day_end, changed_customer],
    )
    con.execute("CHECKPOINT")
    con.close()
    shutil.copyfile(incremental_db, full_db)
    (tmp / "target_full").mkdir()
    shutil.copyfile(tmp / "target_inc" / "partial_parse.msgpack", tmp / "target_full" / "partial_parse.msgpack")

    # Both at once (two cores): the nightly incremental run and a rebuild from scratch. (Data tests run in
    # test_dbt_build.py; here the rebuild is the oracle.)
    nightly = _dbt(["run"], incremental_db, tmp / "target_inc")
    full = _dbt(["run", "--full-refresh"], full_db, tmp / "target_full")
    _wait(nightly, "run (incremental)")
    _wait(full, "run --full-refresh")
    compiled = {
        model: (tmp / "target_inc" / "compiled" / "retention" / "models" / folder / f"{model}.sql").read_text()
        for model, folder in INCREMENTAL.items()
    }

    con = duckdb.connect()
    con.execute(f"ATTACH '{incremental_db}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{full_db}' AS rebuilt (READ_ONLY)")
    yield {"con": con, "stats": stats, "late_refunds": late_refunds, "refunded_order": order_id, "cohort_untouched": cohort_untouched, "moved_order": (moved_order, new_owner), "changed_customer": changed_customer, "compiled": compiled}
    con.close()


def test_the_increment_holds_new_orders_and_late_refunds(nightly_and_full):
    stats = nightly_and_full["stats"]
    assert stats["orders"].inserted > 0 and stats["orders"].updated > 0
    assert nightly_and_full["late_refunds"] > 0  # refunds of orders more than a week old arrived with the last day


def test_the_nightly_build_ran_incrementally(nightly_and_full):
    # the compiled SQL of the last (nightly) build took the is_incremental() branch
    for model, sql in nightly_and_full["compiled"].items():
        assert "loaded_after" in sql, model


# Marts that remember earlier builds by design: since when a customer has been in an audience, and
# one summary row per night with what entered and left since the build before. A full refresh starts
# that history over (docs/metrics.md, "Audiences"), so they are compared on tonight's content only.
HISTORY_KEPT = {
    "mart_audience_members": (
        "customer_id, audience, reason, score, predicted_clv_12m, p_alive, expected_next_order_date, "
        "last_order_date, accepts_marketing, as_of_date", "true"),
    "mart_audience_summary": (
        # a double summed in parallel: its last bits follow the engine's summation order
        "as_of_date, audience, is_tracked, note, members, round(value_at_stake, 6)",
        "as_of_date = (SELECT max(as_of_date) FROM {db}.marts.mart_audience_summary)"),
}


def test_incremental_tables_equal_a_full_rebuild(nightly_and_full):
    con = nightly_and_full["con"]
    tables = [(schema, t) for schema in ("staging", "intermediate", "marts") for t in _tables(con, schema)]
    # The fit's run metadata holds its own timing: not a result.
    tables.remove(FIT_METADATA_TABLE)
    assert {t for _, t in tables} >= {*INCREMENTAL, "mart_customer_churn", "mart_retention_rate", "mart_cohort_retention"}
    differences = {}
    for schema, table in tables:
        columns, where = HISTORY_KEPT.get(table, ("*", "true"))
        a, b = (
            con.execute(f"SELECT {columns} FROM {db}.{schema}.{table} WHERE {where.format(db=db)} ORDER BY ALL").fetchall()
            for db in ("inc", "rebuilt")
        )
        assert a, f"{schema}.{table} is empty"
        if a != b:
            differences[f"{schema}.{table}"] = (len(a), len(b))
    assert not differences, differences


def test_a_customer_whose_only_order_was_refunded_leaves_the_customer_facts(nightly_and_full):
    con, order_id = nightly_and_full["con"], nightly_and_full["refunded_order"]
    # the case the cohort facts must catch by their counts: no other order of the cohort moved
    assert nightly_and_full["cohort_untouched"], "no first-order month untouched by the night: pick another seed"
    (customer_id,) = con.execute("SELECT customer_id FROM inc.intermediate.int_orders WHERE order_id = ?", [order_id]).fetchone()
    assert con.execute("SELECT is_qualifying FROM inc.intermediate.int_orders WHERE order_id = ?", [order_id]).fetchone() == (False,)
    assert con.execute("SELECT count(*) FROM inc.intermediate.int_customer_orders WHERE customer_id = ?", [customer_id]).fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM inc.marts.mart_customer_churn WHERE customer_id = ?", [customer_id]).fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM inc.intermediate.int_customer_order_facts WHERE customer_id = ?", [customer_id]).fetchone() == (0,)


def test_an_order_moved_to_another_customer_leaves_its_old_owner(nightly_and_full):
    con = nightly_and_full["con"]
    order_id, new_owner = nightly_and_full["moved_order"]
    assert order_id is not None and new_owner is not None
    assert con.execute("SELECT customer_id FROM inc.intermediate.int_customer_orders WHERE order_id = ?", [order_id]).fetchall() == [(new_owner,)]


def test_a_changed_customer_reaches_the_marts(nightly_and_full):
    con, customer_id = nightly_and_full["con"], nightly_and_full["changed_customer"]
    (channel,) = con.execute("SELECT acquisition_channel FROM inc.staging.stg_shop__customers WHERE customer_id = ?", [customer_id]).fetchone()
    assert channel.endswith("_moved")
    assert con.execute("SELECT loyalty_tier FROM inc.marts.mart_customer_segments WHERE customer_id = ?", [customer_id]).fetchall() == [("gold",)]
    assert con.execute("SELECT orders_count FROM inc.intermediate.int_customer_order_facts WHERE customer_id = ?", [customer_id]).fetchone()[0] >= 2


def test_the_moved_orders_old_owner_was_recounted(nightly_and_full):
    con = nightly_and_full["con"]
    order_id, _ = nightly_and_full["moved_order"]
    counts = con.execute(
        """
        SELECT facts.customer_id, facts.orders_count, count(orders.order_id)
        FROM inc.intermediate.int_customer_order_facts AS facts
        JOIN inc.intermediate.int_customer_orders AS orders USING (customer_id)
        GROUP BY ALL HAVING facts.orders_count <> count(orders.order_id)
        """
    ).fetchall()
    assert counts == []


def test_the_night_scored_with_the_stored_fit_in_both_builds(nightly_and_full):
    """The first build fitted and stored the models; the night (incremental or rebuilt) scored with that fit.

    The fit history is no dbt model: a full refresh keeps it, so both builds
    decide alike and their predictions match (test above).
    """
    import json

    con = nightly_and_full["con"]
    schema, table = FIT_METADATA_TABLE
    for db in ("inc", "rebuilt"):
        fits = con.execute(f"SELECT fit_id, fitted, refit_reason FROM {db}.model_state.prediction_fits").fetchall()
        assert fits == [(1, True, "no stored fit")], (db, fits)
        meta = json.loads(con.execute(f"SELECT metadata FROM {db}.{schema}.{table}").fetchone()[0])
        assert (meta["refit"], meta["fit_id"]) == (False, 1), (db, meta.get("refit_reason"))
        assert meta["refit_reason"].startswith("not due"), meta["refit_reason"]
