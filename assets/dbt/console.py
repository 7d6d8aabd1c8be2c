"""What the console shows of a dbt build: its failures, warnings and tally, not its progress lines.

dagster-dbt echoes every dbt line to stdout; dbt.log in the run folder has
them all. Each engine wraps stdout in its filter while dbt runs
(`Engine.console`).
"""

from __future__ import annotations

import re

# dbt's per-node progress lines ("12 of 191 START ...", "... PASS ...", "... OK ...")
# and its start-up chatter; failures, warnings and the final tally stay.
_DBT_NOISE = re.compile(
    r"^(?:\d+ of \d+ (?:START|PASS|OK|NO-OP)\b"
    r"|Running with dbt=|Registered adapter:|Unable to do partial parsing|Found \d+ models|Concurrency: "
    r"|\s*$)"
)

# What the JVM under dbt-spark prints besides dbt's own lines: log4j WARN/INFO
# lines (one "Using an existing Spark session" per model unless
# spark.log.level is raised), the start-up banner and PySpark's
# pandas-version warning. Spark's ERROR lines stay.
_SPARK_CHATTER = re.compile(
    r"^(?:\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (?:WARN|INFO) "
    r"|Setting default log level to|To adjust logging level use sc\.setLogLevel|Setting Spark log level to"
    r"|Using Spark's default log4j profile|WARNING: Using incubator modules"
    r"|.*FutureWarning: PySpark does not yet fully support pandas|\s*require_minimum_pandas_version\(\))"
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def is_dbt_progress_line(line: str) -> bool:
    """True for a dbt console line that only reports progress (pure, unit-tested)."""
    return bool(_DBT_NOISE.match(_ANSI.sub("", line)))


def is_spark_chatter_line(line: str) -> bool:
    """True for a console line of the Spark JVM that is not an error (pure, unit-tested)."""
    return bool(_SPARK_CHATTER.match(_ANSI.sub("", line)))


class DbtProgressFilter:
    """A text stream that passes whole lines on to `stream`, except dbt's progress lines."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._pending = ""

    def is_noise(self, line: str) -> bool:
        return is_dbt_progress_line(line)

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if not self.is_noise(line):
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending and not self.is_noise(self._pending):
            self.stream.write(self._pending)
        self._pending = ""
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


class SparkProgressFilter(DbtProgressFilter):
    """DbtProgressFilter that also drops the Spark JVM's warnings and banner."""

    def is_noise(self, line: str) -> bool:
        return is_dbt_progress_line(line) or is_spark_chatter_line(line)
