"""The real Definitions load, and the extraction assets materialize into a temp folder."""

import time

import dagster as dg
import pytest

from assets.extraction.assets import build_extract_asset, extract_shop, quarantine_summary
from assets.run_state import parse_bound
from assets.extraction.load import LoadStats
from assets.extraction.sample_shop import ENTITY_NAMES
from assets.resources import ShopSourceResource, WarehouseResource


def test_definitions_load():
    from orchestration.definitions import defs

    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert {dg.AssetKey(["raw", e]) for e in ENTITY_NAMES} <= keys


def test_materialize_all_extraction_assets(tmp_path):
    resources = {
        "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        "shop_source": ShopSourceResource(sample_orders=2_000, sample_end_date="2025-06-30"),
    }
    result = dg.materialize([extract_shop], resources=resources)
    assert result.success
    mats = {m.asset_key.path[-1]: m.metadata for m in result.get_asset_materialization_events() for m in [m.materialization]}
    assert set(mats) == set(ENTITY_NAMES)
    orders = mats["orders"]
    assert orders["rows_read"].value == orders["rows_loaded"].value + orders["rows_quarantined"].value
    assert orders["rows_inserted"].value > 1_000
    # Second run: nothing new to read.
    again = dg.materialize([extract_shop], resources=resources)
    assert [m.materialization.metadata["rows_read"].value for m in again.get_asset_materialization_events()] == [0] * 5


def test_subset_reads_only_the_selected_entity(tmp_path):
    resources = {
        "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        "shop_source": ShopSourceResource(sample_orders=1_000, sample_end_date="2025-06-30"),
    }
    result = dg.materialize([extract_shop], resources=resources, selection=[dg.AssetKey(["raw", "orders"])])
    assert [m.asset_key.path[-1] for m in result.get_asset_materialization_events()] == ["orders"]


def test_date_bounds():
    assert parse_bound("2025-01-31", end_of_day=True).isoformat() == "2025-01-31T23:59:59.999999"
    assert parse_bound("2025-01-31", end_of_day=False).isoformat() == "2025-01-31T00:00:00"
    assert parse_bound("2025-01-31T05:00:00+02:00", end_of_day=True).isoformat() == "2025-01-31T03:00:00"


# --- landing folders: contract errors, untracked entities, quarantine summary ---

ORDERS_HEADER = "order_id,customer_id,created_at,updated_at,status,device,channel,currency,subtotal,discount,shipping,tax,refunded_amount\n"
ORDER_ROW = "O1,C1,2025-01-01,2025-01-01,placed,desktop,web,USD,10,0,0,0,0\n"
BAD_ROW = "O2,C1,yesterday,yesterday,placed,desktop,web,USD,10,0,0,0,0\n"


def landing_resources(tmp_path, config_file=None):
    return {
        "warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
        "shop_source": ShopSourceResource(
            kind="landing", landing_dir=str(tmp_path / "landing"), config_file=config_file
        ),
    }


def write_orders(tmp_path, text, name="orders.csv"):
    folder = tmp_path / "landing" / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def step_events(result, event_type):
    return [e for e in result.all_events if e.event_type == event_type]


def failed_once_without_retry(result) -> str:
    """The run failed in one attempt; returns the failure's description."""
    assert not result.success
    assert step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    (failure,) = step_events(result, dg.DagsterEventType.STEP_FAILURE)
    data = failure.step_failure_data
    description = data.user_failure_data.description
    assert "\n" not in description
    # The cause is not chained below the description: the message is shown once.
    assert data.error.cause is None
    return description


@pytest.mark.parametrize(
    "content, problem",
    [
        (ORDERS_HEADER + ORDER_ROW + "O2,C1,2025-01-0", "truncated"),
        (ORDERS_HEADER.replace(",created_at", "") + ORDER_ROW.replace("C1,2025-01-01,", "C1,"), "missing required column"),
    ],
)
def test_a_bad_file_fails_the_asset_once_without_retry(tmp_path, content, problem):
    bad = write_orders(tmp_path, content)
    started = time.monotonic()
    # The real retry policy: a retry would wait at least 30 s.
    result = dg.materialize([extract_shop], resources=landing_resources(tmp_path), raise_on_error=False)
    assert time.monotonic() - started < 30
    description = failed_once_without_retry(result)
    assert str(bad) in description and problem in description


def test_a_bad_landing_setting_fails_without_retry_naming_the_file(tmp_path):
    write_orders(tmp_path, ORDERS_HEADER + ORDER_ROW)
    cfg = tmp_path / "retention.yml"
    cfg.write_text("landing:\n  csv: {delimiter: ':'}\n")
    result = dg.materialize([extract_shop], resources=landing_resources(tmp_path, str(cfg)), raise_on_error=False)
    description = failed_once_without_retry(result)
    assert description.startswith(f"{cfg}: landing.csv.delimiter")


def test_a_missing_landing_folder_fails_without_retry(tmp_path):
    result = dg.materialize([extract_shop], resources=landing_resources(tmp_path), raise_on_error=False)
    assert str(tmp_path / "landing") in failed_once_without_retry(result)


def test_other_errors_are_still_retried(tmp_path, monkeypatch):
    import assets.extraction.assets as extraction_assets

    def outage(*args, **kwargs):
        raise TimeoutError("source did not answer")

    monkeypatch.setattr(extraction_assets, "run_extraction", outage)
    write_orders(tmp_path, ORDERS_HEADER + ORDER_ROW)
    asset = build_extract_asset(dg.RetryPolicy(max_retries=1))
    result = dg.materialize([asset], resources=landing_resources(tmp_path), raise_on_error=False)
    assert not result.success
    assert len(step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 1


def test_untracked_entities_and_quarantine_reasons_are_summarised(tmp_path):
    write_orders(tmp_path, ORDERS_HEADER + ORDER_ROW + BAD_ROW)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([extract_shop], resources=landing_resources(tmp_path), instance=instance)
    assert result.success
    mats = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert mats["orders"]["tracked"].value and not mats["carts"]["tracked"].value
    orders_md = mats["orders"]["quarantine_summary"].value
    assert "unparsable_timestamp:created_at" in orders_md and result.run_id in orders_md
    assert "not tracked" in mats["support_tickets"]["quarantine_summary"].value
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert f"carts: not tracked (no files in {tmp_path / 'landing' / 'carts'})" in messages
    (summary,) = [m for m in messages if m.startswith("Quarantine summary")]
    assert "    unparsable_timestamp:created_at: 1" in summary.splitlines()


def test_quarantine_summary_lists_reasons_per_entity_and_a_query_for_the_run():
    stats = LoadStats(rows_read=5, inserted=3, quarantined=2, reasons={"missing_required:order_id": 2, "negative_amount:tax": 1})
    text = quarantine_summary(
        {"orders": stats, "customers": LoadStats(rows_read=4, inserted=4), "carts": LoadStats()},
        "run-1",
        "/data/build.duckdb",
        {"carts": "/landing/carts"},
    )
    lines = text.splitlines()
    assert "  orders: 2 rows quarantined" in lines
    assert "    missing_required:order_id: 2" in lines and "    negative_amount:tax: 1" in lines
    assert "  customers: nothing quarantined" in lines
    assert "  carts: not tracked (no files in /landing/carts)" in lines
    assert "raw.quarantine of /data/build.duckdb" in text and "WHERE run_id = 'run-1'" in text


def test_a_run_without_quarantined_rows_prints_no_query():
    text = quarantine_summary({"orders": LoadStats(rows_read=1, inserted=1)}, "run-1", "/b.duckdb")
    assert "nothing quarantined" in text and "SELECT" not in text
