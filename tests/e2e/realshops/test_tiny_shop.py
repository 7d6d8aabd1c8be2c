"""A 3-customer shop: hand-written CSVs, five orders over two months, one repeat buyer.

Too small to fit BG/NBD or Gamma-Gamma: the run still publishes, the
predictions mart lists every customer with NULL predictions, and a WARN says
why the fit was skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import assert_published, run_shop

pytestmark = pytest.mark.slow

CUSTOMERS_CSV = """customer_id,email,created_at,country,acquisition_channel,loyalty_tier
c1,ann@example.com,2025-03-01 09:00:00,DE,organic,none
c2,bob@example.com,2025-03-04 10:30:00,DE,email,none
c3,cy@example.com,2025-04-02 16:00:00,AT,referral,none
"""

ORDERS_CSV = """order_id,customer_id,created_at,status,subtotal,shipping,tax
o1,c1,2025-03-02 10:00:00,fulfilled,40.00,4.90,7.60
o2,c2,2025-03-05 11:15:00,fulfilled,25.50,4.90,4.85
o3,c1,2025-04-07 18:20:00,fulfilled,32.00,0.00,6.08
o4,c3,2025-04-09 08:45:00,fulfilled,19.99,4.90,3.80
o5,c1,2025-04-28 20:10:00,fulfilled,55.00,0.00,10.45
"""

ORDER_LINES_CSV = """order_id,line_number,product_id,quantity,unit_price
o1,1,p1,2,20.00
o2,1,p2,1,25.50
o3,1,p1,1,20.00
o3,2,p3,1,12.00
o4,1,p4,1,19.99
o5,1,p2,2,27.50
"""

CUSTOMERS = 3


def write_tiny_landing(root: Path) -> Path:
    for entity, text in (("customers", CUSTOMERS_CSV), ("orders", ORDERS_CSV), ("order_lines", ORDER_LINES_CSV)):
        (root / entity).mkdir(parents=True)
        (root / entity / f"{entity}.csv").write_text(text)
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    landing = write_tiny_landing(root / "landing")
    return run_shop("realshop_tiny", landing, root / "data", currency="EUR", timezone="Europe/Berlin")


def test_three_customer_shop_publishes(tiny_run):
    assert_published(tiny_run)


def test_tiny_shop_cohorts_count_every_customer(tiny_run):
    assert tiny_run.published_db.exists(), f"nothing published: {tiny_run.step_failures()}"
    cohorts = dict(tiny_run.query(
        tiny_run.published_db,
        "SELECT DISTINCT strftime(cohort_month, '%Y-%m'), cohort_size FROM marts.mart_cohort_retention",
    ))
    # c1, c2 first bought in March, c3 in April (Berlin dates equal the file's here).
    assert cohorts == {"2025-03": 2, "2025-04": 1}, f"mart_cohort_retention cohort sizes {cohorts}, expected March 2, April 1"


def test_tiny_shop_predictions_are_null_for_every_customer(tiny_run):
    assert tiny_run.published_db.exists(), f"nothing published: {tiny_run.step_failures()}"
    rows, with_prediction = tiny_run.query(
        tiny_run.published_db,
        "SELECT count(*), count(*) FILTER (WHERE p_alive IS NOT NULL OR expected_purchases_365d IS NOT NULL "
        "OR predicted_clv_12m IS NOT NULL) FROM marts.mart_customer_predictions",
    )[0]
    assert (rows, with_prediction) == (CUSTOMERS, 0), (
        f"marts.mart_customer_predictions: {rows} rows, {with_prediction} with a prediction; "
        f"expected {CUSTOMERS} rows, all NULL (a 3-customer shop cannot be fitted)"
    )


def test_tiny_shop_warns_that_predictions_were_not_fitted(tiny_run):
    evaluations = tiny_run.check_evaluations().get("marts/mart_customer_predictions", [])
    warned = [ev for ev in evaluations if not ev.passed and ev.severity.value == "WARN"]
    assert warned, (
        "no failed WARN check on marts/mart_customer_predictions for an unfittable shop; "
        f"its evaluations: {[(ev.check_name, ev.passed, ev.severity.value) for ev in evaluations]}; "
        f"run warnings: {tiny_run.warnings()[:3]}"
    )
    assert tiny_run.result.success, f"the WARN must not stop the run; step failures: {tiny_run.step_failures()}"


def test_dbt_builds_every_model_predictions_included_in_one_step(tiny_run):
    steps = sorted({e.step_key for e in tiny_run.result.all_events if e.step_key and e.step_key.startswith("retention_dbt")})
    assert steps == ["retention_dbt"], f"dbt ran in steps {steps}; expected one step (one dbt invocation)"
