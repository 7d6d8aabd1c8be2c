"""Quality gates: Great Expectations suites run as blocking Dagster asset checks.

- `config.py`  every threshold and severity
- `suites.py`  the suites as code (one per raw entity, one per required mart)
- `manifest.py` the marts' columns, types and dbt tests (dbt manifest)
- `gx_suite.py` a suite as GX validates it: query asset, ExpectationSuite, ValidationDefinition, Checkpoint
- `gx_expectations.py` the project's own GX expectations
- `engine.py`  running a suite: rows in scope, GX's results, audit, Data Docs
- `offline_docs.py` Data Docs without CDN assets, the static index
- `audit.py`   `audit.validation_results` / `audit.suite_runs`
- `checks.py`  the Dagster asset checks

Importing this package does not import Great Expectations (docs/quality.md).
"""

from .checks import mart_quality_checks, quality_checks, quality_checks_for, raw_quality_checks, run_check

__all__ = ["quality_checks", "quality_checks_for", "raw_quality_checks", "mart_quality_checks", "run_check"]
