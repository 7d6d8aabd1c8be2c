"""What a real export needs to load: defaults, open-set OTHER values, status synonyms,
row rules at the door and reported extra columns."""

from decimal import Decimal

import polars as pl
import pytest

from assets.extraction.contract import ENTITIES, OTHER, SHOP_CURRENCY, STATUS_SYNONYMS, UNKNOWN
from assets.extraction.extract import stats_metadata
from assets.extraction.load import LoadStats, MissingColumnsError, load_batch, normalise

ORDERS, LINES, CUSTOMERS, TICKETS = (ENTITIES[n] for n in ("orders", "order_lines", "customers", "support_tickets"))


def frame(rows):
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema={c: pl.String for c in cols})


def load(con, entity, *rows, currency="USD"):
    return load_batch(con, entity, frame(rows), f"{entity.name}.csv", currency, "run-1")


def row(con, sql):
    return con.execute(sql).fetchall()[0]


def reasons(con):
    return [r[0] for r in con.execute("SELECT reason FROM raw.quarantine ORDER BY row_number").fetchall()]


def minimal_order(**over):
    r = {"order_id": "O1", "customer_id": "C1", "created_at": "2025-01-01T10:00:00Z", "subtotal": "50.00"}
    r.update(over)
    return r


def ticket(**over):
    r = {"ticket_id": "T1", "customer_id": "C1", "channel": "email", "category": "delivery",
         "created_at": "2025-01-02T10:00:00Z", "status": "open"}
    r.update(over)
    return r


# --- defaults --------------------------------------------------------------------------------

def test_a_minimal_orders_file_loads_with_every_documented_default(con):
    stats = load(con, ORDERS, minimal_order(), currency="EUR")
    assert stats.inserted == 1 and stats.quarantined == 0
    got = dict(zip(
        ["created_at", "updated_at", "status", "device", "channel", "currency", "discount", "shipping", "tax",
         "refunded_amount"],
        row(con, "SELECT created_at, updated_at, status, device, channel, currency, discount, shipping, tax, "
                 "refunded_amount FROM raw.orders"),
    ))
    assert got["updated_at"] == got["created_at"]  # default_from created_at
    for col in ORDERS.columns:
        if col.default is None:
            continue
        expected = "EUR" if col.default == SHOP_CURRENCY else col.default
        if col.kind == "money":
            assert got[col.name] == Decimal(expected), col.name
        else:
            assert got[col.name] == expected, col.name


def test_blank_values_take_the_default_like_absent_columns(con):
    load(con, ORDERS, minimal_order(device="  ", status="", updated_at="", currency=""))
    assert row(con, "SELECT device, status, currency, updated_at = created_at FROM raw.orders") == (
        UNKNOWN, ORDERS.column("status").default, "USD", True)


def test_a_total_only_file_derives_the_subtotal(con):
    r = minimal_order(total="120.00", shipping="5.00", tax="20.00", discount="5.00")
    del r["subtotal"]
    load(con, ORDERS, r, dict(r, order_id="O2", shipping=None, tax=None, discount=None))
    got = dict(con.execute("SELECT order_id, subtotal FROM raw.orders").fetchall())
    assert got == {"O1": Decimal("100.00"), "O2": Decimal("120.00")}


def test_a_subtotal_in_the_file_wins_over_the_total(con):
    load(con, ORDERS, minimal_order(subtotal="80.00", total="999.00"), minimal_order(order_id="O2", subtotal="", total="30"))
    assert dict(con.execute("SELECT order_id, subtotal FROM raw.orders").fetchall()) == {
        "O1": Decimal("80.00"), "O2": Decimal("30.00")}


def test_a_total_below_shipping_and_tax_is_a_negative_subtotal(con):
    r = minimal_order(total="10", shipping="20")
    del r["subtotal"]
    stats = load(con, ORDERS, r)
    assert stats.quarantined == 1 and reasons(con) == ["negative_amount:subtotal"]


@pytest.mark.parametrize(
    "drop, missing",
    [(("created_at",), "created_at"), (("subtotal",), "one of (subtotal, total)"),
     (("order_id", "subtotal"), "order_id, one of (subtotal, total)")],
)
def test_a_file_without_its_required_columns_fails_naming_them(con, drop, missing):
    r = {k: v for k, v in minimal_order().items() if k not in drop}
    found = ", ".join(r)
    with pytest.raises(MissingColumnsError) as err:
        load(con, ORDERS, r)
    assert str(err.value) == f"orders.csv: missing required column(s) {missing} for orders (found: {found})"


def test_ticket_reopened_count_and_updated_at_default(con):
    load(con, TICKETS, ticket())
    assert row(con, "SELECT reopened_count, updated_at = created_at FROM raw.support_tickets") == (0, True)


# --- order_lines.updated_at ------------------------------------------------------------------

def line(**over):
    r = {"order_id": "O1", "line_number": "1", "product_id": "P1", "quantity": "1", "unit_price": "10"}
    r.update(over)
    return r


def test_lines_without_updated_at_take_their_orders_created_at(con):
    load(con, ORDERS, minimal_order(created_at="2025-02-03T04:05:06Z"))
    stats = load(con, LINES, line(), line(line_number="2", updated_at=""),
                 line(line_number="3", updated_at="2025-03-01T00:00:00Z"))
    assert stats.inserted == 3
    got = dict(con.execute("SELECT line_number, strftime(updated_at, '%Y-%m-%d %H:%M:%S') FROM raw.order_lines").fetchall())
    assert got == {1: "2025-02-03 04:05:06", 2: "2025-02-03 04:05:06", 3: "2025-03-01 00:00:00"}


def test_lines_of_an_order_not_yet_in_raw_take_the_load_time(con):
    before = row(con, "SELECT CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)")[0]
    load(con, LINES, line(order_id="NOT-LOADED"))
    stored, = row(con, "SELECT updated_at FROM raw.order_lines")
    assert stored is not None and stored >= before.replace(microsecond=0)


def test_reloading_lines_without_updated_at_is_unchanged(con):
    load(con, ORDERS, minimal_order())
    load(con, LINES, line())
    assert load(con, LINES, line()).unchanged == 1


# --- open-set descriptive values -------------------------------------------------------------

def customer(cid, channel, tier="gold"):
    return {"customer_id": cid, "created_at": "2025-01-01", "acquisition_channel": channel, "loyalty_tier": tier}


def test_unlisted_acquisition_channels_load_as_other_with_the_exported_text(con):
    stats = load(con, CUSTOMERS, customer("C1", "Unknown"), customer("C2", "search"), customer("C3", " social "),
                 customer("C4", "Paid-Search"), customer("C5", None))
    assert stats.inserted == 5 and stats.quarantined == 0
    got = dict((r[0], r[1:]) for r in con.execute(
        "SELECT customer_id, acquisition_channel, acquisition_channel_original FROM raw.customers").fetchall())
    assert got == {
        "C1": (OTHER, "Unknown"), "C2": (OTHER, "search"), "C3": (OTHER, "social"),
        "C4": ("paid_search", None), "C5": (None, None),
    }
    assert stats.other_values == {"acquisition_channel": 3}
    assert stats_metadata(stats)["other_values"] == {"acquisition_channel": 3}


def test_a_blank_device_is_unknown_and_an_odd_one_other(con):
    load(con, ORDERS, minimal_order(device=""), minimal_order(order_id="O2", device="Smart-Fridge"))
    assert con.execute("SELECT order_id, device, device_original FROM raw.orders ORDER BY 1").fetchall() == [
        ("O1", UNKNOWN, None), ("O2", OTHER, "Smart-Fridge")]


def test_ticket_channel_and_category_outside_the_list_are_other(con):
    stats = load(con, TICKETS, ticket(channel="WhatsApp", category="Billing question"))
    assert stats.quarantined == 0
    assert row(con, "SELECT channel, channel_original, category, category_original FROM raw.support_tickets") == (
        OTHER, "WhatsApp", OTHER, "Billing question")


# --- statuses --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "entity, exported, expected",
    [(TICKETS, "solved", "resolved"), (TICKETS, "On-Hold", "pending"), (TICKETS, "Closed", "closed"),
     (ORDERS, "paid", "placed"), (ORDERS, "voided", "cancelled"), (ORDERS, "partially refunded", "partially_refunded"),
     (ORDERS, "Canceled", "cancelled")],
)
def test_statuses_of_other_systems_map_onto_the_contract(con, entity, exported, expected):
    r = ticket(status=exported) if entity is TICKETS else minimal_order(status=exported)
    stats = load(con, entity, r)
    assert stats.inserted == 1
    assert row(con, f"SELECT status FROM raw.{entity.name}")[0] == expected


def test_every_synonym_maps_to_a_contract_value():
    for key, table in STATUS_SYNONYMS.items():
        entity, column = key.split(".")
        allowed = ENTITIES[entity].column(column).allowed
        for spelling, value in table.items():
            assert spelling == normalise(spelling), f"{key}: synonym {spelling!r} is not normalised"
            assert value in allowed, f"{key}: {spelling!r} -> {value!r}, expected one of {allowed}"


def test_an_unknown_order_status_is_still_quarantined(con):
    stats = load(con, ORDERS, minimal_order(status="Lost In Transit"))
    assert stats.quarantined == 1 and reasons(con) == ["unknown_enum:status=Lost In Transit"]
    assert stats.reasons == {"unknown_enum:status": 1}


# --- ordering at the door --------------------------------------------------------------------

def test_a_ticket_resolved_before_it_was_created_is_quarantined_and_the_next_batch_loads(con):
    bad = ticket(resolved_at="2025-01-01T09:00:00Z", status="resolved")
    stats = load(con, TICKETS, bad)
    assert stats.quarantined == 1 and stats.inserted == 0
    assert reasons(con) == ["out_of_order:resolved_at_before_created_at"]
    fixed = load(con, TICKETS, dict(bad, resolved_at="2025-01-03T09:00:00Z", updated_at="2025-01-03T09:00:00Z"))
    assert fixed.inserted == 1 and fixed.quarantined == 0
    assert row(con, "SELECT count(*) FROM raw.support_tickets")[0] == 1


def test_ordering_is_not_checked_when_one_side_is_missing(con):
    assert load(con, TICKETS, ticket(resolved_at=None, first_response_at=None)).inserted == 1


# --- extra columns and money -----------------------------------------------------------------

def test_extra_columns_are_reported_sorted_and_total_is_not_extra(con):
    stats = load(con, ORDERS, minimal_order(total="50", zz_note="x", gift_wrap="no"))
    assert stats.inserted == 1
    assert stats.extra_columns == ["gift_wrap", "zz_note"]
    assert stats_metadata(stats)["extra_columns"] == ["gift_wrap", "zz_note"]


@pytest.mark.parametrize(
    "exported, stored",
    [("1.005", "1.01"), ("0.125", "0.13"), ("2.674999", "2.67"), ("100", "100.00")],
)
def test_money_text_rounds_half_away_from_zero_to_cents(con, exported, stored):
    load(con, ORDERS, minimal_order(subtotal=exported))
    assert row(con, "SELECT subtotal FROM raw.orders")[0] == Decimal(stored)


def test_money_floats_are_scaled_in_floating_point_before_rounding(con):
    # As in docs/source-contract.md: 2.675 * 100 is exactly 267.5 in binary floating point,
    # 1.005 * 100 is 100.49999999999999, so the two round differently.
    df = pl.DataFrame({"order_id": ["A", "B"], "created_at": ["2025-01-01"] * 2, "subtotal": [2.675, 1.005]})
    load_batch(con, ORDERS, df, "orders.parquet", "USD", "r")
    assert dict(con.execute("SELECT order_id, subtotal FROM raw.orders").fetchall()) == {
        "A": Decimal("2.68"), "B": Decimal("1.00")}


def test_run_totals_add_other_values_and_extra_columns_of_every_file():
    total = LoadStats()
    total.add(LoadStats(other_values={"device": 2}, extra_columns=["note"]))
    total.add(LoadStats(other_values={"device": 1, "channel": 4}, extra_columns=["gift", "note"]))
    assert total.other_values == {"device": 3, "channel": 4}
    assert total.extra_columns == ["gift", "note"]
