"""The state of the last published build: a run that changes nothing in `raw`, with the same settings, may stop."""

import polars as pl

from assets.extraction.contract import ENTITIES
from assets.run_state import raw_state, record_published_state, unchanged_since_publish
from assets.extraction.load import load_batch

ORDERS = ENTITIES["orders"]
NY = "America/New_York"
SETTINGS = {"dbt_vars": {"as_of_date": None, "shop_timezone": "UTC"}, "user_config": {}}


def order(order_id="O1", updated_at="2025-01-01T10:00:00Z", subtotal="100.00", created_at="2025-01-01T10:00:00Z"):
    return {"order_id": order_id, "customer_id": "C1", "created_at": created_at,
            "updated_at": updated_at, "status": "placed", "currency": "USD", "subtotal": subtotal}


def load(con, *rows, source="orders.csv"):
    frame = pl.DataFrame(list(rows), schema={k: pl.String for k in rows[0]})
    return load_batch(con, ORDERS, frame, source, "USD", "run-1")


def test_nothing_published_yet_is_never_current(con):
    load(con, order())
    assert unchanged_since_publish(con, SETTINGS) is None


def test_the_published_state_is_current_until_raw_changes(con):
    load(con, order())
    record_published_state(con, SETTINGS, "run-1")
    assert unchanged_since_publish(con, SETTINGS) is not None
    load(con, order(), source="again.csv")  # the same version again: nothing written
    assert unchanged_since_publish(con, SETTINGS) is not None
    load(con, order(updated_at="2025-01-02T10:00:00Z", subtotal="90.00"))  # a newer version
    assert unchanged_since_publish(con, SETTINGS) is None


def test_a_quarantined_row_changes_the_state(con):
    load(con, order())
    record_published_state(con, SETTINGS, "run-1")
    load(con, order(order_id="O2", created_at="not a date"))
    assert unchanged_since_publish(con, SETTINGS) is None


def test_other_settings_are_not_current(con):
    load(con, order())
    record_published_state(con, SETTINGS, "run-1")
    moved = {**SETTINGS, "dbt_vars": {**SETTINGS["dbt_vars"], "as_of_date": "2025-01-31"}}
    assert unchanged_since_publish(con, moved) is None


def test_recording_again_replaces_the_previous_state(con):
    load(con, order())
    record_published_state(con, SETTINGS, "run-1")
    load(con, order(order_id="O2"))
    record_published_state(con, SETTINGS, "run-2")
    assert con.execute("SELECT run_id FROM raw._published_state").fetchall() == [("run-2",)]
    assert unchanged_since_publish(con, SETTINGS) is not None


def test_raw_state_counts_rows_per_table(con):
    load(con, order(), order(order_id="O2"))
    state = raw_state(con)
    assert state["orders"][0] == 2 and state["orders"][1] is not None
    assert state["carts"] == [0, None] and state["quarantine"] == [0, None]


def test_build_settings_follow_the_dbt_steps_run_config():
    from assets.run_state import build_settings
    from assets.resources import ShopSourceResource

    shop = ShopSourceResource(sample_orders=300)
    plain = build_settings(shop, {"ops": {"extract_shop": {"config": {"until": "2025-03-31"}}}}, NY)
    assert plain == build_settings(shop, None, NY)  # the extraction window is not a build setting
    moved = build_settings(shop, {"ops": {"retention_dbt": {"config": {"as_of_date": "2025-03-01"}}}}, NY)
    assert moved["dbt_vars"]["as_of_date"] == "2025-03-01" and moved != plain
    assert build_settings(shop, {"ops": {"retention_dbt": {"config": {"full_refresh": True}}}}, NY)["dbt_full_refresh"]
    assert build_settings(ShopSourceResource(sample_orders=300, churn_after_days=90), None, NY) != plain
    # the resolved time zone decides the shop's days, so it is a build setting too
    assert build_settings(shop, None, "Europe/Paris") != plain


def test_a_code_change_changes_the_build_settings(tmp_path):
    from assets.run_state import code_fingerprint

    (tmp_path / "dbt_project" / "models").mkdir(parents=True)
    model = tmp_path / "dbt_project" / "models" / "mart_a.sql"
    model.write_text("select 1 as x")
    (tmp_path / "README.md").write_text("docs")
    before = code_fingerprint(tmp_path)
    (tmp_path / "README.md").write_text("other docs")
    assert code_fingerprint(tmp_path) == before  # docs are not code
    model.write_text("select 2 as x")
    assert code_fingerprint(tmp_path) != before


def test_build_settings_carry_the_code_fingerprint():
    from assets.run_state import build_settings, code_fingerprint
    from assets.resources import ShopSourceResource

    assert build_settings(ShopSourceResource(sample_orders=300), None, NY)["code"] == code_fingerprint()


def test_switching_the_engine_changes_the_build_settings():
    from assets.run_state import build_settings
    from assets.resources import ShopSourceResource

    shop = ShopSourceResource(sample_orders=300)
    assert build_settings(shop, None, NY, engine="spark") != build_settings(shop, None, NY, engine="duckdb")
