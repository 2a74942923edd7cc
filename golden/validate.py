"""Parameter checks that fail with one clear line.

Every public constructor and backend call in :mod:`insitu.golden` validates its
inputs through these helpers, so a bad value raises :class:`ValueError` naming
the parameter and its allowed range instead of a traceback from inside numpy.
"""

from __future__ import annotations

import math

import numpy as np


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as int if it is an integer within ``[lo, hi]``."""
    rng = _range_text(lo, hi)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer {rng}, got {value}")
    return value


def check_float(
    name: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as float if it is finite and within the given bounds."""
    lb = "(" if lo_open else "["
    ub = ")" if hi_open else "]"
    rng = f"in {lb}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{ub}"
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number {rng}, got {value!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be a finite number {rng}, got {value!r}")
    if lo is not None and (f < lo or (lo_open and f == lo)):
        raise ValueError(f"{name} must be {rng}, got {f}")
    if hi is not None and (f > hi or (hi_open and f == hi)):
        raise ValueError(f"{name} must be {rng}, got {f}")
    return f


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_codes(name: str, codes, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    """Validate an integer code array: exact shape, integral values within [lo, hi]."""
    arr = np.asarray(codes)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer codes in [{lo}, {hi}]")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(
            f"{name} must hold codes in [{lo}, {hi}], got values in [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64, copy=False)


def check_finite_array(name: str, values, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"in [{lo}, {hi}]"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return ""
