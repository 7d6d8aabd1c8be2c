"""The serving assets as the whole-pipeline tests run them."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

DBT_DOCS_KEY = dg.AssetKey("dbt_docs")


def serving_assets_without_docs(mart_keys: Sequence[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    """Every serving asset but the dbt docs page (a `dbt docs generate` per run, ~5 s).

    The page holds the project's docs, no shop data, and is built from the
    DuckDB build file whatever the engine: the whole-pipeline tests of
    tests/e2e/conftest.py build it, tests/integration/serving/test_dbt_docs.py
    opens it.
    """
    from assets.serving import build_serving_assets  # noqa: PLC0415 - as the tests import the assets: late

    return [a for a in build_serving_assets(mart_keys) if DBT_DOCS_KEY not in a.keys]
