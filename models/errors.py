"""Typed errors of the predictive models.

All of them subclass ``ValueError`` so that callers that only know "bad data"
can still catch them, while the pipeline can tell *why* a fit was refused
(and surface it as Dagster metadata) instead of silently writing NaN scores.
"""

from __future__ import annotations


class ModelError(ValueError):
    """Base class of every error raised by :mod:`models`."""


class InvalidInputError(ModelError):
    """The input violates a precondition (empty, NaN, negative, t_x > T, ...)."""


class ModelFitError(ModelError):
    """The data cannot identify the model (e.g. no repeat customers, one
    distinct customer profile) or the maximum-likelihood fit diverged."""


class ConvergenceError(ModelFitError):
    """The optimiser stopped without converging; the message names the
    optimiser's own message so the cause is visible in run logs."""


class PredictionError(ModelError):
    """A prediction would not be a finite number (e.g. mean spend undefined
    because the Gamma-Gamma ``q <= 1``)."""
