"""Who answers for the pipeline's assets (Dagster's `owners`, shown in the UI and asset catalog).

One owner for every asset: the Definitions give it to any asset that names
none (orchestration/definitions.py), so a new asset needs nothing here.
"""

from __future__ import annotations

DATA_TEAM = "team:data"
