"""The source of each source kind, built from the `shop_source` resource.

Only the extraction builds a source (its asset, and orchestration for the
schedule's time zone); what the other areas need from it, the resolved
currency and time zone, the extraction records in the build file
(assets/shop_profile.py). The kinds themselves are registered in
assets/source_kinds.py; tests/unit/test_source_kinds.py fails when a kind
has no constructor in `SOURCE_BUILDERS` or the reverse.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

from assets.resources import ShopSourceResource
from assets.source_kinds import SOURCE_KINDS, kind_list

from .dialect import landing_options
from .postgres import URL_ENV, postgres_source
from .sample_shop import SampleShopConfig
from .shopify import ShopifyExportSource
from .sources import LandingSource, SampleShopSource, Source


def _sample_shop(r: ShopSourceResource) -> Source:
    return SampleShopSource(
        SampleShopConfig(orders=r.sample_orders, seed=r.sample_seed, end_date=date.fromisoformat(r.sample_end_date))
    )


def _needs_landing_dir(r: ShopSourceResource) -> Path:
    if not r.landing_dir:
        raise ValueError(
            f"the {r.kind} source needs landing_dir (RETENTION_LANDING_DIR, {SOURCE_KINDS[r.kind].landing_dir})")
    return Path(r.landing_dir)


def _landing(r: ShopSourceResource) -> Source:
    # CSV dialect and per-entity options: the `landing` section of retention.yml.
    return LandingSource(_needs_landing_dir(r), options=landing_options(r.user_config()))


def _shopify_csv(r: ShopSourceResource) -> Source:
    return ShopifyExportSource.from_folder(_needs_landing_dir(r), Path(r.data_dir) if r.data_dir else None)


def _postgres(r: ShopSourceResource) -> Source:
    # Read from the environment here, not held in resource config: Dagster shows config in its UI.
    return postgres_source(os.environ.get(URL_ENV), r.user_config())


# Kind (assets/source_kinds.py) -> the constructor of its source.
SOURCE_BUILDERS: dict[str, Callable[[ShopSourceResource], Source]] = {
    "sample_shop": _sample_shop,
    "landing": _landing,
    "shopify_csv": _shopify_csv,
    "postgres": _postgres,
}


def build_source(shop_source: ShopSourceResource) -> Source:
    """The configured kind's source, with the currency and time zone the settings set, if any."""
    build = SOURCE_BUILDERS.get(shop_source.kind)
    if build is None:
        raise ValueError(f"unknown source kind {shop_source.kind!r}: use {kind_list()}")
    src = build(shop_source)
    if shop_source.currency:
        src.currency = shop_source.currency.upper()
    if shop_source.timezone:
        src.timezone = shop_source.timezone
    return src

