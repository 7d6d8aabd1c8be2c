"""The worked examples of docs/mappings.md, run through publish on their fixture files.

(a) tests/fixtures/mappings/online_retail: a UK retailer's invoice lines
    (InvoiceNo, StockCode, ..., CustomerID, Country), credit notes "C...",
    guest purchases without a customer id, postage as a line.
(b) tests/fixtures/mappings/superstore: a US sales export in Windows-1252
    with M/D/YYYY dates, a discount rate and a profit per line.

Each folder holds the export and the `retention.yml` printed in the docs;
the expected figures below are worked out by hand from those files.
A broken mapping stops the run at extraction with one line, loading nothing.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from assets.settings import PROJECT_ROOT

from .conftest import assert_published, run_shop

pytestmark = pytest.mark.slow

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "mappings"


def landing(example: str, root: Path, config: str | None = None) -> Path:
    folder = root / "landing"
    shutil.copytree(FIXTURES / example, folder)
    if config is not None:
        (folder / "retention.yml").write_text(config)
    return folder


@pytest.fixture(scope="module")
def invoices_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("online_retail")
    return run_shop("mapping_online_retail", landing("online_retail", root), root / "data", "GBP", "Europe/London")


@pytest.fixture(scope="module")
def sales_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("superstore")
    return run_shop("mapping_superstore", landing("superstore", root), root / "data", "USD", "UTC")


# --- (a) invoice lines -------------------------------------------------------------

# Per customer: qualifying orders and net revenue (quantity x unit price of the
# goods lines; postage is shipping, credit notes are refunded orders worth 0).
#   17850: 536365 57.64 + 536366 22.20 + 539993 30.00 (C536391 26.76 refunded)
#   12583: 536370 180.00 + 537211 72.00 (C540030 7.50 refunded)
#   13047: 536371 204.00 + 537126 70.80
#   12431: 536596 54.90 + 540200 17.70
#   14911: 540280 11.80
#   guests: 536544 7.53, 537340 13.52, 540100 12.75
INVOICE_CUSTOMERS = {
    "17850": (3, Decimal("109.84")),
    "12583": (2, Decimal("252.00")),
    "13047": (2, Decimal("274.80")),
    "12431": (2, Decimal("72.60")),
    "14911": (1, Decimal("11.80")),
}


def test_invoice_export_publishes(invoices_run):
    assert_published(invoices_run)


def test_invoices_become_orders_credit_notes_refunds_and_guests_stay_guests(invoices_run):
    rows = invoices_run.query(
        invoices_run.build_db,
        "SELECT count(*), count(*) FILTER (WHERE status = 'refunded'), count(*) FILTER (WHERE customer_id IS NULL), "
        "sum(shipping), (SELECT count(*) FROM raw.order_lines), (SELECT count(*) FROM raw.quarantine) FROM raw.orders",
    )[0]
    # 15 invoices, 2 of them credit notes, 3 guest invoices; postage 54 + 18; 26 lines less 2 postage lines.
    assert rows == (15, 2, 3, Decimal("72.00"), 24, 0), rows
    credit = invoices_run.query(
        invoices_run.build_db,
        "SELECT status, subtotal, refunded_amount, customer_id FROM raw.orders WHERE order_id = 'C536391'",
    )
    assert credit == [("refunded", Decimal("26.76"), Decimal("26.76"), "17850")], credit


def test_invoice_marts_match_the_hand_count(invoices_run):
    assert invoices_run.published_db.exists(), f"nothing published: {invoices_run.step_failures()}"
    clv = {
        c: (n, revenue) for c, n, revenue in invoices_run.query(
            invoices_run.published_db, "SELECT customer_id, orders_count, net_revenue FROM marts.mart_customer_clv"
        )
    }
    assert clv == INVOICE_CUSTOMERS, clv
    orders, guests, revenue = invoices_run.query(
        invoices_run.published_db,
        "SELECT sum(orders), sum(guest_orders), sum(net_revenue) FROM marts.mart_aov_by_device",
    )[0]
    assert (orders, guests, revenue) == (13, 3, Decimal("754.84")), (orders, guests, revenue)
    cohorts = dict(invoices_run.query(
        invoices_run.published_db,
        "SELECT DISTINCT strftime(cohort_month, '%Y-%m'), cohort_size FROM marts.mart_cohort_retention",
    ))
    assert cohorts == {"2010-12": 4, "2011-01": 1}, cohorts


def test_customers_carry_their_first_purchase_and_country(invoices_run):
    rows = invoices_run.query(
        invoices_run.build_db,
        "SELECT customer_id, strftime(created_at, '%Y-%m-%d %H:%M'), country FROM raw.customers ORDER BY 1",
    )
    assert rows == [
        ("12431", "2010-12-02 09:12", "Australia"),
        ("12583", "2010-12-01 08:45", "France"),
        ("13047", "2010-12-01 09:00", "United Kingdom"),
        ("14911", "2011-01-07 16:45", "EIRE"),
        ("17850", "2010-12-01 08:26", "United Kingdom"),
    ], rows


# --- (b) sales export -------------------------------------------------------------

# Per customer: orders, net revenue (the sum of Sales) and gross margin (the sum of Profit).
SALES_CUSTOMERS = {
    "ZM-10001": (3, Decimal("432.00"), Decimal("93.00")),  # 100001 340/70, 100004 32/8, 100007 60/15
    "FD-10002": (2, Decimal("570.00"), Decimal("7.00")),   # 100002 90/27, 100006 480/-20
    "BA-10003": (1, Decimal("25.00"), Decimal("-5.00")),
    "JN-10004": (1, Decimal("150.00"), Decimal("45.00")),
    "SK-10005": (1, Decimal("60.00"), Decimal("18.00")),
}


def test_sales_export_publishes(sales_run):
    assert_published(sales_run)


def test_sales_marts_match_the_hand_count(sales_run):
    assert sales_run.published_db.exists(), f"nothing published: {sales_run.step_failures()}"
    clv = {
        c: (n, revenue, margin) for c, n, revenue, margin in sales_run.query(
            sales_run.published_db,
            "SELECT customer_id, orders_count, net_revenue, gross_margin FROM marts.mart_customer_clv",
        )
    }
    assert clv == SALES_CUSTOMERS, clv
    cohorts = dict(sales_run.query(
        sales_run.published_db,
        "SELECT DISTINCT strftime(cohort_month, '%Y-%m'), cohort_size FROM marts.mart_cohort_retention",
    ))
    assert cohorts == {"2024-11": 3, "2024-12": 1, "2025-01": 1}, cohorts


def test_us_dates_discount_rates_and_windows_1252_text_load_as_meant(sales_run):
    order = sales_run.query(
        sales_run.build_db,
        "SELECT strftime(created_at, '%Y-%m-%d'), subtotal, discount FROM raw.orders WHERE order_id = 'US-2025-100006'",
    )
    # 1/12/2025 is 12 January (M/D/YYYY); Sales 480 at a 20% discount is 600 listed, 120 off.
    assert order == [("2025-01-12", Decimal("600.00"), Decimal("120.00"))], order
    categories = dict(sales_run.query(
        sales_run.build_db, "SELECT category, count(*) FROM raw.order_lines GROUP BY 1",
    ))
    assert categories == {
        "Office Supplies \u2013 Paper": 4, "Furniture \u2013 Chairs": 1, "Furniture \u2013 Tables": 1,
        "Technology": 3, "Office Supplies": 1,
    }, categories


# --- broken mappings ----------------------------------------------------------------

ORDER_LINES_HEAD = "  order_lines:\n"


def with_order_lines_query(query: str) -> str:
    """The invoice example's retention.yml with another order-lines query."""
    text = (FIXTURES / "online_retail" / "retention.yml").read_text()
    start, end = text.index(ORDER_LINES_HEAD), text.index("  customers:\n")
    return text[:start] + f"{ORDER_LINES_HEAD}    files: invoices/*.csv\n    query: '{query}'\n" + text[end:]


BROKEN = {
    "bad_sql": ("SELECT InvoiceNo AS order_id FROM {files} WHERE", "Parser Error: syntax error at or near"),
    "missing_column": (
        "SELECT InvoiceNo AS order_id, 1 AS line_number, StockCode AS product_id, Qty AS quantity, "
        "UnitPrice AS unit_price FROM {files}",
        'Binder Error: Referenced column "Qty" not found in FROM clause!',
    ),
    "wrong_columns": (
        "SELECT InvoiceNo AS order_id, StockCode AS sku, Quantity AS quantity, UnitPrice AS unit_price FROM {files}",
        "returns column(s) sku, not in the contract of order_lines",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_mapping_fails_in_one_line_and_loads_nothing(tmp_path, case):
    query, problem = BROKEN[case]
    folder = landing("online_retail", tmp_path, with_order_lines_query(query))
    run = run_shop(f"mapping_{case}", folder, tmp_path / "data", "GBP", "Europe/London")
    assert not run.result.success, f"a broken mapping ({case}) published"
    failures = run.step_failures()
    assert len(failures) == 1 and failures[0].startswith("extract_shop: "), failures
    # The step's error is Dagster's Failure, whose description is the line.
    line = failures[0].removeprefix("extract_shop: ").removeprefix("dagster._core.definitions.events.Failure: ")
    expected_head = (
        f"{folder / 'retention.yml'}: landing.order_lines.query over invoices/*.csv "
        f"(2 files, first {folder / 'invoices' / '2010-12.csv'}): "
    )
    assert line.startswith(expected_head) and problem in line, line
    loaded = run.query(
        run.build_db,
        "SELECT (SELECT count(*) FROM raw.orders) + (SELECT count(*) FROM raw.order_lines) "
        "+ (SELECT count(*) FROM raw.customers) + (SELECT count(*) FROM raw._ingested_files)",
    )[0][0]
    assert loaded == 0, f"{case}: {loaded} rows loaded or files recorded before the mapping was found broken"
    assert not run.published_db.exists()
