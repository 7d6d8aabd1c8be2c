"""Input checks and the distinct-row collapse shared by the model fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from models.errors import InvalidInputError, PredictionError

# Rounding noise allowed between t_x and T (e.g. weeks rounded to 2 decimals).
_T_TOLERANCE = 1e-9


def as_float_array(name: str, values: Any) -> np.ndarray:
    """Convert to a 1-D float array and refuse NaN/inf (nulls become NaN).

    Validating here, once, is what lets the math below assume finite input
    and lets predictions promise "finite or raise".
    """
    try:
        arr = np.asarray(values.to_numpy() if isinstance(values, pl.Series) else values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be numeric: {exc}") from exc
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} contains NaN, null or infinite values")
    return arr


def check_non_negative(name: str, arr: np.ndarray) -> None:
    if np.any(arr < 0):
        raise InvalidInputError(f"{name} contains negative values (min {arr.min()!r})")


def check_integer_valued(name: str, arr: np.ndarray) -> None:
    if np.any(arr != np.round(arr)):
        raise InvalidInputError(f"{name} must be whole numbers (counts of purchase days)")


def broadcast_same_length(**arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Broadcast scalars against arrays; refuse mismatched lengths clearly."""
    try:
        out = np.broadcast_arrays(*arrays.values())
    except ValueError as exc:
        lengths = {k: v.shape[0] for k, v in arrays.items()}
        raise InvalidInputError(f"inputs have different lengths: {lengths}") from exc
    return tuple(np.array(a, dtype=float) for a in out)


def validate_rfm(x: Any, t_x: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate BG/NBD summary inputs: finite, non-negative, whole x, t_x <= T,
    and t_x == 0 whenever x == 0 (a one-time buyer has no repeat to date)."""
    xa = as_float_array("frequency", x)
    ta = as_float_array("recency", t_x)
    Ta = as_float_array("T", T)
    xa, ta, Ta = broadcast_same_length(frequency=xa, recency=ta, T=Ta)
    for name, arr in (("frequency", xa), ("recency", ta), ("T", Ta)):
        check_non_negative(name, arr)
    check_integer_valued("frequency", xa)
    if np.any(ta > Ta + _T_TOLERANCE):
        raise InvalidInputError("recency (t_x) must not exceed T for any customer")
    if np.any((xa == 0) & (ta != 0)):
        raise InvalidInputError("recency must be 0 for customers with frequency 0")
    return xa, ta, Ta


def validate_weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = as_float_array("weights", weights)
    if w.shape[0] != n:
        raise InvalidInputError(f"weights has length {w.shape[0]}, expected {n}")
    if np.any(w <= 0):
        raise InvalidInputError("weights must be strictly positive")
    return w


def collapse_distinct(columns: dict[str, np.ndarray], weights: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Collapse identical rows into one row carrying the summed weight.

    The likelihood is a sum over customers, so identical (x, t_x, T) rows
    contribute identical terms: summing their weights is exact and turns a
    1M-row fit into a fit over a few thousand rows.  Polars' hash group-by is
    used because it is multi-threaded and much faster than ``np.unique(axis=0)``.
    """
    frame = pl.DataFrame({**columns, "__w": weights})
    grouped = frame.group_by(list(columns), maintain_order=False).agg(pl.col("__w").sum())
    # Sort for a deterministic summation order -> bit-reproducible fits.
    grouped = grouped.sort(list(columns))
    return {k: grouped[k].to_numpy() for k in columns}, grouped["__w"].to_numpy()


def ensure_finite_output(name: str, values: np.ndarray) -> np.ndarray:
    """Last line of defence: never hand back a silent NaN/inf prediction."""
    if not np.all(np.isfinite(values)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise PredictionError(f"{name}: {bad} prediction(s) are not finite (numerical breakdown)")
    return values
