"""Row-level contract: every bad row is quarantined with its reason; nothing vanishes."""

import json

import polars as pl
import pytest

from assets.extraction.contract import ENTITIES
from assets.extraction.load import LoadStats, MissingColumnsError, load_batch

ORDERS = ENTITIES["orders"]


def order(**over):
    row = {
        "order_id": "O1", "customer_id": "C1", "created_at": "2025-01-01T10:00:00Z",
        "updated_at": "2025-01-01T10:00:00Z", "status": "placed", "device": "desktop",
        "channel": "web", "currency": "USD", "subtotal": "100.00", "discount": "0",
        "shipping": "4.99", "tax": "8.00", "refunded_amount": "0", "coupon_code": None,
    }
    row.update(over)
    return row


def frame(*rows):
    return pl.DataFrame(list(rows), schema={k: pl.String for k in rows[0]})


def load(con, *rows, entity=ORDERS):
    return load_batch(con, entity, frame(*rows), "orders.csv", "USD", "run-1")


def quarantined(con):
    return con.execute("SELECT reason, row_number, record FROM raw.quarantine ORDER BY row_number").fetchall()


@pytest.mark.parametrize(
    "override, reason",
    [
        ({"order_id": None}, "missing_required:order_id"),
        ({"order_id": "  "}, "missing_required:order_id"),
        ({"created_at": "31/01/2025"}, "unparsable_timestamp:created_at"),
        ({"subtotal": "$100"}, "unparsable_number:subtotal"),
        ({"status": "lost in transit"}, "unknown_enum:status=lost in transit"),
        ({"updated_at": "2024-12-31T10:00:00Z"}, "out_of_order:updated_at_before_created_at"),
        ({"discount": "-5.00"}, "negative_amount:discount"),
        ({"currency": "EUR"}, "currency_mismatch:EUR"),
    ],
)
def test_each_kind_of_bad_row_is_quarantined_with_its_reason(con, override, reason):
    stats = load(con, order(order_id="OK"), order(order_id="BAD", **override) if "order_id" not in override else order(**override))
    assert stats.quarantined == 1 and stats.inserted == 1
    (got_reason, row_number, record), = quarantined(con)
    assert got_reason == reason
    assert row_number == 2
    assert json.loads(record)["status"] == (override.get("status") or "placed")
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 1


def test_a_row_with_several_problems_lists_them_all(con):
    load(con, order(subtotal="-1", status="lost", currency="GBP"))
    (reason, _, _), = quarantined(con)
    assert set(reason.split(";")) == {"negative_amount:subtotal", "unknown_enum:status=lost", "currency_mismatch:GBP"}


def test_guest_orders_are_loaded_not_quarantined(con):
    stats = load(con, order(customer_id=None))
    assert stats.inserted == 1 and stats.quarantined == 0


def test_offsets_are_converted_to_utc_and_enum_case_is_normalised(con):
    load(con, order(created_at="2025-01-01T10:00:00+02:00", status="Fulfilled"))
    created, status = con.execute("SELECT created_at, status FROM raw.orders").fetchone()
    assert created.isoformat() == "2025-01-01T08:00:00"
    assert status == "fulfilled"


def test_identical_copies_collapse_and_a_differing_copy_with_the_same_cursor_is_quarantined(con):
    stats = load(
        con,
        order(order_id="A"), order(order_id="A"),
        order(order_id="B", subtotal="10"), order(order_id="B", subtotal="11"),
    )
    assert (stats.inserted, stats.duplicates, stats.quarantined) == (2, 1, 1)
    assert [(r[0], r[1]) for r in quarantined(con)] == [("conflicting_duplicate", 4)]
    assert con.execute("SELECT subtotal FROM raw.orders WHERE order_id = 'B'").fetchone()[0] == 10
    assert stats.rows_read == stats.loaded + stats.quarantined


def test_late_refund_replaces_the_earlier_version(con):
    load(con, order(status="fulfilled", updated_at="2025-01-02T00:00:00Z"))
    stats = load(con, order(status="refunded", refunded_amount="100.00", updated_at="2025-01-20T00:00:00Z"))
    assert stats.updated == 1 and stats.inserted == 0
    rows = con.execute("SELECT status, refunded_amount FROM raw.orders").fetchall()
    assert rows == [("refunded", 100)]


def test_an_older_version_arriving_late_never_overwrites_a_newer_one(con):
    load(con, order(status="refunded", refunded_amount="100", updated_at="2025-01-20T00:00:00Z"))
    stats = load(con, order(status="fulfilled", updated_at="2025-01-02T00:00:00Z"))
    assert stats.stale == 1
    assert con.execute("SELECT status FROM raw.orders").fetchone()[0] == "refunded"


def test_loading_the_same_batch_twice_changes_nothing(con):
    rows = [order(order_id=f"O{i}") for i in range(5)]
    load(con, *rows)
    before = con.execute("SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY order_id").fetchall()
    stats = load(con, *rows)
    assert stats.unchanged == 5 and stats.inserted == stats.updated == 0
    after = con.execute("SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY order_id").fetchall()
    assert before == after


def test_missing_required_column_fails_the_whole_batch(con):
    df = frame(order()).drop("created_at")
    with pytest.raises(MissingColumnsError, match=r"orders.csv: missing required column\(s\) created_at for orders \(found: order_id, customer_id, updated_at"):
        load_batch(con, ORDERS, df, "orders.csv", "USD", "r")


def test_optional_columns_may_be_absent(con):
    df = frame(order()).drop("coupon_code")
    assert load_batch(con, ORDERS, df, "orders.csv", "USD", "r").inserted == 1


def test_integers_and_ranges_on_support_tickets(con):
    t = {
        "ticket_id": "T1", "customer_id": "C1", "order_id": None, "channel": "chat",
        "category": "payment", "created_at": "2025-01-01", "first_response_at": None,
        "resolved_at": None, "status": "open", "csat_score": "6", "reopened_count": "0",
        "updated_at": "2025-01-01",
    }
    stats = load(con, t, dict(t, ticket_id="T2", csat_score="4.0"), dict(t, ticket_id="T3", csat_score=None, reopened_count="1.5"),
                 entity=ENTITIES["support_tickets"])
    assert stats.inserted == 1
    assert [r[0] for r in quarantined(con)] == ["out_of_range:csat_score", "unparsable_number:reopened_count"]


def test_failed_batch_leaves_no_partial_load(con, monkeypatch):
    import assets.extraction.load as load_mod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    stats_check = LoadStats.check
    monkeypatch.setattr(load_mod.LoadStats, "check", lambda self: boom())
    with pytest.raises(RuntimeError):
        load(con, order(), order(order_id="X", status="bogus"))
    monkeypatch.setattr(load_mod.LoadStats, "check", stats_check)
    # check() runs after COMMIT; an error inside the transaction must roll back:
    monkeypatch.setattr(load_mod, "_sql_list", boom)
    with pytest.raises(RuntimeError):
        load(con, order(order_id="Y"))
    assert con.execute("SELECT count(*) FROM raw.orders WHERE order_id = 'Y'").fetchone()[0] == 0
