"""A four-year shop of mostly yearly buyers: reactivations push the seed formula above 1, retention stays a share.

400 customers, orders only (order_id, customer_id, created_at, subtotal),
2021-2024, shop time zone UTC. Most customers order about once a year; a
gap of more than 365 days lets their active window lapse before they come
back, so they are neither new nor in the month's starting base, and the seed
formula (customers at end - new) / customers at start exceeds 1 in about a
quarter of the months (as in the real office-supply export that motivated
this). The run must publish; every count of `marts.mart_retention_rate` is
compared with a brute-force computation here from the orders alone, with the
glossary's definitions (dbt_project/docs/metrics.md: active on a day = a
qualifying order in the 365 days ending that day; start = the day before the
month's first day; end = its last day, or the as-of date).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest

from .conftest import assert_published, run_shop

pytestmark = pytest.mark.slow

WINDOW = 365  # the default active_window_days
FIRST_DAY, LAST_DAY = date(2021, 1, 1), date(2024, 12, 31)


def yearly_orders(seed: int = 19, customers: int = 400) -> list[tuple[str, date]]:
    """(customer_id, order date), mostly one order a year: gaps just over a year (lapse and return) or just under."""
    rnd = random.Random(seed)
    orders = []
    for c in range(customers):
        # three quarters start in the first year, the rest join later
        day = FIRST_DAY + timedelta(days=rnd.randrange(365 if c < 300 else 3 * 365))
        while day <= LAST_DAY:
            orders.append((f"c{c:04d}", day))
            r = rnd.random()
            if r < 0.12:
                break
            gap = rnd.randint(366, 430) if r < 0.62 else rnd.randint(330, 365) if r < 0.87 else rnd.randint(20, 200)
            day += timedelta(days=gap)
    return orders


def write_landing(root: Path, orders: list[tuple[str, date]]) -> Path:
    (root / "orders").mkdir(parents=True)
    lines = ["order_id,customer_id,created_at,subtotal"]
    for i, (customer, day) in enumerate(sorted(orders, key=lambda o: (o[1], o[0]))):
        lines.append(f"o{i:05d},{customer},{day.isoformat()} 12:00:00,{20 + (i * 7) % 180}.50")
    (root / "orders" / "orders.csv").write_text("\n".join(lines) + "\n")
    return root


def _next_month(m: date) -> date:
    return date(m.year + (m.month == 12), m.month % 12 + 1, 1)


def expected_months(orders: list[tuple[str, date]]) -> dict[date, tuple[int, int, int, int, int]]:
    """month -> (customers_at_start, new, customers_at_end, retained, reactivated), customer by customer."""
    by_customer: dict[str, list[date]] = {}
    for customer, day in orders:
        by_customer.setdefault(customer, []).append(day)
    as_of = max(day for _, day in orders)
    first = {c: min(days) for c, days in by_customer.items()}

    def active(c: str, day: date) -> bool:
        return any(day - timedelta(days=WINDOW) < o <= day for o in by_customer[c])

    out = {}
    month = date(min(first.values()).year, min(first.values()).month, 1)
    while month <= as_of:
        start, end = month - timedelta(days=1), min(_next_month(month) - timedelta(days=1), as_of)
        at_start = {c for c in by_customer if active(c, start)}
        at_end = {c for c in by_customer if active(c, end)}
        new = {c for c in by_customer if month <= first[c] < _next_month(month)}
        reactivated = {c for c in at_end - at_start if first[c] < month}
        out[month] = (len(at_start), len(new), len(at_end), len(at_start & at_end), len(reactivated))
        month = _next_month(month)
    return out


ORDERS = yearly_orders()


@pytest.fixture(scope="module")
def yearly_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("yearly")
    landing = write_landing(root / "landing", ORDERS)
    return run_shop("realshop_yearly", landing, root / "data", currency="USD", timezone="UTC")


def test_the_fixture_is_the_case_the_seed_formula_breaks_on():
    months = expected_months(ORDERS)
    over = [m for m, (s, n, e, _, _) in months.items() if s and (e - n) / s > 1]
    assert len(months) == 48 and len(over) >= 8, f"{len(over)} of {len(months)} months with (E - N) / S > 1"
    assert any(x > 0 for *_, x in months.values())


def test_yearly_buyers_shop_publishes(yearly_run):
    assert_published(yearly_run)


def test_retention_counts_match_a_customer_by_customer_computation(yearly_run):
    assert yearly_run.published_db.exists(), f"nothing published: {yearly_run.step_failures()}"
    got = {m: tuple(r) for m, *r in yearly_run.query(yearly_run.published_db, """
        SELECT month, customers_at_start, new_customers, customers_at_end, retained_customers, reactivated_customers
        FROM marts.mart_retention_rate ORDER BY month""")}
    want = expected_months(ORDERS)
    wrong = {m: (got.get(m), w) for m, w in want.items() if got.get(m) != w}
    assert not wrong and set(got) == set(want), (
        "mart_retention_rate (start, new, end, retained, reactivated) differs from the orders, month: (mart, expected): "
        f"{dict(list(wrong.items())[:5])}")


def test_retention_stays_a_share_where_the_seed_formula_exceeds_one(yearly_run):
    assert yearly_run.published_db.exists(), f"nothing published: {yearly_run.step_failures()}"
    rows = yearly_run.query(yearly_run.published_db, """
        SELECT month, customers_at_start, new_customers, customers_at_end, retained_customers,
               reactivated_customers, retention_rate, reactivation_rate, textbook_retention_rate
        FROM marts.mart_retention_rate WHERE customers_at_start > 0 ORDER BY month""")
    over = 0
    for month, s, n, e, kept, back, rate, back_rate, textbook in rows:
        # the seed formula is reproducible from the published columns, and is retention + reactivation
        assert textbook == pytest.approx((e - n) / s, abs=1e-12), month
        assert e - n == kept + back, month
        assert textbook == pytest.approx(rate + back_rate, abs=1e-12), month
        assert rate == pytest.approx(kept / s, abs=1e-12) and 0 <= rate <= 1, (month, rate)
        over += textbook > 1
    assert over >= 8, f"only {over} months with textbook_retention_rate > 1; the fixture should break the seed formula"


def test_headline_retention_is_the_bounded_rate(yearly_run):
    assert yearly_run.published_db.exists(), f"nothing published: {yearly_run.step_failures()}"
    (kpi, month), = yearly_run.query(yearly_run.published_db,
                                    "SELECT retention_rate, retention_month FROM marts.mart_kpis")
    (rate,), = yearly_run.query(yearly_run.published_db,
                                "SELECT retention_rate FROM marts.mart_retention_rate WHERE month = ?", [month])
    assert kpi == rate and 0 <= kpi <= 1
    assert "Reactivated" in yearly_run.report.read_text()
