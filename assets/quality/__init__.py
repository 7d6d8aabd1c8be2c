"""Quality gates: Great Expectations suites run as blocking Dagster asset checks.

- `config.py`  every threshold and severity
- `suites.py`  the suites as code (one per raw entity, one per required mart)
- `engine.py`  DuckDB aggregates + chunked GX validation, merging, Data Docs
- `audit.py`   `audit.validation_results` / `audit.suite_runs`
- `checks.py`  the Dagster asset checks

Importing this package does not import Great Expectations (docs/quality.md).
"""

from .checks import mart_quality_checks, quality_checks, quality_checks_for, raw_quality_checks, run_check

__all__ = ["quality_checks", "quality_checks_for", "raw_quality_checks", "mart_quality_checks", "run_check"]
