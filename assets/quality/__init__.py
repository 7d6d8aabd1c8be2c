"""Quality gates: Great Expectations suites run as blocking Dagster asset checks.

- `config.py`  every threshold and severity
- `suites.py`  the suites as code (one per raw entity, one per required mart)
- `manifest.py` the marts' columns, types and dbt tests (dbt manifest)
- `rowsql.py`  row rules as one DuckDB aggregate with GX's counts
- `engine.py`  DuckDB aggregates judged by GX, rows in scope, Data Docs
- `offline_docs.py` Data Docs without CDN assets, the static index
- `audit.py`   `audit.validation_results` / `audit.suite_runs`
- `checks.py`  the Dagster asset checks

Importing this package does not import Great Expectations (docs/quality.md).
"""

from .checks import mart_quality_checks, quality_checks, quality_checks_for, raw_quality_checks, run_check

__all__ = ["quality_checks", "quality_checks_for", "raw_quality_checks", "mart_quality_checks", "run_check"]
