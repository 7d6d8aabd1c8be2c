"""The sample shop: a seeded generator of a web shop's operational data.

It draws two years of customer behaviour once (for a given seed and scale) and
then shows it *as the shop's systems would hold it on an as-of date*: records
created after the as-of date do not exist yet, and each record carries its
latest version up to that date (an order placed on Monday, fulfilled on
Wednesday and refunded two weeks later is `placed`, `fulfilled` or `refunded`
depending on when you look). That is what makes incremental extraction,
late updates and the nightly schedule testable on it.

Behaviour, chosen so that the marts tell a story:
- acquisition grows over the two years and peaks around November/December;
- each customer buys at their own rate and, after any purchase, may drop out
  for good (the BG/NBD story, so the predictive models have something true to
  find); many never buy a second time;
- desktop baskets are bigger than mobile ones (more lines per order);
- carts are abandoned more often on mobile; known customers (and guests who
  left an e-mail) get a recovery e-mail right away and another 24 h later,
  and some abandoned carts are recovered;
- a share of orders leads to a support ticket; slow or badly rated support
  thins the customer's later orders (they buy less afterwards);
- cancellations and refunds arrive days after the order, as updates;
- a small share of rows is exported twice (identical copies).

Everything is vectorised NumPy/Polars and generated in fixed-size blocks of
customers, each with its own seed, so memory stays bounded at any scale and
the same seed gives the same shop however it is consumed.

Layout: `common` (settings, vocabularies, calendar, randomness), one module
per entity (`customers`, `orders` with their lines, `carts`, `support`),
`block` (one block's draws in their fixed order, and its as-of view), and
this module, the way in: `iter_blocks` and `generate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import polars as pl

from ..contract import ENTITIES
from .block import _generate_block, _view
from .common import (
    DUPLICATE_EXPORT_SHARE,
    SAMPLE_CURRENCY,
    SAMPLE_TIMEZONE,
    SampleShopConfig,
    _us,
    _vocabulary,  # noqa: F401 (the contract-vocabulary check, tested through this import path)
)

__all__ = ["ENTITY_NAMES", "SAMPLE_CURRENCY", "SAMPLE_TIMEZONE", "SampleShopConfig", "generate", "iter_blocks"]

# Every entity of the contract, in its order. One the generator does not
# draw (yet) comes out as an empty frame with the contract's columns, so the
# sample shop simply does not track it.
ENTITY_NAMES = tuple(ENTITIES)
_POLARS_TYPES = {
    "string": pl.String, "enum": pl.String, "timestamp": pl.Datetime("us"),
    "money": pl.Float64, "integer": pl.Int32, "boolean": pl.Boolean,
}


def _not_generated(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema={c.name: _POLARS_TYPES[c.kind] for c in ENTITIES[name].columns})


def _duplicate_some(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Export a few rows twice, as real exports do (identical copies)."""
    if df.height == 0:
        return df
    dup = rng.random(df.height) < DUPLICATE_EXPORT_SHARE
    if not dup.any():
        return df
    return pl.concat([df, df.filter(pl.Series(dup))])


def iter_blocks(
    cfg: SampleShopConfig,
    as_of: datetime | None = None,
    since: datetime | None = None,
    entities: tuple[str, ...] = ENTITY_NAMES,
    duplicates: bool = True,
) -> Iterator[dict[str, pl.DataFrame]]:
    """Yield the shop's records block by block, as they stood at `as_of`.

    With `since`, only records whose `updated_at` is after it (the change
    feed an incremental extraction reads). Each yielded dict holds one frame
    per requested entity.
    """
    as_of = as_of or cfg.end_of_history
    as_of_us = min(_us(as_of), _us(cfg.end_of_history))
    since_us = _us(since) if since else None
    for b in range(cfg.blocks):
        view = _view(_generate_block(cfg, b), as_of_us, SAMPLE_CURRENCY)
        rng = np.random.default_rng([cfg.seed, b, 7])
        out = {}
        for name in ENTITY_NAMES:
            if name not in entities:
                continue
            df = view[name] if name in view else _not_generated(name)
            if since_us is not None:
                df = df.filter(pl.col("updated_at") > pl.from_epoch(pl.lit(since_us), time_unit="us"))
            out[name] = _duplicate_some(df, rng) if duplicates else df
        yield out


def generate(
    cfg: SampleShopConfig,
    as_of: datetime | None = None,
    since: datetime | None = None,
    entities: tuple[str, ...] = ENTITY_NAMES,
    duplicates: bool = True,
) -> dict[str, pl.DataFrame]:
    """The whole shop in memory (tests and small scales; use iter_blocks at scale)."""
    parts: dict[str, list[pl.DataFrame]] = {e: [] for e in entities}
    for block in iter_blocks(cfg, as_of, since, entities, duplicates):
        for name, df in block.items():
            parts[name].append(df)
    return {name: pl.concat(dfs) for name, dfs in parts.items()}
