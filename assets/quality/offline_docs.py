"""Data Docs that read without network: GX's pages, with the CDN assets they load shipped alongside.

GX's page templates load Bootstrap, jQuery, Popper, bootstrap-table (with
its filter-control extension), bootstrap-datepicker and Font Awesome from
CDNs (`render/view/templates/page.j2`, `js_script_imports.j2`); GX ships
none of them. Offline, the blocking scripts stall the page, the styles are
missing and the page's controls ("Show more info", the collapsible
sections) do nothing. Those files, at the versions GX names, are vendored
in `data_docs_static/` (from their npm packages, licences included) and
copied once into the site (`static/vendor/`); each page GX renders goes
through `offline_page`:

- every `<script>` / `<link>` of a vendored CDN file points at the local
  copy (relative to the page; `integrity` / `crossorigin` dropped, a
  `file://` page cannot satisfy CORS);
- every other `<script src="http...">`, `<link href="http...">` and
  `<img src="http...">` is removed (Vega, used only by profiling charts,
  and the optional dark theme), and remote images in the inline CSS are
  dropped (links to web pages stay);
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
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

OFFLINE_MARK = "<!-- data docs: offline -->"

VENDOR_SOURCE = Path(__file__).with_name("data_docs_static")
VENDOR_DIR = "static/vendor"  # under the site
_BT = "https://unpkg.com/bootstrap-table@"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs/"
# The CDN files GX 1.x's page templates load -> their vendored copies (under VENDOR_DIR)
VENDORED = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    _CDNJS + "popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    _BT + "1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    _BT + "1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    _BT + "1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    _BT + "1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    _BT + "1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    _CDNJS + "bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    _CDNJS + "bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    _CDNJS + "font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
}
_ASSET_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.I | re.S)
_CORS_ATTR = re.compile(r"\s+(?:integrity|crossorigin)\s*=\s*[\"'][^\"']*[\"']", re.I)

_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']https?://[^>]*>\s*</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']https?://[^>]*>", re.I | re.S)
_REMOTE_IMG = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']https?://[^>]*>", re.I | re.S)
_REMOTE_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.I)
_INDEX_DATA = re.compile(r"^\s*data: (\[.*\]),\s*$", re.M)
_INDEX_TABLE = re.compile(r"<table\b[^>]*ge-index-page-validation-results-table[^>]*>\s*</table>", re.S)

_BOOTSTRAP_CSS = "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"
# the static index's own look, over Bootstrap
OFFLINE_CSS = """<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1rem; color: #212529; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ced4da; padding: .2rem .5rem; text-align: left; vertical-align: top; }
.text-success { color: #198754; } .text-danger { color: #dc3545; } .text-warning { color: #b58100; }
</style>"""


def vendor_local(page: str, root: str = "") -> str:
    """`page` loading the vendored copies instead of the CDN files; `root` is the way up to the site ("../..")."""
    base = f"{root.rstrip('/') + '/' if root else ''}{VENDOR_DIR}/"

    def local(match: re.Match) -> str:
        tag = match.group(0)
        for url, copy in VENDORED.items():
            for quote in ('"', "'"):
                if f"{quote}{url}{quote}" in tag:
                    return _CORS_ATTR.sub("", tag.replace(url, base + copy))
        return tag

    return _ASSET_TAG.sub(local, page)


def install_vendor(site_dir: Path) -> Path:
    """The vendored files under `site_dir`/static/vendor, copied when missing or older than the shipped ones."""
    target = site_dir / VENDOR_DIR
    stamp = target / ".files"
    listing = "\n".join(sorted(f"{p.relative_to(VENDOR_SOURCE)} {p.stat().st_size}"
                               for p in VENDOR_SOURCE.rglob("*") if p.is_file()))
    if not (stamp.exists() and stamp.read_text() == listing):
        shutil.copytree(VENDOR_SOURCE, target, dirs_exist_ok=True)
        stamp.write_text(listing)
    return target


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


def offline_page(page: str, is_index: bool = False, root: str = "") -> str:
    """`page` with the vendored assets (`root`: from the page up to the site) and no remote one.

    The index (GX's, whose table bootstrap-table would draw) gets a static table.
    """
    if OFFLINE_MARK in page:
        return page
    if is_index:
        rows = index_rows(page)
        if rows:
            page = _INDEX_TABLE.sub(lambda _: static_index_table(rows), page, count=1)
    page = strip_remote_assets(vendor_local(page, root))
    head_end = page.lower().find("</head>")
    return page[:head_end] + OFFLINE_MARK + page[head_end:] if head_end >= 0 else OFFLINE_MARK + page




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
    install_vendor(site_dir)
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
        f'<link rel="stylesheet" href="{VENDOR_DIR}/{VENDORED[_BOOTSTRAP_CSS]}">'
        f"{OFFLINE_MARK}{OFFLINE_CSS}</head><body class=\"container-fluid pt-3\"><h1>Validations</h1>"
        f"<p>{len(entries)} suite validations, newest first ({failed} failed). Each links to its Great "
        "Expectations page; the audit tables in the build warehouse hold the same results.</p>"
        f"{static_index_table(rows)}</body></html>"
    )
