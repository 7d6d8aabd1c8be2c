"""`python -m orchestration.docs` (`make docs`): the dbt docs page of the data folder RETENTION_DATA_DIR names.

Built from that folder's build warehouse with its shop's dbt vars (time zone,
windows), into `<data dir>/dbt_docs/index.html` (assets/serving/dbt_docs.py).
"""

from __future__ import annotations

import sys

import duckdb

from assets.dbt_runs import dbt_executable, dbt_runs_dir, latest_partial_parse
from assets.extraction.builders import build_source
from assets.run_state import DbtBuildConfig, dbt_vars
from assets.resources import resources_from_settings
from assets.serving.dbt_docs import DocsError, build_dbt_docs
from assets.settings import Settings, SettingsError
from assets.shop_profile import recorded_shop_profile


def _shop_timezone(shop, build_db) -> str:
    """The settings' time zone, else the one the last extraction recorded, else the source's own."""
    if shop.timezone:
        return shop.timezone
    if build_db.exists():
        with duckdb.connect(str(build_db), read_only=True) as con:
            recorded = recorded_shop_profile(con)
        if recorded is not None:
            return recorded.timezone
    return build_source(shop).timezone


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"SettingsError: {exc}", file=sys.stderr)
        return 2
    shop = resources_from_settings(settings)["shop_source"]
    vars_ = dbt_vars(shop, _shop_timezone(shop, settings.layout.build_db), DbtBuildConfig())
    try:
        page = build_dbt_docs(
            settings.layout.build_db, settings.layout.dbt_docs_dir, vars_, dbt=dbt_executable(),
            memory_limit=settings.duckdb_memory_limit,
            partial_parse=latest_partial_parse(dbt_runs_dir(settings.data_dir)),
        )
    except DocsError as exc:
        print(f"DocsError: {exc}", file=sys.stderr)
        return 1
    print(f"dbt docs: {page}  (open {page.as_uri()}; shop time zone {vars_['shop_timezone']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
