"""Data Docs read without network: no CDN asset left, the results and the index as static HTML."""

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest

from assets.quality.engine import docs_index
from assets.quality.offline_docs import index_rows, offline_page, static_index_table

from .test_suites import FAST, validate

REMOTE = re.compile(r"<(script|link|img)\b[^>]*\b(src|href)\s*=\s*[\"']https?://", re.I)


def test_offline_page_drops_remote_assets_and_keeps_the_content():
    page = ("<html><head><link rel='stylesheet' href='https://cdn.example/b.css'>"
            "<script src=\"https://cdn.example/jq.js\"></script><style>a { background: url('https://x/y.png') }</style>"
            "</head><body><img src='https://x/logo.png'><p>order_id values must never be null.</p>"
            "<a href='https://greatexpectations.io'>GX</a></body></html>")
    out = offline_page(page)
    assert not REMOTE.search(out)
    assert "url('https://" not in out
    assert "order_id values must never be null." in out and "https://greatexpectations.io" in out
    assert offline_page(out) == out  # once is enough


def test_index_rows_become_a_static_table():
    rows = [{"_validation_success_text": "Failed", "run_time": "2026-01-02 03:00:00 UTC", "_run_time_sort": 2.0,
             "run_name": "night-2", "_batch_identifier_sort": "raw.orders", "_expectation_suite_name_sort": "raw_orders",
             "_table_row_link_path": "validations/raw_orders/night-2/x/raw.orders.html"},
            {"_validation_success_text": "Success", "run_time": "2026-01-01 03:00:00 UTC", "_run_time_sort": 1.0,
             "run_name": "night-1", "_batch_identifier_sort": "raw.orders", "_expectation_suite_name_sort": "raw_orders",
             "_table_row_link_path": "validations/raw_orders/night-1/x/raw.orders.html"}]
    page = ("<html><head></head><body><table id='t' class=\"table-sm ge-index-page-validation-results-table\" "
            "data-toggle=\"table\">\n</table><script>\n  $('#t').bootstrapTable(\n      {\n        data: "
            f"{list(reversed(rows))!r},\n        toolbar: '#x'\n      }});</script></body></html>")
    assert [r["run_name"] for r in index_rows(page)] == ["night-2", "night-1"]
    out = offline_page(page, is_index=True)
    assert static_index_table(rows) in out
    assert out.index("night-2") < out.index("night-1")
    assert 'href="validations/raw_orders/night-2/x/raw.orders.html"' in out


def test_data_docs_of_a_failed_suite_render_without_network(scratch, frame, tmp_path):
    orders = frame("raw.orders")
    orders.loc[7, "status"] = "shipped"
    run = validate(scratch({"raw.orders": orders}), "raw_orders", replace(FAST, build_data_docs=True),
                   docs_root=tmp_path / "quality")
    assert not run.passed and run.data_docs.startswith("file://")
    page = Path(unquote(urlsplit(run.data_docs).path)).read_text()
    index = docs_index(tmp_path / "quality").read_text()
    for html in (page, index):
        assert not REMOTE.search(html)
    assert "shipped" in page and "status" in page  # the failed expectation and its unexpected value
    link = re.search(r'<a href="(validations/raw_orders/[^"]+)"', index).group(1)
    assert (tmp_path / "quality" / "data_docs" / link).exists()
    # every script and stylesheet the pages load is there, beside them
    page_path = Path(unquote(urlsplit(run.data_docs).path))
    for html, where in ((page, page_path.parent), (index, docs_index(tmp_path / "quality").parent)):
        local = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"#]+\.(?:js|css))"', html)
        assert local and all((where / ref).resolve().is_file() for ref in local), local
    assert "bootstrap.min.js" in page and "bootstrap-table.min.js" in page and "integrity=" not in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _dom_after(page: Path, script: str) -> str:
    """The page's DOM once its scripts, and then `script`, have run in headless Chromium from file://."""
    driven = page.with_name("driven_" + page.name)
    driven.write_text(page.read_text().replace("</body>", f"<script>$(function() {{ {script} }});</script></body>"))
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=4000",
                          "--dump-dom", driven.as_uri()], capture_output=True, text=True, timeout=120)
    return out.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium to drive the page")
def test_data_docs_controls_work_from_file_in_headless_chromium(scratch, frame, tmp_path):
    orders = frame("raw.orders")
    orders.loc[7, "status"] = "shipped"
    run = validate(scratch({"raw.orders": orders}), "raw_orders", replace(FAST, build_data_docs=True),
                   docs_root=tmp_path / "quality")
    page = Path(unquote(urlsplit(run.data_docs).path))
    # jQuery, Bootstrap and bootstrap-table ran: the result tables are drawn by bootstrap-table
    dom = _dom_after(page, "document.body.setAttribute('data-jquery', $.fn.jquery);")
    assert 'data-jquery="3.7.1"' in dom and 'class="bootstrap-table' in dom
    # "Failed Only" hides the passed expectations and keeps the failed one
    dom = _dom_after(page, "$.fx.off = true; hideSucceededValidations();"  # no fade: the result at once
                           " var b = $(document.body), rows = $('.hide-succeeded-validation-target-child').parent();"
                           " b.attr('data-passed', rows.length); b.attr('data-hidden', rows.filter(':hidden').length);"
                           " b.attr('data-failed-shown', $('body *:not(script):contains(\"shipped\")').last()"
                           ".is(':visible'));")
    passed, hidden = (int(re.search(rf'data-{k}="(\d+)"', dom).group(1)) for k in ("passed", "hidden"))
    assert passed > 0 and hidden == passed and 'data-failed-shown="true"' in dom
    # "Show more info..." opens its collapsed block (closed before the click)
    assert not re.search(r'class="[^"]*\bcollapse show\b', _dom_after(page, ""))
    dom = _dom_after(page, "$('a[data-toggle=collapse]').first().click();")
    target = re.search(r'<a data-toggle="collapse" href="#([^"]+)"', dom).group(1)
    assert re.search(rf'id="{target}" class="[^"]*\bcollapse show\b', dom)


def test_index_keeps_the_newest_runs_per_suite_and_deletes_older_pages(tmp_path):
    from assets.quality.offline_docs import IndexEntry, write_index

    def entry(suite, night, success=True):
        path = f"validations/{suite}/night-{night}/p.html"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("page")
        return IndexEntry(suite, f"raw.{suite}", f"night-{night}", f"2026-01-0{night} 03:00:00 UTC", success, path)

    for night in (1, 2, 3):
        kept = write_index(tmp_path, entry("orders", night, success=night != 2), keep_runs=2)
    kept = write_index(tmp_path, entry("carts", 1), keep_runs=2)
    assert [(e.suite, e.run_name) for e in kept] == [("orders", "night-3"), ("orders", "night-2"), ("carts", "night-1")]
    assert not (tmp_path / "validations/orders/night-1/p.html").exists()
    index = (tmp_path / "index.html").read_text()
    assert not REMOTE.search(index)
    assert index.count("<tr>") == 4 and "Failed" in index and "night-1/p.html" not in index.replace("carts/night-1", "")


def test_data_docs_render_the_projects_expectations_when_they_fail(scratch, frame, tmp_path):
    from .test_shop_rules import _busy_run, _days, _quarantine
    from .test_suites import validated_through

    orders = frame("raw.orders")
    day = _busy_run(orders)[0]
    con = scratch({"raw.orders": orders[_days(orders) != day]})
    validated_through(con, "raw_orders", day - pd.Timedelta(days=1))
    _quarantine(con, "orders", int(len(orders) * 0.2))
    run = validate(con, "raw_orders", replace(FAST, build_data_docs=True), docs_root=tmp_path / "quality",
                   write_audit=False)
    assert {r.rule_id for r in run.failed()} == {"no_empty_day", "quarantine_rate", "quarantine_rate_warn"}
    assert run.data_docs and run.data_docs.startswith("file://"), "Data Docs not built"
    page = Path(unquote(urlsplit(run.data_docs).path)).read_text()
    assert not REMOTE.search(page)
    # each with its rule's description (thresholds included) and what it observed: the day, the rate
    for text in ("(a lost export)", "at most 10% of the rows read were quarantined", str(day.date()),
                 "missing_required:created_at"):
        assert text in page, text
