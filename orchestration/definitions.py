"""The one Definitions object: `dagster dev` (workspace.yaml) and `dagster -m` load it."""

from __future__ import annotations

import dagster as dg

from assets.extraction.assets import extract_shop

from .resources import resources_from_settings
from .settings import Settings

settings = Settings.from_env()

defs = dg.Definitions(
    assets=[extract_shop],
    resources=resources_from_settings(settings),
)
