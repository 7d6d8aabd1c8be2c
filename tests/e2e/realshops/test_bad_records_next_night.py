"""A bad record is quarantined once, with its reason, and the next night still publishes.

Night 1: a ticket resolved before it was created (a record that contradicts
itself). Night 2: an order exported again in another file with the same
`updated_at` and a different subtotal (a conflict nobody can settle
automatically). Both nights publish; the stored versions stay; the reasons
are in the quarantine, and the analysts' copy of it carries no column the
contract does not know.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import assert_published, run_shop

pytestmark = pytest.mark.slow

ORDERS_1 = """order_id,customer_id,created_at,subtotal
o1,c1,2025-03-02 10:00:00,40.00
o2,c2,2025-03-05 11:15:00,25.50
o3,c1,2025-04-07 18:20:00,32.00
o4,c3,2025-04-09 08:45:00,19.99
"""

# Same key and same updated_at as o2 in orders-1.csv, another subtotal, plus
# a column analysts must never see; and one genuinely new order.
ORDERS_2 = [
    {"order_id": "o2", "customer_id": "c2", "created_at": "2025-03-05 11:15:00", "subtotal": "99.00",
     "billing_phone": "+49 170 5550123"},
    {"order_id": "o5", "customer_id": "c1", "created_at": "2025-04-28 20:10:00", "subtotal": "55.00"},
]

TICKETS = """ticket_id,customer_id,created_at,resolved_at,status,channel,category
t1,c1,2025-03-03 09:00:00,2025-03-03 15:00:00,solved,email,delivery
t2,c2,2025-03-06 09:00:00,2025-03-01 09:00:00,solved,chat,payment
t3,c3,2025-04-10 12:00:00,,open,phone,return
"""


def quarantine(run, db: Path) -> list[tuple]:
    return run.query(db, "select entity, reason, source_file, record from raw.quarantine order by entity, reason")


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_records")
    landing, data = root / "landing", root / "data"
    (landing / "orders").mkdir(parents=True)
    (landing / "support_tickets").mkdir()
    (landing / "orders" / "orders-1.csv").write_text(ORDERS_1)
    (landing / "support_tickets" / "tickets.csv").write_text(TICKETS)
    # each night's date: the freshness rules judge the newest records against it
    first = run_shop("bad_records_night_1", landing, data, "EUR", "Europe/Berlin", until="2025-04-10")
    (landing / "orders" / "orders-2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ORDERS_2))
    second = run_shop("bad_records_night_2", landing, data, "EUR", "Europe/Berlin", until="2025-04-29")
    return first, second


def test_both_nights_publish(nights):
    for run in nights:
        assert_published(run)


def test_the_self_contradicting_ticket_is_quarantined_once_and_the_rest_loads(nights):
    first, second = nights
    got = [(e, r) for e, r, _, _ in quarantine(second, second.build_db) if e == "support_tickets"]
    assert got == [("support_tickets", "out_of_order:resolved_at_before_created_at")]
    tickets = second.query(second.build_db, "select ticket_id, status from raw.support_tickets order by 1")
    assert tickets == [("t1", "resolved"), ("t3", "open")]


def test_the_conflicting_reexport_is_quarantined_and_the_stored_order_stays(nights):
    _, second = nights
    conflicts = [(r, Path(f).name) for e, r, f, _ in quarantine(second, second.build_db) if e == "orders"]
    assert conflicts == [("conflicting_duplicate", "orders-2.jsonl")]
    subtotals = dict(second.query(second.build_db, "select order_id, subtotal from raw.orders"))
    assert float(subtotals["o2"]) == 25.50
    assert float(subtotals["o5"]) == 55.00  # the new order of the same file loads


def test_the_published_quarantine_keeps_reasons_but_no_unknown_columns(nights):
    _, second = nights
    published = quarantine(second, second.published_db)
    assert {(e, r) for e, r, _, _ in published} == {
        ("orders", "conflicting_duplicate"),
        ("support_tickets", "out_of_order:resolved_at_before_created_at"),
    }
    for _, _, _, record in published:
        assert "billing_phone" not in (record or "")
    assert b"5550123" not in second.published_db.resolve().read_bytes()
