"""Data Docs: each suite run stored in a file-backed GX project and rendered as a page by GX's renderer.

The page goes through `offline_docs.offline_page` (vendored assets, no
remote one) and is listed in the site's static index (`write_index`).
"""

from __future__ import annotations

import re
from datetime import timezone
from pathlib import Path

from .config import QualityConfig
from .gx_runtime import _CONTEXTS, _gx, _quiet
from .offline_docs import IndexEntry, offline_page, write_index
from .results import SuiteRun
from .rules import Suite

DATA_DOCS_SITE = "local_site"


def docs_context(docs_root: Path):
    """A file-backed context under `docs_root`: suites, validation results, the Data Docs site.

    It holds no data source (batches are validated in `validation_context()`),
    which keeps its YAML small and its start fast.
    """
    key = str(docs_root.resolve())
    if key not in _CONTEXTS or not (docs_root / "gx").exists():
        _CONTEXTS[key] = _open_docs_context(docs_root)
    return _CONTEXTS[key]


def _open_docs_context(docs_root: Path):
    gx = _gx()
    docs_root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(docs_root))
    site_dir = str((docs_root / "data_docs").resolve())
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": site_dir},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    sites = ctx.list_data_docs_sites()
    if sites.get(DATA_DOCS_SITE, {}).get("store_backend", {}).get("base_directory") != site_dir:
        for name in list(sites):
            if name != DATA_DOCS_SITE:
                continue
            ctx.update_data_docs_site(DATA_DOCS_SITE, site)
            break
        else:
            ctx.add_data_docs_site(DATA_DOCS_SITE, site)
    bars = ctx.variables.progress_bars
    on = bars is None or (bars.get("globally", True) if isinstance(bars, dict) else bars.globally)
    if on:
        _quiet(ctx)
        ctx.variables.save()
    return ctx


def store_and_build_docs(ctx, suite: Suite, evrs: list, expectations: list, run: SuiteRun,
                         config: QualityConfig) -> str | None:
    """Store the merged result as one GX validation result and render its Data Docs page."""
    import great_expectations as gx  # noqa: PLC0415
    from great_expectations.core import ExpectationSuiteValidationResult  # noqa: PLC0415
    from great_expectations.core.run_identifier import RunIdentifier  # noqa: PLC0415
    from great_expectations.data_context.types.resource_identifiers import (  # noqa: PLC0415
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    gsuite = gx.ExpectationSuite(name=suite.name, expectations=[e.copy() for e in expectations],
                                 meta={"notes": suite.description, "table": suite.table})
    _store_suite(ctx, gsuite)
    run_time = run.validated_at.replace(tzinfo=timezone.utc)
    run_identifier = RunIdentifier(run_name=run.run_id, run_time=run_time)
    n_ok = sum(1 for e in evrs if e.success)
    result = ExpectationSuiteValidationResult(
        success=run.passed,
        results=evrs,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(evrs),
            "successful_expectations": n_ok,
            "unsuccessful_expectations": len(evrs) - n_ok,
            "success_percent": 100.0 * n_ok / len(evrs) if evrs else 100.0,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": run_identifier,
            "validation_time": run_time,
            "active_batch_definition": {
                "datasource_name": "duckdb",
                "data_connector_name": "chunks",
                "data_asset_name": suite.table,
                "batch_identifiers": {"as_of": str(run.as_of), "chunks": run.chunks},
            },
            "batch_spec": {"data_asset_name": suite.table, "rows": run.row_count, "chunks": run.chunks,
                           "as_of": str(run.as_of)},
        },
    )
    vrid = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=run_identifier,
        batch_identifier=suite.table,
    )
    store = ctx.validation_results_store
    store.store_validation_results(
        suite_validation_result=result,
        suite_validation_result_identifier=vrid,
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
    )
    _prune(store, suite.name, config.data_docs_keep_runs)
    return render_page(Path(ctx.root_directory).parent / "data_docs", suite, result, run, config)


def _store_suite(ctx, gsuite) -> None:
    """Store the suite in the GX project when it differs from the stored one (a sidecar digest tells)."""
    import hashlib  # noqa: PLC0415
    import json  # noqa: PLC0415

    digest = hashlib.sha1(json.dumps(gsuite.to_json_dict(), sort_keys=True, default=str).encode()).hexdigest()
    marker = Path(ctx.root_directory) / "expectations" / f".{gsuite.name}.sha1"
    if marker.exists() and marker.read_text() == digest:
        return
    ctx.suites.add_or_update(gsuite)  # ~0.1-0.3 s: GX compares every expectation with the stored ones
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest)


def render_page(site_dir: Path, suite: Suite, result, run: SuiteRun, config: QualityConfig) -> str:
    """This validation's Data Docs page, rendered by GX's own renderer and view, and the site's index.

    GX's SiteBuilder would also rebuild its index from every stored result (a
    read of each, on every suite run) and copy its static assets; the page is
    the same, and the index is `offline_docs.write_index`'s static table.
    """
    from great_expectations.render.renderer import ValidationResultsPageRenderer  # noqa: PLC0415
    from great_expectations.render.view import DefaultJinjaPageView  # noqa: PLC0415

    run_time = run.validated_at.replace(tzinfo=timezone.utc)
    rel = (Path("validations") / suite.name / re.sub(r"[^A-Za-z0-9_.-]", "_", run.run_id)
           / run_time.strftime("%Y%m%dT%H%M%S.%fZ") / f"{suite.table}.html")
    page = site_dir / rel
    page.parent.mkdir(parents=True, exist_ok=True)
    html = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))
    page.write_text(offline_page(html, root="/".join([".."] * (len(rel.parts) - 1))), encoding="utf-8")
    entry = IndexEntry(suite=suite.name, asset=suite.table, run_name=run.run_id,
                      run_time=run_time.strftime("%Y-%m-%d %H:%M:%S UTC"), success=run.passed, path=rel.as_posix())
    write_index(site_dir, entry, config.data_docs_keep_runs)
    return page.resolve().as_uri()


def _prune(store, suite_name: str, keep: int) -> None:
    keys = [k for k in store.list_keys()
            if k.expectation_suite_identifier.name == suite_name]
    keys.sort(key=lambda k: str(k.run_id.run_time))
    for k in keys[:-keep] if keep > 0 else []:
        try:
            store.remove_key(k)
        except Exception:  # noqa: BLE001 - pruning is best effort
            pass


def docs_index(docs_root: Path) -> Path:
    return docs_root / "data_docs" / "index.html"
