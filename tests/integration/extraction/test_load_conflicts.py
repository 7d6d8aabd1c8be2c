"""Two versions of a key with the same updated_at and different content are a conflict:
the version already stored (or first read) stays, the others are quarantined."""

import polars as pl

from assets.extraction.contract import ENTITIES
from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.load import load_batch
from assets.extraction.sources import LandingSource

ORDERS = ENTITIES["orders"]
QUIET = {"log": lambda m: None}


def order(**over):
    r = {"order_id": "O1", "created_at": "2025-01-01T10:00:00Z", "updated_at": "2025-01-02T00:00:00Z",
         "status": "placed", "subtotal": "100.00"}
    r.update(over)
    return r


def frame(*rows):
    return pl.DataFrame(list(rows), schema={k: pl.String for k in rows[0]})


def load(con, *rows, source="orders.csv"):
    return load_batch(con, ORDERS, frame(*rows), source, "USD", "run-1")


def stored(con):
    return con.execute("SELECT order_id, status, CAST(subtotal AS VARCHAR) FROM raw.orders ORDER BY 1").fetchall()


def quarantine(con):
    return con.execute("SELECT reason, source_file, row_number FROM raw.quarantine ORDER BY source_file, row_number").fetchall()


def write_csv(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame(*rows).write_csv(path)


def test_a_second_batch_with_the_same_cursor_and_other_content_is_quarantined(con):
    load(con, order(), source="a.csv")
    stats = load(con, order(subtotal="90.00"), order(order_id="O2"), source="b.csv")
    assert (stats.inserted, stats.quarantined, stats.reasons) == (1, 1, {"conflicting_duplicate": 1})
    assert stored(con) == [("O1", "placed", "100.00"), ("O2", "placed", "100.00")]
    assert quarantine(con) == [("conflicting_duplicate", "b.csv", 1)]
    stats.check()


def test_two_files_of_one_run_conflicting_keep_the_first(tmp_path, con):
    write_csv(tmp_path / "landing" / "orders" / "orders-1.csv", order())
    write_csv(tmp_path / "landing" / "orders" / "orders-2.csv", order(subtotal="90.00"))
    totals = run_extraction(con, LandingSource(tmp_path / "landing"), ExtractRequest(("orders",)), "r1", **QUIET)
    assert (totals["orders"].inserted, totals["orders"].quarantined) == (1, 1)
    assert stored(con) == [("O1", "placed", "100.00")]
    (reason, source, _), = quarantine(con)
    assert reason == "conflicting_duplicate" and source.endswith("orders-2.csv")


def test_a_conflicting_file_in_a_later_run_is_quarantined(tmp_path, con):
    landing = LandingSource(tmp_path / "landing")
    write_csv(tmp_path / "landing" / "orders" / "orders-1.csv", order())
    run_extraction(con, landing, ExtractRequest(("orders",)), "r1", **QUIET)
    write_csv(tmp_path / "landing" / "orders" / "orders-2.csv", order(status="cancelled"))
    totals = run_extraction(con, landing, ExtractRequest(("orders",)), "r2", **QUIET)
    assert totals["orders"].reasons == {"conflicting_duplicate": 1}
    assert stored(con) == [("O1", "placed", "100.00")]
    assert con.execute("SELECT run_id FROM raw.quarantine").fetchall() == [("r2",)]


def test_an_identical_re_export_is_unchanged(con):
    load(con, order(), source="a.csv")
    stats = load(con, order(), order(), source="b.csv")
    assert (stats.unchanged, stats.duplicates, stats.quarantined) == (1, 1, 0)


def test_a_copy_identical_to_the_stored_version_is_unchanged_next_to_a_conflicting_one(con):
    load(con, order(), source="a.csv")
    stats = load(con, order(subtotal="1.00"), order(), source="b.csv")
    assert (stats.unchanged, stats.quarantined) == (1, 1)
    assert quarantine(con) == [("conflicting_duplicate", "b.csv", 1)]
    assert stored(con) == [("O1", "placed", "100.00")]


def test_a_newer_updated_at_still_wins_and_an_older_one_is_stale(con):
    load(con, order())
    newer = load(con, order(status="refunded", updated_at="2025-01-05T00:00:00Z"))
    older = load(con, order(status="fulfilled", updated_at="2025-01-03T00:00:00Z"))
    assert (newer.updated, older.stale, newer.quarantined + older.quarantined) == (1, 1, 0)
    assert stored(con) == [("O1", "refunded", "100.00")]


def test_within_a_batch_the_newest_version_wins_and_older_ones_are_stale(con):
    stats = load(con, order(status="placed"), order(status="fulfilled", updated_at="2025-01-04T00:00:00Z"),
                 order(status="placed", subtotal="5"))
    assert (stats.inserted, stats.stale, stats.quarantined) == (1, 2, 0)
    assert stored(con) == [("O1", "fulfilled", "100.00")]


def test_within_a_batch_conflicting_newest_copies_keep_the_first_read(con):
    stats = load(con, order(status="placed", subtotal="1"), order(status="placed"), order(status="placed", subtotal="1"),
                 order(status="fulfilled"))
    assert (stats.inserted, stats.duplicates, stats.quarantined) == (1, 1, 2)
    assert stored(con) == [("O1", "placed", "1.00")]
    assert [r[2] for r in quarantine(con)] == [2, 4]
