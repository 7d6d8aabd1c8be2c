"""Serving: publish the build warehouse for analysts, Parquet exports for BI, the HTML report."""

from .assets import build_serving_assets, mart_asset_keys

__all__ = ["build_serving_assets", "mart_asset_keys"]
