"""Great Expectations, imported lazily and quietly; the process's in-memory context.

GX is imported here, on first use (`_gx()`), never at module import:
`orchestration.definitions` must not pay for it.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
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




@contextmanager
def configurations_built_once():
    """Within the block, each GX expectation builds its configuration once, not on every access.

    GX's `Expectation.configuration` is a property that rebuilds an
    `ExpectationConfiguration` from the model (a pydantic `dict()`, the type
    name, the row condition) each time it is read, and one validation reads it
    ~130 times per expectation (metric kwargs, domain and success keys): about
    a third of a raw suite's CPU (cProfile, raw_orders at 50k orders). An
    expectation does not change while it is validated (GX mutates deep copies
    of configurations, never the domain object), so the first build is kept
    for that instance until the block ends; GX's property is restored after.
    A GX whose `configuration` is no longer a property is left alone.
    """
    from great_expectations.expectations.expectation import Expectation  # noqa: PLC0415

    original = Expectation.__dict__.get("configuration")
    if not isinstance(original, property) or original.fget is None:
        yield
        return
    built: dict[int, tuple[Any, Any]] = {}

    def configuration(self):
        hit = built.get(id(self))
        if hit is None or hit[0] is not self:  # (an id reused by a new object is built again)
            hit = built[id(self)] = (self, original.fget(self))
        return hit[1]

    Expectation.configuration = property(configuration, doc=original.__doc__)
    try:
        yield
    finally:
        Expectation.configuration = original
        built.clear()
