"""The `landing.<entity>` mapping settings, placeholders, file patterns and output checks: no files, no DuckDB."""

import pytest

from assets.extraction.contract import ENTITIES
from assets.extraction.dialect import landing_options
from assets.extraction.mapping import (
    MappingError,
    check_pattern,
    expand,
    file_pattern,
    list_literal,
    output_problems,
    parse_entity_files,
    reader_sql,
)
from assets.user_config import UserConfigError

WHERE = "/shop/retention.yml"
QUERY = "SELECT InvoiceNo AS order_id FROM {files}"


def options(landing: dict):
    return landing_options({"landing": landing, "_path": WHERE})


def test_files_and_query_are_read_per_entity():
    opts = options({"orders": {"files": "invoices/*.csv", "query": QUERY}, "customers": {"csv": {"decimal": ","}}})
    spec = opts.files("orders")
    assert (spec.files, spec.query, spec.read) == ("invoices/*.csv", QUERY, "new")
    assert spec.key == f"{WHERE}: landing.orders.query"
    # Without files or query an entity keeps its own folder and the contract's shape.
    assert (opts.files("customers").files, opts.files("customers").query) == ("customers/**/*", None)


def test_a_query_without_files_reads_the_entity_folder():
    assert options({"orders": {"query": QUERY}}).files("orders").files == "orders/**/*"


def test_trailing_semicolon_is_dropped():
    assert options({"orders": {"query": QUERY + " ;\n"}}).files("orders").query == QUERY


@pytest.mark.parametrize(
    "value, phrase",
    [
        ({"querry": QUERY}, "landing.orders.querry: unknown key; expected one of: csv, files, query, read"),
        ({"query": ""}, "landing.orders.query: expected a non-empty SQL query"),
        ({"query": "SELECT 1 AS order_id"}, "landing.orders.query: the query reads no landing files"),
        ({"query": "SELECT * FROM {file}"}, "landing.orders.query: unknown placeholder {file}"),
        ({"files": "/etc/*.csv", "query": QUERY}, "landing.orders.files: '/etc/*.csv' must be relative"),
        ({"files": "../other/*.csv", "query": QUERY}, "must be relative to the landing folder and stay inside it"),
        ({"files": 3, "query": QUERY}, "landing.orders.files: expected a file pattern"),
        ({"query": QUERY, "read": "everything"}, "landing.orders.read: 'everything'; expected new or all"),
        ({"read": "all"}, "landing.orders.read: 'all'; expected only beside a query"),
    ],
)
def test_a_bad_mapping_setting_is_one_line_naming_file_and_key(value, phrase):
    with pytest.raises(UserConfigError) as err:
        options({"orders": value})
    message = str(err.value)
    assert message.startswith(f"{WHERE}: ") and phrase in message and "\n" not in message, message


def test_struct_literals_are_not_taken_for_placeholders():
    query = "SELECT {'a': 1} AS s, order_id FROM {files}"
    assert parse_entity_files("orders", {"query": query}, WHERE).query == query


def test_placeholders_are_filled_in_one_select():
    sql = expand("SELECT * FROM {files} WHERE x IN (SELECT 1 FROM read_csv({file_list}))", "R", "['a.csv']")
    assert sql == "SELECT * FROM (\nSELECT * FROM R WHERE x IN (SELECT 1 FROM read_csv(['a.csv']))\n) AS mapped"


def test_paths_are_quoted_as_sql_strings():
    assert list_literal(["/x/it's.csv", "/x/b.csv"]) == "['/x/it''s.csv', '/x/b.csv']"


def test_reader_reads_csv_as_text_with_the_delimiter():
    sql = reader_sql(["/l/a.csv"], "csv", ";")
    assert sql == "read_csv(['/l/a.csv'], header = true, all_varchar = true, union_by_name = true, delim = ';')"
    assert reader_sql(["/l/a.parquet"], "parquet").startswith("read_parquet(['/l/a.parquet']")
    assert "format = 'newline_delimited'" in reader_sql(["/l/a.jsonl"], "jsonl")


@pytest.mark.parametrize(
    "glob, path, matches",
    [
        ("orders/**/*", "orders/a.csv", True),
        ("orders/**/*", "orders/2024/a.csv", True),
        ("orders/**/*", "orders_old/a.csv", False),
        ("invoices/*.csv", "invoices/2024-01.csv", True),
        ("invoices/*.csv", "invoices/archive/2024-01.csv", False),
        ("invoices/*.csv", "invoices/2024-01.parquet", False),
        ("exports/orders_??.csv", "exports/orders_01.csv", True),
        ("**/*.csv", "a/b/c.csv", True),
    ],
)
def test_file_patterns_follow_glob_rules(glob, path, matches):
    assert bool(file_pattern(glob).fullmatch(path)) is matches


def test_windows_separators_are_read_as_slashes():
    assert check_pattern("invoices\\*.csv", "k") == "invoices/*.csv"


ORDERS = ENTITIES["orders"]


def test_a_fitting_output_has_no_problem():
    cols = [("order_id", "VARCHAR"), ("Customer_ID", "VARCHAR"), ("created_at", "TIMESTAMP WITH TIME ZONE"),
            ("subtotal", "DECIMAL(38,2)"), ("refunded_amount", "INTEGER"), ("coupon_code", '"NULL"')]
    assert output_problems(ORDERS, cols) == []


def test_total_stands_in_for_subtotal():
    assert output_problems(ORDERS, [("order_id", "VARCHAR"), ("created_at", "DATE"), ("total", "DOUBLE")]) == []


def test_unknown_missing_doubled_and_mistyped_columns_are_each_named():
    cols = [("order_id", "VARCHAR"), ("ORDER_ID", "VARCHAR"), ("amount", "DOUBLE"), ("created_at", "INTEGER")]
    problems = output_problems(ORDERS, cols)
    assert problems[0] == "returns column(s) order_id more than once"
    assert problems[1].startswith("returns column(s) amount, not in the contract of orders (known: order_id, customer_id")
    assert problems[1].endswith(", coupon_code, total)")
    assert problems[2] == "does not return required column(s) one of (subtotal, total)"
    assert problems[3] == "returns created_at as INTEGER; expected a timestamp (TIMESTAMP, DATE or text)"
    assert len(problems) == 4


def test_total_is_known_only_where_a_column_derives_from_it():
    cols = [("order_id", "VARCHAR"), ("line_number", "BIGINT"), ("product_id", "VARCHAR"), ("quantity", "BIGINT"),
            ("unit_price", "DOUBLE"), ("total", "DOUBLE")]
    assert output_problems(ENTITIES["order_lines"], cols) == [
        "returns column(s) total, not in the contract of order_lines (known: order_id, line_number, product_id, "
        "category, quantity, unit_price, unit_cost, updated_at)"
    ]


def test_a_boolean_amount_is_the_wrong_type():
    cols = [("order_id", "VARCHAR"), ("created_at", "VARCHAR"), ("subtotal", "BOOLEAN")]
    assert output_problems(ORDERS, cols) == ["returns subtotal as BOOLEAN; expected a number or text"]


def test_mapping_error_is_a_configuration_error():
    # The extraction asset turns configuration errors into one-line, non-retried failures.
    assert issubclass(MappingError, UserConfigError)
