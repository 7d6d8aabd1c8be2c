"""The marks of every test that starts Spark: slow, `spark`, and skipped without a Java runtime."""

import os
import shutil

import pytest

NEEDS_SPARK = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
        reason="Spark needs a Java runtime: no `java` on PATH and JAVA_HOME is not set",
    ),
]
