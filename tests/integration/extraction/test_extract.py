"""Incremental extraction, idempotency, re-extraction and the landing round trip."""

from datetime import datetime

import polars as pl
import pytest

from assets.extraction.contract import ENTITIES
from assets.extraction.extract import ExtractRequest, high_water_marks, run_extraction
from assets.extraction.sample_shop import ENTITY_NAMES
from assets.extraction.sources import LandingSource, SampleShopSource, write_landing
from assets.extraction.sample_shop import generate

QUIET = {"log": lambda m: None}
ALL = ExtractRequest(ENTITY_NAMES)


def snapshot(con, entity):
    cols = ", ".join(ENTITIES[entity].column_names)
    key = ", ".join(ENTITIES[entity].primary_key)
    return con.execute(f"SELECT {cols} FROM raw.{entity} ORDER BY {key}").fetchall()


def counts(con):
    return {e: con.execute(f"SELECT count(*) FROM raw.{e}").fetchone()[0] for e in ENTITY_NAMES}


def test_rows_read_equal_rows_loaded_plus_quarantined(con, small_cfg):
    totals = run_extraction(con, SampleShopSource(small_cfg), ALL, "r1", **QUIET)
    for e, s in totals.items():
        assert s.rows_read == s.loaded + s.quarantined + s.outside_window, e
        assert s.rows_read > 0
    assert counts(con)["orders"] == totals["orders"].inserted


def test_extracting_the_same_night_twice_changes_nothing(con, small_cfg):
    src = SampleShopSource(small_cfg)
    run_extraction(con, src, ALL, "r1", **QUIET)
    before = {e: snapshot(con, e) for e in ENTITY_NAMES}
    again = run_extraction(con, src, ALL, "r2", **QUIET)
    assert all(s.rows_read == 0 for s in again.values()), "high-water mark should leave nothing to read"
    forced = run_extraction(con, src, ExtractRequest(ENTITY_NAMES, full_refresh=True), "r3", **QUIET)
    assert all(s.inserted == s.updated == 0 for s in forced.values())
    assert {e: snapshot(con, e) for e in ENTITY_NAMES} == before


def test_nightly_increments_pick_up_late_updates(con, small_cfg):
    src = SampleShopSource(small_cfg)
    day1 = datetime(2025, 3, 31, 23, 59, 59)
    run_extraction(con, src, ExtractRequest(ENTITY_NAMES, until=day1), "n1", **QUIET)
    assert high_water_marks(con, "sample_shop", ("orders",))["orders"] == day1
    second = run_extraction(con, src, ALL, "n2", **QUIET)
    assert second["orders"].updated > 0, "refunds and fulfilments after day 1 are updates"
    # Incremental result equals a one-shot full extraction at the end date.
    full = generate(small_cfg, duplicates=False)["orders"].sort("order_id")
    got = pl.DataFrame(snapshot(con, "orders"), schema=ENTITIES["orders"].column_names, orient="row")
    assert got["status"].to_list() == full["status"].to_list()
    assert got["updated_at"].to_list() == full["updated_at"].to_list()


def test_reextracting_a_date_range_reads_only_that_range(con, small_cfg):
    src = SampleShopSource(small_cfg)
    run_extraction(con, src, ALL, "r1", **QUIET)
    before = snapshot(con, "orders")
    req = ExtractRequest(("orders",), since=datetime(2025, 2, 1), until=datetime(2025, 2, 28, 23, 59, 59))
    stats = run_extraction(con, src, req, "r2", **QUIET)["orders"]
    n_feb = generate(small_cfg, as_of=req.until, since=req.since, entities=("orders",))["orders"].height
    assert stats.rows_read == n_feb > 0
    assert snapshot(con, "orders") == before


def test_bad_range_is_refused():
    with pytest.raises(ValueError, match="range is empty"):
        ExtractRequest(("orders",), since=datetime(2025, 2, 1), until=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="unknown entities"):
        ExtractRequest(("orderz",))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_landing_round_trip_gives_identical_raw_tables(tmp_path, con, small_cfg, fmt):
    from assets.warehouse import connect
    from assets.extraction.contract import create_raw_schema

    run_extraction(con, SampleShopSource(small_cfg), ALL, "direct", **QUIET)
    write_landing(generate(small_cfg), tmp_path / "landing", fmt, files_per_entity=2)
    other = connect(tmp_path / "landing.duckdb")
    create_raw_schema(other)
    totals = run_extraction(other, LandingSource(tmp_path / "landing"), ALL, "landing", **QUIET)
    assert all(s.quarantined == 0 for s in totals.values())
    for e in ENTITY_NAMES:
        assert snapshot(other, e) == snapshot(con, e), e
    # A second night with no new files reads nothing.
    again = run_extraction(other, LandingSource(tmp_path / "landing"), ALL, "landing2", **QUIET)
    assert all(s.rows_read == 0 for s in again.values())
    other.close()
