"""Data Docs that read without network: GX's pages, minus the CDN assets they cannot load.

GX's Data Docs pull Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega
from CDNs. Offline, the blocking scripts stall the page and the index stays
blank: its table of validations is drawn by bootstrap-table from a JS array.
After each build, `make_offline` rewrites the pages GX wrote:

- every `<script src="http...">`, `<link href="http...">` and
  `<img src="http...">` is removed, and remote images in the inline CSS are
  dropped (links to web pages stay);
- a small inline stylesheet keeps tables ruled and status icons visible;
- on the index, the array of validations becomes a static HTML table (status,
  run time, run name, asset, suite, a link to each page).

The validation results themselves are static HTML in GX's pages already.
No module here imports Great Expectations.
"""

from __future__ import annotations

import ast
import html
import re
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


def make_offline(site_dir: Path, pages: list[Path]) -> None:
    """Rewrite `pages` (and the site's index) of the Data Docs site in `site_dir` for offline reading."""
    index = site_dir / "index.html"
    for path in dict.fromkeys([*pages, index]):
        if path.exists():
            text = path.read_text(encoding="utf-8")
            new = offline_page(text, is_index=path.resolve() == index.resolve())
            if new != text:
                path.write_text(new, encoding="utf-8")
