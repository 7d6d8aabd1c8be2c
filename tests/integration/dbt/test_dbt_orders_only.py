"""A shop that exports only orders: every model builds and every dbt test passes, the
coverage mart says what is not tracked, customers are derived from orders,
margins are null, predictions are skipped (too few customers) and the report says so.

The orders are those of the hand-built shop of test_dbt_build.py (same vars),
plus one order on a device outside the contract's list (loaded as `other`,
the exported text in raw `device_original`).
"""

import json
from datetime import date

import duckdb
import pytest

from assets.extraction.contract import ENTITIES, OTHER, create_raw_schema, tracked_entities
from assets.marts import marts
from assets.serving.report import build_report, load_report_frames
from assets.resources import WarehouseResource

from tests.support.change_marts import change_mart_problems
from .test_dbt_build import LOADED, RAW_ROWS, VARS

# Every mart of the registry (assets/marts.py) builds, even from orders alone.
MARTS = set(marts())
# C5 orders on a smart TV: a device outside the contract's list.
OTHER_DEVICE_ORDER = ("('O10', 'C5', '2025-04-15 12:00:00', '2025-04-15 12:00:00', 'fulfilled', 'other', 'web', 'USD', "
                      "25, 0, 0, 2, 0, NULL, 'smart_tv')")


@pytest.fixture(scope="module")
def orders_only(tmp_path_factory, dbt_cli):
    """(warehouse resource, {node name: status} of the build) after one dbt build (predictions included)."""
    tmp = tmp_path_factory.mktemp("dbt_orders_only")
    warehouse = WarehouseResource(data_dir=str(tmp / "data"))
    warehouse.build_db.parent.mkdir(parents=True)
    columns = ENTITIES["orders"].column_names + ["device_original"]
    with duckdb.connect(str(warehouse.build_db)) as con:
        create_raw_schema(con)
        rows = [r[:-1] + ", NULL)" for r in RAW_ROWS["orders"]] + [OTHER_DEVICE_ORDER]
        con.execute(
            f"insert into raw.orders ({', '.join(columns)}, _source_file, _source_row, _loaded_at) "
            f"select *, 'hand-built', 1, {LOADED} from (values {', '.join(rows)})"
        )
    target = tmp / "target"
    dbt_cli(["build", "--vars", VARS], warehouse=warehouse.build_db, target_path=target)
    results = json.loads((target / "run_results.json").read_text())["results"]
    return warehouse, {r["unique_id"].split(".")[2]: r["status"] for r in results}


def query(warehouse: WarehouseResource, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse.build_db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_mart_builds(orders_only):
    warehouse, _ = orders_only
    built = {r[0] for r in query(warehouse, "select table_name from duckdb_tables() where schema_name = 'marts'")}
    assert MARTS <= built
    assert query(warehouse, "select count(*) from marts.mart_cart_abandonment") == [(0,)]
    assert query(warehouse, "select count(*) from marts.mart_support_kpis") == [(0,)]


def test_coverage_says_only_orders_are_tracked(orders_only):
    warehouse, _ = orders_only
    got = query(warehouse, "select entity, is_tracked, records, derived_records from marts.mart_data_coverage "
                           "order by entity")
    assert got == [
        ("carts", False, 0, 0),
        ("customers", False, 0, 5),  # C1..C5 appear on orders
        ("order_lines", False, 0, 0),
        ("orders", True, 10, 0),
        ("support_tickets", False, 0, 0),
    ]
    with duckdb.connect(str(warehouse.build_db), read_only=True) as con:
        assert tracked_entities(con) == {"orders"}  # the Python rule agrees


def test_customers_are_derived_from_orders_with_sign_up_at_their_first_order(orders_only):
    warehouse, _ = orders_only
    derived = query(warehouse, """
        select customer_id, signed_up_at::varchar, is_derived_from_orders, acquisition_channel, loyalty_tier
        from intermediate.int_customers order by customer_id""")
    first_orders = {}
    for row in RAW_ROWS["orders"]:
        _, customer, created = (v.strip(" '()") for v in row.split(",")[:3])
        if customer != "NULL":
            first_orders[customer] = min(first_orders.get(customer, created), created)
    first_orders["C5"] = "2025-04-15 12:00:00"
    assert derived == [(c, first_orders[c], True, None, None) for c in sorted(first_orders)]
    # C3's only order is refunded in full: a customer all the same, signed up with it
    assert ("C3", "2025-01-05 12:00:00", True, None, None) in derived


def test_without_order_lines_margins_are_null_not_zero(orders_only):
    warehouse, _ = orders_only
    assert query(warehouse, "select count(*), count(gross_margin) from marts.mart_customer_clv")[0][1] == 0
    assert query(warehouse, "select count(gross_margin), count(avg_margin_per_order), count(margin_clv), count(clv) "
                            "from marts.mart_clv_summary") == [(0, 0, 0, 2)]


def test_an_other_device_is_its_own_group(orders_only):
    warehouse, _ = orders_only
    got = query(warehouse, f"select order_month::varchar, orders from marts.mart_aov_by_device where device = '{OTHER}'")
    assert got == [("2025-04-01", 1)]
    assert query(warehouse, "select device_original from raw.orders where order_id = 'O10'") == [("smart_tv",)]


def test_predictions_are_skipped_with_a_warning_and_the_churn_mart_copes(orders_only):
    warehouse, statuses = orders_only
    assert statuses["predictions_fitted"] == "warn"
    assert statuses["mart_customer_churn"] == statuses["mart_kpis"] == "success"
    assert query(warehouse, "select count(*), count(p_alive), count(distinct churn_risk) "
                            "from marts.mart_customer_predictions") == [(4, 0, 1)]
    assert query(warehouse, "select count(*), count(p_alive) from marts.mart_customer_churn") == [(4, 0)]


def test_the_report_says_what_the_shop_does_not_track(orders_only):
    warehouse, _ = orders_only
    with duckdb.connect(str(warehouse.build_db), read_only=True) as con:
        frames = load_report_frames(con)
    html = build_report(frames, as_of_date=date(2025, 4, 30))
    assert "Not tracked by this shop (no carts data)" in html
    assert "Not tracked by this shop (no support tickets data)" in html
    assert "not tracked by this shop (no order lines data)" in html
    assert "Not available (no predictions: 4 customers with a qualifying order" in html


def test_change_marts_explain_an_orders_only_shop(orders_only):
    warehouse, statuses = orders_only
    assert change_mart_problems(lambda sql: query(warehouse, sql), statuses) == []
    # no customers export: every customer attribute is one segment, 'unknown' (guests apart)
    segments = query(warehouse, "select distinct segment from marts.mart_metric_changes "
                                "where dimension in ('country', 'acquisition_channel', 'loyalty_tier') order by 1")
    assert segments == [("guest",), ("unknown",)]
    # no carts: no cart metric at all
    assert query(warehouse, "select count(*) from marts.mart_metric_changes where metric like 'cart%'") == [(0,)]
