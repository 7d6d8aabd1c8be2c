"""The marks of every test that starts Spark: slow, `spark`, and skipped without PySpark or a Java runtime."""

import importlib.util
import os
import shutil

import pytest



def installed(module: str) -> bool:
    """Whether `module` can be imported (find_spec imports a dotted name's parents, which may fail)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


# `make test` installs the spark extra (`make setup-spark`); `make run` on DuckDB does not.
SPARK_EXTRA_MISSING = not (installed("pyspark") and installed("dbt.adapters.spark"))

NEEDS_SPARK = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.skipif(
        SPARK_EXTRA_MISSING,
        reason="the spark extra (PySpark, dbt-spark) is not installed: `make setup-spark` installs it",
    ),
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
        reason="Spark needs a Java runtime: no `java` on PATH and JAVA_HOME is not set",
    ),
]
