"""Data Docs: each suite's GX validation result stored in a file-backed GX project, its page built by GX's site builder.

The page goes through `offline_docs.offline_page` (vendored assets, no
remote one) and is listed in the site's static index (`write_index`).
"""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .config import QualityConfig
from .gx_runtime import _CONTEXTS, _gx, _quiet
from .offline_docs import IndexEntry, offline_page, write_index
from .results import SuiteRun
from .rules import Suite

DATA_DOCS_SITE = "local_site"


def docs_context(docs_root: Path):
    """A file-backed context under `docs_root`: suites, validation results, the Data Docs site.

    It holds no data source (the Checkpoints run in `validation_context()`),
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


def store_and_build_docs(ctx, suite: Suite, result, result_id, run: SuiteRun, config: QualityConfig) -> str | None:
    """Store GX's validation result in the GX project and have GX's site builder render its page.

    `result` / `result_id`: the suite validation result and its identifier as
    the layer's Checkpoint returned them. The page then goes offline
    (`offline_page`) and into the static index (`write_index`): GX's own
    index would read every stored result on every suite run.
    """
    from copy import copy  # noqa: PLC0415

    import great_expectations as gx  # noqa: PLC0415
    from great_expectations.data_context.types.resource_identifiers import (  # noqa: PLC0415
        ExpectationSuiteIdentifier,
    )

    gsuite = gx.ExpectationSuite(name=suite.name, expectations=[copy(e.expectation_config.to_domain_obj())
                                                                for e in result.results],
                                 meta={"notes": suite.description, "table": suite.table})
    _store_suite(ctx, gsuite)
    store = ctx.validation_results_store
    store.store_validation_results(
        suite_validation_result=result,
        suite_validation_result_identifier=result_id,
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
    )
    _prune(store, suite.name, config.data_docs_keep_runs)
    ctx.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=[result_id], build_index=False)
    site_dir = (Path(ctx.root_directory).parent / "data_docs").resolve()
    (url,) = [s["site_url"] for s in ctx.get_docs_sites_urls(resource_identifier=result_id, site_name=DATA_DOCS_SITE)]
    page = Path(unquote(urlsplit(url).path))
    rel = page.relative_to(site_dir)
    if not page.exists():
        raise FileNotFoundError(f"GX's site builder wrote no page for {suite.name} at {page}")
    page.write_text(offline_page(page.read_text(encoding="utf-8"), root="/".join([".."] * (len(rel.parts) - 1))),
                    encoding="utf-8")
    run_time = run.validated_at.replace(tzinfo=timezone.utc)
    entry = IndexEntry(suite=suite.name, asset=suite.table, run_name=run.run_id,
                      run_time=run_time.strftime("%Y-%m-%d %H:%M:%S UTC"), success=run.passed, path=rel.as_posix())
    write_index(site_dir, entry, config.data_docs_keep_runs)
    return page.resolve().as_uri()


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
