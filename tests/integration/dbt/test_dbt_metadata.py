"""What Dagster shows about dbt tests and tables: readable check descriptions, row-count queries."""

import dagster as dg
import duckdb

from assets.dbt import describe_dbt_test, row_count_sql


def _generic(kind, column=None, severity="error", **kwargs):
    return {
        "name": f"{kind}_generated_name",
        "column_name": column,
        "test_metadata": {"name": kind, "kwargs": {"column_name": column, **kwargs}},
        "config": {"severity": severity},
        "description": "",
    }


def test_a_generic_test_is_described_by_what_it_checks():
    assert describe_dbt_test(_generic("unique", "order_id")) == "order_id is unique"
    assert describe_dbt_test(_generic("not_null", "order_id")) == "order_id is never null"
    assert describe_dbt_test(_generic("accepted_values", "status", values=["open", "closed"])) == (
        "status is one of: open, closed"
    )
    assert describe_dbt_test(_generic("accepted_range", "rate", min_value=0, max_value=1)) == "rate is >= 0 and <= 1"
    assert describe_dbt_test(_generic("accepted_range", "orders", min_value=1)) == "orders is >= 1"
    assert describe_dbt_test(
        _generic("unique_combination_of_columns", combination_of_columns=["order_id", "line_number"])
    ) == "(order_id, line_number) is unique"


def test_relationships_and_reconciliations_name_the_other_model():
    got = describe_dbt_test(_generic("relationships", "order_id", to="ref('stg_shop__orders')", field="order_id"))
    assert got == "every order_id is a order_id of stg_shop__orders"
    got = describe_dbt_test(_generic("sums_match", "net_revenue", compare_model="ref('int_orders')",
                                     compare_column="net_revenue", compare_where="is_qualifying"))
    assert got == "sum of net_revenue equals sum of net_revenue in int_orders where is_qualifying"


def test_a_warn_test_says_it_never_blocks_and_a_written_description_wins():
    assert describe_dbt_test(_generic("not_null", "x", severity="warn")).endswith("(warns, never blocks)")
    written = {"name": "predictions_fitted", "description": "Both  models\n fitted.", "config": {"severity": "warn"}}
    assert describe_dbt_test(written) == "Both models fitted."
    assert describe_dbt_test({"name": "odd_test", "test_metadata": {"name": "custom"}}) == "dbt test odd_test"


def test_row_counts_are_read_for_each_layer_table_in_one_query():
    con = duckdb.connect()
    con.execute("create schema marts; create schema staging")
    con.execute("create table marts.mart_a as select * from range(3)")
    con.execute("create table staging.stg_shop__orders as select * from range(5)")
    sql = row_count_sql([dg.AssetKey(["marts", "mart_a"]), dg.AssetKey(["staging", "stg_shop__orders"])])
    assert dict(con.execute(sql).fetchall()) == {"marts/mart_a": 3, "staging/stg_shop__orders": 5}


def test_the_prediction_fit_becomes_metadata_with_a_holdout_table():
    from assets.dbt import fit_metadata_values

    md = fit_metadata_values({
        "bgnbd_r": 0.25, "customers": 3, "bgnbd_fitted": True, "prediction_note": "few repeaters",
        "holdout_by_frequency": [{"frequency": 0, "actual": 0.5, "predicted": 0.625}],
    })
    assert md["bgnbd_r"] == 0.25 and md["customers"] == 3 and md["prediction_note"] == "few repeaters"
    table = md["holdout_by_frequency"].value
    assert table.splitlines()[0] == "| frequency | actual | predicted |"
    assert table.splitlines()[-1] == "| 0 | 0.500 | 0.625 |"
