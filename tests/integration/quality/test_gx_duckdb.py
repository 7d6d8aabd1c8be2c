"""GX's SQL data source on a DuckDB file: the data source type, its one-connection fix, a Checkpoint over it.

Small tables made here; every number below is computed by DuckDB through GX's
own metrics, not by the project.
"""

import os

import duckdb
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

pytest.importorskip("duckdb_engine", reason="GX's SQL data source on DuckDB needs the duckdb-engine dialect")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402

from assets.quality.gx_duckdb import DuckDBDatasource, DuckDBExecutionEngine, add_duckdb  # noqa: E402


@pytest.fixture()
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "build.duckdb"))
    c.execute("CREATE SCHEMA raw")
    # 1,000 orders loaded in two nights; night 2 brings 10 negative amounts and one repeated key
    c.execute("""
        CREATE TABLE raw.orders AS
        SELECT i AS order_id, CASE WHEN i > 900 AND i % 10 = 0 THEN -1.0 ELSE i * 1.5 END AS amount,
               CASE WHEN i <= 800 THEN TIMESTAMP '2026-01-01' ELSE TIMESTAMP '2026-01-02' END AS _loaded_at
        FROM range(1, 1001) r(i)""")
    c.execute("INSERT INTO raw.orders VALUES (5, 7.5, TIMESTAMP '2026-01-02')")
    yield c
    c.close()


def _context():
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = None
    return ctx


def test_the_type_is_registered_by_name():
    ctx = _context()
    assert DuckDBDatasource.__fields__["type"].default == "duckdb"
    assert callable(ctx.data_sources.add_duckdb) and callable(ctx.data_sources.add_or_update_duckdb)


def test_checkpoint_judges_the_rows_loaded_after_a_boundary(con):
    ctx = _context()
    ds = add_duckdb(ctx, "warehouse", con)
    assert isinstance(ds.get_execution_engine(), DuckDBExecutionEngine)
    asset = ds.add_query_asset("orders_new", query="SELECT * FROM raw.orders WHERE _loaded_at > TIMESTAMP '2026-01-01'")
    batch = asset.add_batch_definition_whole_table("new_rows")
    suite = ctx.suites.add(gx.ExpectationSuite(name="raw_orders", expectations=[
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, mostly=0.95),
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        # a new row repeating a key of any row, older ones included
        gxe.UnexpectedRowsExpectation(unexpected_rows_query=(
            "SELECT * FROM {batch} WHERE order_id IN "
            "(SELECT order_id FROM raw.orders GROUP BY order_id HAVING count(*) > 1)")),
    ]))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="raw_orders", data=batch, suite=suite))
    result = ctx.checkpoints.add(gx.Checkpoint(name="raw", validation_definitions=[vd])).run()

    (run,) = result.run_results.values()
    assert not [r.exception_info for r in run.results if r.exception_info.get("raised_exception")]
    between = [r for r in run.results if r.expectation_config.type == "expect_column_values_to_be_between"]
    mostly, strict = sorted(between, key=lambda r: r.expectation_config.kwargs.get("mostly", 1))
    (count,) = [r for r in run.results if r.expectation_config.type == "expect_table_row_count_to_be_between"]
    (repeated,) = [r for r in run.results if r.expectation_config.type == "unexpected_rows_expectation"]
    assert mostly.success and not strict.success  # 10 of 201 new rows: within 5%, not within 0%
    assert (strict.result["element_count"], strict.result["unexpected_count"]) == (201, 10)
    assert strict.result["unexpected_percent"] == pytest.approx(100 * 10 / 201)
    assert strict.result["partial_unexpected_list"][:3] == [-1.0, -1.0, -1.0]
    assert count.result["observed_value"] == 201
    assert not repeated.success and repeated.result["observed_value"] == 1  # the new copy of key 5
    assert not result.success


def test_each_query_sees_what_was_written_since(con):
    """The kept connection does not pin a snapshot: rows written between two validations are seen."""
    ctx = _context()
    batch = add_duckdb(ctx, "warehouse", con).add_query_asset(
        "orders", query="SELECT * FROM raw.orders").add_batch_definition_whole_table("all")
    assert batch.get_batch().validate(gxe.ExpectTableRowCountToEqual(value=1001)).success
    con.execute("INSERT INTO raw.orders VALUES (2000, 1.0, TIMESTAMP '2026-01-03')")
    assert batch.get_batch().validate(gxe.ExpectTableRowCountToEqual(value=1002)).success


def test_without_the_kept_connection_gx_loses_the_rows(con):
    """Why the fix exists: GX's generic engine returns the connection before fetching (DuckDB has nothing left).

    When GX fixes this upstream this test fails, and `gx_duckdb` can go.
    """
    from duckdb_engine import ConnectionWrapper

    ds = _context().data_sources.add_sql(
        "generic", connection_string="duckdb://", kwargs={"creator": lambda: ConnectionWrapper(con.cursor())})
    batch = ds.add_query_asset("orders", query="SELECT * FROM raw.orders").add_batch_definition_whole_table("all")
    out = batch.get_batch().validate(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=-5))
    assert not out.success and out.exception_info
