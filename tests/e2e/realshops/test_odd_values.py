"""A shop that spells things its own way: other acquisition channels, Zendesk and shop-system statuses.

Customers come with acquisition channels `unknown`, `search` and `social`
(not in the contract's list: loaded as `other`, counted in a WARN), tickets
with Zendesk's `new/open/pending/hold/solved/closed`, orders with
`Completed`, `Voided` and `Partially Refunded` (status synonyms). Nobody is
quarantined for them, every record loads, and the run publishes.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from .conftest import assert_published, run_shop, sample_frames

pytestmark = pytest.mark.slow

ODD_CHANNELS = ("unknown", "search", "social")
# The sample shop's contract value -> the spellings this shop exports for it (used in turn).
ORDER_SPELLINGS = {"fulfilled": ("Completed", "fulfilled"), "cancelled": ("Voided",),
                   "partially_refunded": ("Partially Refunded",)}
ZENDESK_WAITING = ("new", "open", "pending", "hold")
# What each exported spelling means in the contract (docs/source-contract.md, status synonyms).
MEANS = {"Completed": "fulfilled", "Voided": "cancelled", "Partially Refunded": "partially_refunded",
         "new": "open", "hold": "pending", "solved": "resolved"}
ENTITIES = ("customers", "orders", "order_lines", "carts", "support_tickets")


def respell(df: pl.DataFrame, col: str, spellings: dict[str, tuple[str, ...]]) -> pl.DataFrame:
    """Replace each contract value by this shop's spellings, taking turns row by row."""
    i = pl.int_range(pl.len())
    expr = pl.col(col)
    for value, words in spellings.items():
        pick = pl.lit(words[0])
        for k, word in enumerate(words[1:], start=1):
            pick = pl.when(i % len(words) == k).then(pl.lit(word)).otherwise(pick)
        expr = pl.when(pl.col(col) == value).then(pick).otherwise(expr)
    return df.with_columns(expr.alias(col))


def zendesk_tickets(tickets: pl.DataFrame) -> pl.DataFrame:
    """Tickets as Zendesk exports them: done ones `solved`/`closed` in turn, and every fifth one still waiting.

    The sample shop's tickets are nearly all done; a waiting ticket has no
    resolution yet (nor a satisfaction score), so those are cleared with it.
    """
    i = pl.int_range(pl.len())
    waiting = i % 5 == 0
    done_word = pl.when(i % 2 == 0).then(pl.lit("solved")).otherwise(pl.lit("closed"))
    status = pl.col("status")
    return tickets.with_columns(
        status=pl.when(waiting).then(pl.lit(list(ZENDESK_WAITING)).list.get((i // 5) % len(ZENDESK_WAITING)))
        .when(status == "pending").then(pl.lit("hold"))
        .otherwise(done_word),
        resolved_at=pl.when(waiting).then(None).otherwise(pl.col("resolved_at")),
        csat_score=pl.when(waiting).then(None).otherwise(pl.col("csat_score")),
    )


@pytest.fixture(scope="module")
def odd_shop():
    frames = sample_frames(ENTITIES, orders=3_000)
    customers = frames["customers"].with_columns(
        acquisition_channel=pl.when(pl.int_range(pl.len()) % 10 < len(ODD_CHANNELS))
        .then(pl.lit(list(ODD_CHANNELS)).list.get(pl.int_range(pl.len()) % 10, null_on_oob=True))
        .otherwise(pl.col("acquisition_channel"))
    )
    odd = {
        **frames,
        "customers": customers,
        "orders": respell(frames["orders"], "status", ORDER_SPELLINGS),
        "support_tickets": zendesk_tickets(frames["support_tickets"]),
    }
    return frames, odd


@pytest.fixture(scope="module")
def odd_run(odd_shop, tmp_path_factory):
    from assets.extraction.sample_shop import SAMPLE_CURRENCY, SAMPLE_TIMEZONE
    from assets.extraction.sources import write_landing

    root = tmp_path_factory.mktemp("odd_values")
    write_landing(odd_shop[1], root / "landing", "csv")
    return run_shop("realshop_odd_values", root / "landing", root / "data", SAMPLE_CURRENCY, SAMPLE_TIMEZONE)


def test_odd_shop_exports_every_odd_value(odd_shop):
    _, odd = odd_shop
    assert set(ODD_CHANNELS) <= set(odd["customers"]["acquisition_channel"].to_list())
    assert {w for ws in ORDER_SPELLINGS.values() for w in ws} <= set(odd["orders"]["status"].to_list())
    assert {*ZENDESK_WAITING, "solved", "closed"} <= set(odd["support_tickets"]["status"].to_list())


def test_odd_values_publish(odd_run):
    assert_published(odd_run)


def test_nobody_is_quarantined_for_odd_values(odd_run, odd_shop):
    _, odd = odd_shop
    quarantined = odd_run.query(
        odd_run.build_db, "SELECT entity, reason, count(*) FROM raw.quarantine GROUP BY ALL ORDER BY ALL"
    )
    assert quarantined == [], f"raw.quarantine (entity, reason, rows): {quarantined}, expected no row"
    for entity in ENTITIES:
        loaded = odd_run.query(odd_run.build_db, f"SELECT count(*) FROM raw.{entity}")[0][0]
        assert loaded == odd[entity].height, f"raw.{entity}: {loaded} rows loaded, expected all {odd[entity].height}"


@pytest.mark.parametrize("entity", ["orders", "support_tickets"])
def test_status_spellings_load_as_the_contract_status(odd_run, odd_shop, entity):
    _, odd = odd_shop
    got = dict(odd_run.query(odd_run.build_db, f"SELECT status, count(*) FROM raw.{entity} GROUP BY status"))
    meant = odd[entity].select(pl.col("status").replace(MEANS))
    want = dict(meant.group_by("status").len().iter_rows())
    assert got == want, f"raw.{entity} status counts {got}, expected {want} (exported spellings read as the contract's)"


def test_other_acquisition_channels_are_counted_in_a_warn(odd_run, odd_shop):
    _, odd = odd_shop
    n_other = odd["customers"].filter(pl.col("acquisition_channel").is_in(ODD_CHANNELS)).height
    loaded = odd_run.query(
        odd_run.build_db,
        "SELECT count(*) FILTER (WHERE acquisition_channel = 'other'), "
        "count(DISTINCT acquisition_channel_original) FROM raw.customers",
    )[0]
    assert loaded == (n_other, len(ODD_CHANNELS)), (
        f"raw.customers: {loaded[0]} acquisition channels 'other' from {loaded[1]} exported texts, "
        f"expected {n_other} from {len(ODD_CHANNELS)} ({', '.join(ODD_CHANNELS)})"
    )
    warns = odd_run.query(
        odd_run.build_db,
        "SELECT rule_id, unexpected_count, observed_value, unexpected_examples FROM audit.validation_results "
        "WHERE run_id = ? AND suite = 'raw_customers' AND severity = 'WARN' AND NOT success "
        "AND (column_name = 'acquisition_channel' OR rule_id LIKE '%acquisition_channel%')",
        [odd_run.result.run_id],
    )
    # The count may be the rule's observed value, its unexpected count or a field of its examples.
    counted = re.compile(rf"(?<![\d.]){n_other}(?![\d.])")
    assert any(counted.search(" ".join(map(str, r[1:]))) for r in warns), (
        f"audit.validation_results: failed WARN rules of raw_customers on acquisition_channel {warns}, "
        f"expected one counting the {n_other} 'other' values; failed rules this run: {odd_run.failed_rules()}"
    )
    assert odd_run.result.success, f"the WARN must not stop the run; step failures: {odd_run.step_failures()}"
