"""Data Docs that read without network: GX's pages, minus the CDN assets they cannot load.

GX's Data Docs pull Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega
from CDNs. Offline, the blocking scripts stall the page and GX's index stays
blank: its table of validations is drawn by bootstrap-table from a JS array.
So each validation page GX renders goes through `offline_page`, and the
site's index is `write_index`'s static table:

- every `<script src="http...">`, `<link href="http...">` and
  `<img src="http...">` is removed, and remote images in the inline CSS are
  dropped (links to web pages stay);
- a small inline stylesheet keeps tables ruled and status icons visible;
- the index is a static HTML table (status, run time, run name, asset,
  suite, a link to each page); an index GX built (`context.build_data_docs()`
  on the GX project) gets its JS array turned into the same table.

The validation results themselves are static HTML in GX's pages already.
No module here imports Great Expectations.
"""

from __future__ import annotations

import ast
import html
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

OFFLINE_MARK = "<!-- data docs: offline -->"

_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']https?://[^>]*>\s*</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']https?://[^>]*>", re.I | re.S)
_REMOTE_IMG = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']https?://[^>]*>", re.I | re.S)
_REMOTE_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.I)
_INDEX_DATA = re.compile(r"^\s*data: (\[.*\]),\s*$", re.M)
_INDEX_TABLE = re.compile(r"<table\b[^>]*ge-index-page-validation-results-table[^>]*>\s*</table>", re.S)

OFFLINE_CSS = """<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1rem; color: #212529; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ced4da; padding: .2rem .5rem; text-align: left; vertical-align: top; }
.text-success { color: #198754; } .text-danger { color: #dc3545; } .text-warning { color: #b58100; }
.fa-check-circle::before, .fa-check::before { content: "\\2714"; }
.fa-times-circle::before, .fa-times::before, .fa-exclamation-triangle::before { content: "\\2718"; }
.navbar-brand a { background: none; }
</style>"""


def strip_remote_assets(page: str) -> str:
    page = _REMOTE_SCRIPT.sub("", page)
    page = _REMOTE_LINK.sub("", page)
    page = _REMOTE_IMG.sub("", page)
    return _REMOTE_CSS_URL.sub("none", page)


def index_rows(page: str) -> list[dict]:
    """The validations the GX index lists (its bootstrap-table data), newest first; [] if not found."""
    m = _INDEX_DATA.search(page)
    if not m:
        return []
    try:
        rows = ast.literal_eval(m.group(1))
    except (ValueError, SyntaxError):
        return []
    return sorted((r for r in rows if isinstance(r, dict)), key=lambda r: -float(r.get("_run_time_sort") or 0))


def static_index_table(rows: list[dict]) -> str:
    head = "<tr><th>Status</th><th>Run time</th><th>Run name</th><th>Asset</th><th>Suite</th></tr>"
    body = []
    for r in rows:
        ok = r.get("_validation_success_text", "")
        css = "text-success" if ok == "Success" else "text-danger"
        link = html.escape(str(r.get("_table_row_link_path", "")), quote=True)
        body.append(
            f'<tr><td class="{css}">{html.escape(ok)}</td>'
            f'<td><a href="{link}">{html.escape(str(r.get("run_time", "")))}</a></td>'
            f"<td>{html.escape(str(r.get('run_name', '')))}</td>"
            f"<td>{html.escape(str(r.get('_batch_identifier_sort') or r.get('asset_name', '')))}</td>"
            f"<td>{html.escape(str(r.get('_expectation_suite_name_sort', '')))}</td></tr>"
        )
    return f'<table class="ge-index-page-validation-results-table offline">{head}{"".join(body)}</table>'


def offline_page(page: str, is_index: bool = False) -> str:
    """`page` with no remote asset and the offline stylesheet; the index with a static table."""
    if OFFLINE_MARK in page:
        return page
    if is_index:
        rows = index_rows(page)
        if rows:
            page = _INDEX_TABLE.sub(lambda _: static_index_table(rows), page, count=1)
    page = strip_remote_assets(page)
    head_end = page.lower().find("</head>")
    extra = OFFLINE_MARK + OFFLINE_CSS
    return page[:head_end] + extra + page[head_end:] if head_end >= 0 else extra + page




# --- the site's index ---------------------------------------------------------------


@dataclass(frozen=True)
class IndexEntry:
    suite: str
    asset: str
    run_name: str
    run_time: str  # "YYYY-MM-DD HH:MM:SS UTC"
    success: bool
    path: str  # the page, relative to the site


INDEX_DATA = "validations.json"


def write_index(site_dir: Path, entry: IndexEntry, keep_runs: int) -> list[IndexEntry]:
    """Add `entry` to the site's list of pages, keep the newest `keep_runs` per suite, write index.html.

    The list (`validations.json`) is the index's only input: no stored result
    is read back. Pages of runs no longer kept are deleted.
    """
    data = site_dir / INDEX_DATA
    entries = [IndexEntry(**e) for e in json.loads(data.read_text())] if data.exists() else []
    entries = [e for e in entries if e.path != entry.path] + [entry]
    entries.sort(key=lambda e: (e.run_time, e.suite), reverse=True)
    kept, per_suite = [], {}
    for e in entries:
        per_suite[e.suite] = per_suite.get(e.suite, 0) + 1
        if keep_runs <= 0 or per_suite[e.suite] <= keep_runs:
            kept.append(e)
        else:
            (site_dir / e.path).unlink(missing_ok=True)
    site_dir.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps([asdict(e) for e in kept], indent=1))
    (site_dir / "index.html").write_text(index_page(kept), encoding="utf-8")
    return kept


def index_page(entries: list[IndexEntry]) -> str:
    rows = [{"_validation_success_text": "Success" if e.success else "Failed", "run_time": e.run_time,
             "run_name": e.run_name, "_batch_identifier_sort": e.asset, "_expectation_suite_name_sort": e.suite,
             "_table_row_link_path": e.path} for e in entries]
    failed = sum(1 for e in entries if not e.success)
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Data Docs: validations</title>"
        f"{OFFLINE_MARK}{OFFLINE_CSS}</head><body><h1>Validations</h1>"
        f"<p>{len(entries)} suite validations, newest first ({failed} failed). Each links to its Great "
        "Expectations page; the audit tables in the build warehouse hold the same results.</p>"
        f"{static_index_table(rows)}</body></html>"
    )
