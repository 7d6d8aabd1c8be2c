"""A shop without a cart system or a helpdesk: customers, orders and order lines only.

Carts and support tickets are "not tracked" (no files at all): their raw
checks pass saying so, their marts are empty, and the run publishes.
"""

from __future__ import annotations

import pytest

from .conftest import assert_published, evaluation_text, run_shop, sample_frames

pytestmark = pytest.mark.slow

UNTRACKED = ("carts", "support_tickets")


@pytest.fixture(scope="module")
def no_carts_run(tmp_path_factory):
    from assets.extraction.sample_shop import SAMPLE_CURRENCY, SAMPLE_TIMEZONE
    from assets.extraction.sources import write_landing

    root = tmp_path_factory.mktemp("no_carts")
    write_landing(sample_frames(("customers", "orders", "order_lines"), orders=3_000), root / "landing", "csv")
    return run_shop("realshop_no_carts", root / "landing", root / "data", SAMPLE_CURRENCY, SAMPLE_TIMEZONE)


def test_shop_without_carts_and_tickets_publishes(no_carts_run):
    assert_published(no_carts_run)


@pytest.mark.parametrize("entity", UNTRACKED)
def test_untracked_entity_check_passes_as_not_tracked(no_carts_run, entity):
    evaluations = no_carts_run.check_evaluations().get(f"raw/{entity}", [])
    assert evaluations, f"no quality check on raw/{entity} ran; checks that ran: {sorted(no_carts_run.check_evaluations())}"
    for ev in evaluations:
        text = evaluation_text(ev)
        assert ev.passed, f"check {ev.check_name} on raw/{entity} failed for a shop without {entity}: {text[:300]}"
        assert "not tracked" in text, f"check {ev.check_name} on raw/{entity} does not say 'not tracked': {text[:300]}"


@pytest.mark.parametrize("mart", ["mart_cart_abandonment", "mart_support_kpis"])
def test_marts_of_untracked_entities_are_empty(no_carts_run, mart):
    assert no_carts_run.published_db.exists(), f"nothing published: {no_carts_run.step_failures()}"
    rows = no_carts_run.query(no_carts_run.published_db, f"SELECT count(*) FROM marts.{mart}")[0][0]
    assert rows == 0, f"marts.{mart} has {rows} rows for a shop that does not track its entity, expected 0"


def test_order_marts_are_filled_without_carts_and_tickets(no_carts_run):
    assert no_carts_run.published_db.exists(), f"nothing published: {no_carts_run.step_failures()}"
    customers = no_carts_run.query(no_carts_run.build_db, "SELECT count(DISTINCT customer_id) FROM raw.orders")[0][0]
    cohort_total = no_carts_run.query(
        no_carts_run.published_db,
        "SELECT sum(cohort_size) FROM (SELECT DISTINCT cohort_month, cohort_size FROM marts.mart_cohort_retention)",
    )[0][0]
    assert 0 < cohort_total <= customers, (
        f"mart_cohort_retention counts {cohort_total} customers in cohorts, expected between 1 and the {customers} "
        "customers of raw.orders"
    )


def test_audiences_of_untracked_entities_are_empty_and_say_so(no_carts_run):
    assert no_carts_run.published_db.exists(), f"nothing published: {no_carts_run.step_failures()}"
    rows = no_carts_run.query(no_carts_run.published_db, "SELECT audience, is_tracked, members, note "
                              "FROM marts.mart_audience_summary WHERE audience IN ('cart_recovery', 'after_bad_support') "
                              "ORDER BY 1")
    assert rows == [("after_bad_support", False, 0, "not tracked by this shop (no support_tickets data)"),
                    ("cart_recovery", False, 0, "not tracked by this shop (no carts data)")], rows
