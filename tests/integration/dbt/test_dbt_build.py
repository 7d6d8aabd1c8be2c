"""`dbt build` (models, data tests, unit tests) on a tiny hand-built shop, checked against values worked out by hand.

The shop runs in America/New_York with a 60-day active window and a 45-day
churn window, so the month boundaries, windows and churn all bite on a handful
of rows:

customer  order  UTC created_at        NY date     status              net   device
C1        O1     2025-01-15 15:00      2025-01-15  fulfilled           100   desktop
C1        O2     2025-03-01 03:00      2025-02-28  fulfilled            50   mobile   <- February in NY
C2        O3     2025-01-20 12:00      2025-01-20  cancelled           (80)  desktop  <- not C2's first order
C2        O4     2025-02-10 12:00      2025-02-10  fulfilled           100   desktop
C3        O5     2025-01-05 12:00      2025-01-05  refunded in full      0   mobile   <- C3 never qualifies
guest     O6     2025-02-14 12:00      2025-02-14  fulfilled            30   mobile
C1        O7     2025-04-10 12:00      2025-04-10  partially_refunded   80   desktop
C2        O8     2025-04-30 12:00      2025-04-30  cancelled           (50)  desktop
C4        O9     2025-05-01 02:00      2025-04-30  fulfilled            40   tablet   <- newest: as-of date 2025-04-30

No order at all falls in March (NY time).
"""


import math

import duckdb
import pytest

from assets.extraction.contract import ENTITIES, create_raw_schema

VARS = '{"shop_timezone": "America/New_York", "active_window_days": 60, "churn_after_days": 45}'

LOADED = "'2025-05-01 06:00:00'"

RAW_ROWS = {
    "customers": [
        # customer_id, email, created_at, country, acquisition_channel, loyalty_tier, updated_at
        "('C1', 'c1@example.com', '2025-01-01 10:00:00', 'US', 'organic', 'gold', '2025-01-01 10:00:00')",
        "('C2', 'c2@example.com', '2025-01-02 10:00:00', 'US', 'email', 'none', '2025-01-02 10:00:00')",
        "('C3', 'c3@example.com', '2025-01-03 10:00:00', 'CA', 'direct', 'none', '2025-01-03 10:00:00')",
        "('C4', 'c4@example.com', '2025-04-01 10:00:00', 'US', 'referral', 'bronze', '2025-04-01 10:00:00')",
    ],
    "orders": [
        # order_id, customer_id, created_at, updated_at, status, device, channel, currency,
        # subtotal, discount, shipping, tax, refunded_amount, coupon_code
        "('O1', 'C1', '2025-01-15 15:00:00', '2025-01-16 15:00:00', 'fulfilled', 'desktop', 'web', 'USD', 100, 0, 5, 8, 0, NULL)",
        "('O2', 'C1', '2025-03-01 03:00:00', '2025-03-02 03:00:00', 'fulfilled', 'mobile', 'app', 'USD', 60, 10, 5, 4, 0, 'WELCOME10')",
        "('O3', 'C2', '2025-01-20 12:00:00', '2025-01-20 13:00:00', 'cancelled', 'desktop', 'web', 'USD', 80, 0, 5, 6, 0, NULL)",
        "('O4', 'C2', '2025-02-10 12:00:00', '2025-02-11 12:00:00', 'fulfilled', 'desktop', 'web', 'USD', 120, 20, 0, 9, 0, NULL)",
        "('O5', 'C3', '2025-01-05 12:00:00', '2025-01-20 12:00:00', 'refunded', 'mobile', 'web', 'USD', 40, 0, 5, 3, 40, NULL)",
        "('O6', NULL, '2025-02-14 12:00:00', '2025-02-15 12:00:00', 'fulfilled', 'mobile', 'web', 'USD', 30, 0, 5, 2, 0, NULL)",
        "('O7', 'C1', '2025-04-10 12:00:00', '2025-04-20 12:00:00', 'partially_refunded', 'desktop', 'web', 'USD', 90, 0, 0, 7, 10, NULL)",
        "('O8', 'C2', '2025-04-30 12:00:00', '2025-04-30 13:00:00', 'cancelled', 'desktop', 'web', 'USD', 50, 0, 0, 4, 0, NULL)",
        "('O9', 'C4', '2025-05-01 02:00:00', '2025-05-01 02:00:00', 'fulfilled', 'tablet', 'app', 'USD', 40, 0, 5, 3, 0, NULL)",
    ],
    "order_lines": [
        # order_id, line_number, product_id, category, quantity, unit_price, unit_cost, updated_at
        "('O1', 1, 'P1', 'shoes', 2, 50, 20, NULL)",
        "('O2', 1, 'P2', 'socks', 1, 60, 30, NULL)",
        "('O3', 1, 'P3', 'hats', 1, 80, 35, NULL)",
        "('O4', 1, 'P4', 'coats', 1, 120, 50, NULL)",
        "('O5', 1, 'P2', 'socks', 1, 40, 20, NULL)",
        "('O6', 1, 'P2', 'socks', 1, 30, 15, NULL)",
        "('O7', 1, 'P5', 'bags', 1, 90, 30, NULL)",
        "('O8', 1, 'P1', 'shoes', 1, 50, 20, NULL)",
        "('O9', 1, 'P6', 'gifts', 1, 40, NULL, NULL)",
    ],
    "carts": [
        # cart_id, customer_id, device, created_at, updated_at, status, converted_order_id, item_count,
        # cart_value, currency, first_recovery_email_at, second_recovery_email_at, recovered
        "('K1', 'C1', 'desktop', '2025-01-15 14:00:00', '2025-01-15 15:00:00', 'converted', 'O1', 2, 100, 'USD', NULL, NULL, false)",
        "('K2', 'C2', 'mobile', '2025-02-01 12:00:00', '2025-02-02 13:00:00', 'abandoned', NULL, 1, 70, 'USD', '2025-02-01 13:00:00', '2025-02-02 13:00:00', false)",
        "('K3', NULL, 'mobile', '2025-02-14 09:00:00', '2025-02-14 12:00:00', 'converted', 'O6', 1, 30, 'USD', '2025-02-14 10:00:00', NULL, true)",
        "('K4', 'C1', 'desktop', '2025-04-20 12:00:00', '2025-04-20 13:00:00', 'abandoned', NULL, 1, 25, 'USD', NULL, NULL, false)",
    ],
    "support_tickets": [
        # ticket_id, customer_id, order_id, channel, category, created_at, first_response_at, resolved_at,
        # status, csat_score, reopened_count, updated_at
        "('T1', 'C1', 'O1', 'email', 'delivery', '2025-01-16 10:00:00', '2025-01-16 12:00:00', '2025-01-17 10:00:00', 'resolved', 5, 0, '2025-01-17 10:00:00')",
        "('T2', 'C2', 'O4', 'phone', 'wrong_item', '2025-02-11 10:00:00', '2025-02-11 10:30:00', '2025-02-15 10:00:00', 'closed', 1, 1, '2025-02-15 10:00:00')",
        "('T3', 'C1', NULL, 'chat', 'product_question', '2025-01-20 10:00:00', '2025-01-20 10:06:00', '2025-01-20 13:00:00', 'resolved', 4, 0, '2025-01-20 13:00:00')",
    ],
}


DOCS_TARGET: dict = {}


@pytest.fixture(scope="module")
def built_shop(tmp_path_factory, dbt_cli) -> duckdb.DuckDBPyConnection:
    tmp = tmp_path_factory.mktemp("dbt_build")
    warehouse = tmp / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_raw_schema(con)
        for table, rows in RAW_ROWS.items():
            con.execute(
                f"insert into raw.{table} ({', '.join(ENTITIES[table].column_names)}, _source_file, _source_row, _loaded_at) "
                f"select *, 'hand-built', 1, {LOADED} from (values {', '.join(rows)})"
            )
    dbt_cli(["build", "--vars", VARS], warehouse=warehouse, target_path=tmp / "target")
    # The docs site is generated from the built warehouse (the catalog needs the tables).
    dbt_cli(["docs", "generate", "--vars", VARS], warehouse=warehouse, target_path=tmp / "target")
    DOCS_TARGET["path"] = tmp / "target"
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_as_of_date_is_the_newest_order_in_shop_time(built_shop):
    # O9 was placed 2025-05-01 02:00 UTC = 2025-04-30 22:00 in New York
    assert rows(built_shop, "select as_of_date::varchar from intermediate.int_as_of_date") == [("2025-04-30",)]


def test_cohort_retention_counts_the_ny_month_and_fills_silent_months(built_shop):
    got = rows(built_shop, """
        select cohort_month::varchar, months_since_first_order, cohort_size, active_customers,
               retention_rate, net_revenue::double, cumulative_net_revenue_per_customer
        from marts.mart_cohort_retention order by 1, 2""")
    assert got == [
        # C1: O2 is a February order in New York, March has no orders, O7 in April
        ("2025-01-01", 0, 1, 1, 1.0, 100.0, 100.0),
        ("2025-01-01", 1, 1, 1, 1.0, 50.0, 150.0),
        ("2025-01-01", 2, 1, 0, 0.0, 0.0, 150.0),
        ("2025-01-01", 3, 1, 1, 1.0, 80.0, 230.0),
        # C2: the cancelled January order does not make a January cohort
        ("2025-02-01", 0, 1, 1, 1.0, 100.0, 100.0),
        ("2025-02-01", 1, 1, 0, 0.0, 0.0, 100.0),
        ("2025-02-01", 2, 1, 0, 0.0, 0.0, 100.0),
        ("2025-04-01", 0, 1, 1, 1.0, 40.0, 40.0),
    ]


def test_retention_rate_keeps_the_starting_customers_with_60_day_windows(built_shop):
    got = rows(built_shop, """
        select month::varchar, customers_at_start, new_customers, customers_at_end, retained_customers,
               reactivated_customers, retention_rate, textbook_retention_rate
        from marts.mart_retention_rate order by 1""")
    assert got == [
        ("2025-01-01", 0, 1, 1, 0, 0, None, None),
        ("2025-02-01", 1, 1, 2, 1, 0, 1.0, 1.0),  # C1 stays; C2 new: textbook (2 - 1) / 1
        ("2025-03-01", 2, 0, 2, 2, 0, 1.0, 1.0),  # end window Jan 31..Mar 31 still holds C2's Feb 10
        ("2025-04-01", 2, 1, 2, 1, 0, 0.5, 0.5),  # end window Mar 2..Apr 30: C1 stays, C2 lapsed, C4 new
    ]


def test_the_first_60_days_are_flagged_as_window_warming_up(built_shop):
    # first qualifying order Jan 15: nobody can leave a 60-day window before Mar 16
    for mart in ("mart_retention_rate", "mart_churn_monthly"):
        got = rows(built_shop, f"select month::varchar, is_window_warming_up from marts.{mart} order by 1")
        assert got == [("2025-01-01", True), ("2025-02-01", True), ("2025-03-01", False), ("2025-04-01", False)], mart


def test_kpis_agree_with_the_marts_that_define_them(built_shop):
    got = rows(built_shop, """
        select as_of_date::varchar, customers, active_customers, churned_customers, retention_month::varchar,
               retention_rate, churn_rate, month1_first_cohort::varchar, month1_last_cohort::varchar,
               month1_retention_rate, orders_12m, round(aov_12m, 2), recovered_revenue_12m::double,
               predicted_customers, scored_customers, predicted_clv_12m
        from marts.mart_kpis""")
    assert got == [(
        "2025-04-30", 3, 2, 1,  # C1, C2, C4; C2 silent 79 days: churned and inactive
        "2025-04-01", 0.5, 0.0,  # April is complete on Apr 30
        "2025-01-01", "2025-02-01", 0.5,  # C1 back in Feb, C2 not in Mar; C4's month 1 (May) has not begun
        6, 66.67, 30.0,  # 400 / 6 orders; K3 converted into O6 (30)
        3, 0, None,  # C1, C2, C4 listed by the predictions model; too few customers to score
    )]
    # active customers on the as-of date are the as-of month's customers at end
    assert rows(built_shop, "select customers_at_end from marts.mart_retention_rate where month = '2025-04-01'") == [(2,)]


def test_report_series_marts(built_shop):
    assert rows(built_shop, """
        select device, orders, new_customer_orders, new_customer_aov, returning_customer_orders, returning_customer_aov
        from marts.mart_aov_by_device_12m order by 1""") == [
        ("desktop", 3, 2, 100.0, 1, 80.0),  # O1, O4 new; O7 returning
        ("mobile", 2, 0, None, 1, 50.0),  # O2 returning, O6 guest
        ("tablet", 1, 1, 40.0, 0, None),
    ]
    assert rows(built_shop, """
        select cart_month::varchar, carts, abandoned_carts, abandonment_rate, recovery_rate
        from marts.mart_cart_abandonment_monthly order by 1""") == [
        ("2025-01-01", 1, 0, 0.0, None),
        ("2025-02-01", 2, 2, 1.0, 0.5),
        ("2025-04-01", 1, 1, 1.0, 0.0),
    ]
    curves = rows(built_shop, """
        select cohort_half, months_since_first_order, customers, cumulative_net_revenue_per_customer
        from marts.mart_cohort_revenue_curves where months_since_first_order <= 1 order by 1, 2""")
    # Jan cohort C1 (100, then 50 in Feb), Feb cohort C2 (100); Apr cohort C4 (40)
    assert curves == [("2025 H1", 0, 3, 80.0), ("2025 H1", 1, 2, 125.0)]


def test_churn_after_45_days_of_silence(built_shop):
    got = rows(built_shop, """
        select customer_id, orders_count, days_since_last_order, typical_interorder_days, is_churned,
               churned_on::varchar
        from marts.mart_customer_churn order by 1""")
    assert got == [
        ("C1", 3, 20, 42.5, False, None),  # gaps 44 and 41 days
        ("C2", 1, 79, None, True, "2025-03-28"),  # Feb 10 + 46
        ("C4", 1, 0, None, False, None),
    ]
    monthly = rows(built_shop, "select month::varchar, active_at_start, churned_in_month, churn_rate "
                               "from marts.mart_churn_monthly where month >= '2025-03-01' order by 1")
    assert monthly == [("2025-03-01", 2, 1, 0.5), ("2025-04-01", 2, 0, 0.0)]


def test_clv_per_customer_and_company_wide(built_shop):
    c1 = rows(built_shop, "select orders_count, net_revenue::double, gross_margin::double, tenure_days, "
                          "historical_clv::double from marts.mart_customer_clv where customer_id = 'C1'")
    # margin 60 + 20 + 50; tenure Jan 15..Apr 30 = 106 days
    assert c1 == [(3, 230.0, 130.0, 106, 230.0)]
    summary = rows(built_shop, "select customers, orders, avg_order_value, avg_margin_per_order, clv, margin_clv "
                               "from marts.mart_clv_summary where cohort = 'all'")
    customers, orders, aov, margin_per_order, clv, margin_clv = summary[0]
    assert (customers, orders, aov, margin_per_order) == (3, 5, 74.0, 45.0)  # 370 / 5; 180 / 4 known margins
    assert clv == pytest.approx(370 / 3)  # AOV x orders/yr x years = revenue per customer
    assert margin_clv == pytest.approx(75.0)  # 45 x 5/3


def test_aov_by_device_keeps_guests_apart(built_shop):
    got = rows(built_shop, """
        select order_month::varchar, device, orders, customers, net_revenue::double, aov,
               new_customer_orders, returning_customer_orders, returning_customer_aov, guest_orders, guest_aov
        from marts.mart_aov_by_device order by 1, 2""")
    assert got == [
        ("2025-01-01", "desktop", 1, 1, 100.0, 100.0, 1, 0, None, 0, None),
        ("2025-02-01", "desktop", 1, 1, 100.0, 100.0, 1, 0, None, 0, None),
        ("2025-02-01", "mobile", 2, 1, 80.0, 40.0, 0, 1, 50.0, 1, 30.0),
        ("2025-04-01", "desktop", 1, 1, 80.0, 80.0, 0, 1, 80.0, 0, None),
        ("2025-04-01", "tablet", 1, 1, 40.0, 40.0, 1, 0, None, 0, None),
    ]


def test_repeat_funnel_all_customers(built_shop):
    got = rows(built_shop, "select customers, customers_with_2_orders, customers_with_3_orders, "
                           "customers_with_4_orders, median_days_to_second_order, repeat_customer_net_revenue::double "
                           "from marts.mart_repeat_purchase_funnel where cohort = 'all'")
    assert got == [(3, 1, 1, 0, 44.0, 230.0)]


def test_cart_abandonment_and_recovery(built_shop):
    got = rows(built_shop, """
        select cart_month::varchar, device, customer_type, carts, abandoned_carts, abandonment_rate,
               first_recovery_emails_sent, recovered_carts, recovered_revenue::double
        from marts.mart_cart_abandonment order by 1, 2, 3""")
    assert got == [
        ("2025-01-01", "desktop", "known", 1, 0, 0.0, 0, 0, 0.0),
        ("2025-02-01", "mobile", "guest", 1, 1, 1.0, 1, 1, 30.0),  # recovered into O6
        ("2025-02-01", "mobile", "known", 1, 1, 1.0, 1, 0, 0.0),
        ("2025-04-01", "desktop", "known", 1, 1, 1.0, 0, 0, 0.0),
    ]


def test_support_kpis_and_retention_by_experience(built_shop):
    kpis = rows(built_shop, """
        select ticket_month::varchar, channel, tickets, multichannel_customers, first_response_hours_p50,
               resolution_hours_p50, reopen_rate, csat_average
        from marts.mart_support_kpis order by 1, 2""")
    assert kpis == [
        ("2025-01-01", "chat", 1, 1, 0.1, 3.0, 0.0, 4.0),
        ("2025-01-01", "email", 1, 1, 2.0, 24.0, 0.0, 5.0),
        ("2025-02-01", "phone", 1, 0, 0.5, 96.0, 1.0, 1.0),
    ]
    retention = rows(built_shop, """
        select dimension, support_group, customers, not_churned_rate
        from marts.mart_support_retention order by 1, 2""")
    assert retention == [
        ("channel", "chat", 1, 1.0),
        ("channel", "email", 1, 1.0),
        ("channel", "phone", 1, 0.0),
        ("csat", "high_4_5", 1, 1.0),
        ("csat", "low_1_2", 1, 0.0),
        ("resolution_time", "1d_to_3d", 1, 1.0),  # C1's slowest: 24 h
        ("resolution_time", "over_3d", 1, 0.0),
        ("ticket", "no_ticket", 1, 1.0),
        ("ticket", "ticket", 2, 0.5),
    ]


def test_revenue_change_factors_worked_out_by_hand(built_shop):
    # February vs January (NY): C1's 100 -> C1's 50 + C2's 100 (known: 1 customer, 1 order -> 2 and 2,
    # AOV 100 -> 75) and a 30 guest order: +80. LMDI with L = 50 / ln 1.5: customers L x ln 2,
    # AOV L x ln 0.75, orders per customer 0, guests +30.
    got = dict(rows(built_shop, """
        select segment, effect from marts.mart_metric_changes
        where period = 'month_vs_previous_month' and period_start = '2025-02-01' and metric = 'net_revenue'
            and dimension in ('total', 'revenue_factors')"""))
    assert got["all"] == pytest.approx(80)
    assert got["customers"] == pytest.approx(50 * math.log(2) / math.log(1.5))
    assert got["aov"] == pytest.approx(50 * math.log(0.75) / math.log(1.5))
    assert got["orders_per_customer"] == pytest.approx(0, abs=1e-12)
    assert got["guest_revenue"] == pytest.approx(30)
    # April vs an orderless March: no logarithm, the whole known change (80 + 40) is customers.
    april = dict(rows(built_shop, """
        select segment, effect from marts.mart_metric_changes
        where period = 'month_vs_previous_month' and period_start = '2025-04-01' and metric = 'net_revenue'
            and dimension = 'revenue_factors'"""))
    assert april == {"customers": 120, "orders_per_customer": 0, "aov": 0, "guest_revenue": 0}


def test_change_notes_cover_the_latest_periods(built_shop):
    # Four months of history are too short to call anything unusual: one quiet note per period kind.
    got = rows(built_shop, "select period, rank, is_headline, metric from marts.mart_change_notes order by 1")
    assert got == [
        ("last_28_days", 1, False, "net_revenue"),
        ("last_7_days", 1, False, "net_revenue"),
        ("month_vs_previous_month", 1, False, "net_revenue"),
    ]
    sentence = rows(built_shop, "select sentence from marts.mart_change_notes where period = 'month_vs_previous_month'")
    assert sentence[0][0].startswith("In 2025-04, net revenue rose from 0 to 120 against 2025-03, nothing moved unusually")


def test_rfm_segments(built_shop):
    got = rows(built_shop, """
        select customer_id, recency_score, frequency_score, monetary_score, segment, is_top_20_percent
        from marts.mart_customer_segments order by 1""")
    assert got == [
        ("C1", 3, 5, 5, "loyal", False),
        ("C2", 1, 1, 3, "hibernating", False),
        ("C4", 5, 1, 1, "new", False),
    ]


def test_a_shop_exporting_every_entity_tracks_them_all_and_derives_no_customer(built_shop):
    got = rows(built_shop, "select entity, is_tracked, records, derived_records from marts.mart_data_coverage order by 1")
    assert got == [(e, True, len(RAW_ROWS[e]), 0) for e in sorted(RAW_ROWS)]
    assert rows(built_shop, "select count(*) from intermediate.int_customers where is_derived_from_orders") == [(0,)]


def test_personal_data_stays_in_raw(built_shop):
    leaked = rows(built_shop, "select table_schema, table_name from information_schema.columns "
                              "where column_name = 'email' and table_schema <> 'raw'")
    assert leaked == []


def test_docs_site_generates_with_every_mart_in_the_catalog(built_shop):
    import json

    target = DOCS_TARGET["path"]
    assert (target / "index.html").exists()
    catalog = json.loads((target / "catalog.json").read_text())
    marts = {n.split(".")[-1] for n in catalog["nodes"] if ".mart_" in n}
    assert {"mart_cohort_retention", "mart_retention_rate", "mart_customer_churn", "mart_aov_by_device"} <= marts
    assert not catalog.get("errors")
