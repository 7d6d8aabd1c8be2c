"""The dbt docs page opens from disk: one static file, built from the data folder's own build warehouse."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from assets.dbt import dbt_executable
from assets.serving.dbt_docs import DocsError, build_dbt_docs, docs_generate_args
from assets.serving.report import build_report

VARS = {"shop_timezone": "Europe/Amsterdam", "as_of_date": None, "active_window_days": 365, "churn_after_days": 180}


def test_docs_are_generated_static_with_the_shops_vars(tmp_path):
    args = docs_generate_args(VARS, tmp_path / "t")
    assert args[:3] == ["docs", "generate", "--static"]
    assert json.loads(args[args.index("--vars") + 1])["shop_timezone"] == "Europe/Amsterdam"
    assert args[args.index("--target-path") + 1] == str(tmp_path / "t")


def test_no_build_warehouse_is_one_line_naming_it(tmp_path):
    with pytest.raises(DocsError, match=r"nothing/build/warehouse.duckdb: no build warehouse yet") as exc:
        build_dbt_docs(tmp_path / "nothing" / "build" / "warehouse.duckdb", tmp_path / "docs", VARS)
    assert "\n" not in str(exc.value)


@pytest.fixture(scope="module")
def docs_page(tmp_path_factory):
    from tests.integration.serving.conftest import make_build_db

    root = tmp_path_factory.mktemp("docs")
    build_db = make_build_db(root / "data" / "build" / "warehouse.duckdb")
    page = build_dbt_docs(build_db, root / "data" / "dbt_docs", VARS, dbt=dbt_executable())
    # Alone in an empty folder: nothing beside it to fetch.
    alone = root / "alone" / "index.html"
    alone.parent.mkdir()
    shutil.copy(page, alone)
    return page, alone


@pytest.mark.slow
def test_the_page_carries_manifest_and_catalog_inline(docs_page):
    page, _ = docs_page
    assert sorted(p.name for p in page.parent.iterdir()) == ["index.html"], "dbt's target folder was left behind"
    html = page.read_text()
    # dbt's loader uses an inlined object when it holds the file, else it fetches it.
    assert re.search(r'\bmanifest:\s*\{"metadata"', html) and re.search(r'\bcatalog:\s*\{"metadata"', html)
    assert '"model.retention.mart_kpis"' in html
    # Compiled with the shop's time zone, not a fixed one.
    assert "timezone('Europe/Amsterdam'" in html


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium not installed")
def test_the_page_renders_from_file_in_headless_chromium(docs_page):
    _, alone = docs_page
    url = alone.as_uri() + "#!/model/model.retention.mart_kpis"
    out = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    # The model page's title is filled in by dbt's app only once the manifest has loaded.
    assert '<span class="break ng-binding">mart_kpis</span>' in out.stdout, out.stderr[-2000:]


def test_report_links_open_local_pages():
    links = {"Metric and column definitions (dbt docs)": "file:///data/dbt_docs/index.html"}
    html = build_report({}, as_of_date=None, links=links)
    assert '<a href="file:///data/dbt_docs/index.html">Metric and column definitions (dbt docs)</a>' in html


def _tiny_build(path, column_type: str = "integer", rows: int = 1):
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(f"create or replace table marts.m as select range::{column_type} as x from range({rows})")
    con.close()
    return path


def test_the_docs_fingerprint_follows_columns_and_vars_not_rows(tmp_path):
    from assets.serving.dbt_docs import docs_fingerprint

    db = _tiny_build(tmp_path / "b.duckdb")
    first = docs_fingerprint(db, {"shop_timezone": "UTC"})
    assert docs_fingerprint(_tiny_build(db, rows=50), {"shop_timezone": "UTC"}) == first  # rows are not on the page
    assert docs_fingerprint(db, {"shop_timezone": "Europe/London"}) != first
    assert docs_fingerprint(_tiny_build(db, column_type="bigint"), {"shop_timezone": "UTC"}) != first


def test_the_docs_fingerprint_ignores_schemas_dbt_does_not_document(tmp_path):
    """The quality checks' scratch tables change from run to run; the page does not show them."""
    import duckdb

    from assets.manifest import documented_schemas, load_manifest
    from assets.serving.dbt_docs import docs_fingerprint

    assert {"raw", "marts"} <= documented_schemas(load_manifest())
    db = _tiny_build(tmp_path / "b.duckdb")
    first = docs_fingerprint(db, {"shop_timezone": "UTC"})
    con = duckdb.connect(str(db))
    con.execute("create schema quality_cache")
    con.execute("create table quality_cache.raw_orders__batch as select 1 as order_id")
    con.close()
    assert docs_fingerprint(db, {"shop_timezone": "UTC"}) == first


def test_a_page_is_current_only_beside_its_own_fingerprint(tmp_path):
    from assets.serving.dbt_docs import DOCS_PAGE, FINGERPRINT_FILE, page_is_current

    assert not page_is_current(tmp_path, "abc")  # no page yet
    (tmp_path / DOCS_PAGE).write_text("<html></html>")
    assert not page_is_current(tmp_path, "abc")  # a page without a fingerprint (`make docs`) is rebuilt
    (tmp_path / FINGERPRINT_FILE).write_text("abc")
    assert page_is_current(tmp_path, "abc")
    assert not page_is_current(tmp_path, "abd")
