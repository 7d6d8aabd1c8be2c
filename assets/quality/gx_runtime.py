"""Great Expectations, imported lazily and quietly; the process's in-memory context.

GX is imported here, on first use (`_gx()`), never at module import:
`orchestration.definitions` must not pay for it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import great_expectations as gx  # noqa: PLC0415 - kept off the Definitions import path

    for name in ("great_expectations", "great_expectations.core", "great_expectations.expectations"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return gx


def _quiet(ctx) -> None:
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


_CONTEXTS: dict[str, Any] = {}


def validation_context():
    """The in-memory context that evaluates batches (one per process, reused)."""
    if "ephemeral" not in _CONTEXTS:
        ctx = _gx().get_context(mode="ephemeral")
        _quiet(ctx)
        _CONTEXTS["ephemeral"] = ctx
    return _CONTEXTS["ephemeral"]


