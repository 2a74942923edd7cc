"""Comparisons with a constant in only the bits the constant needs.

On iCE40 a comparison ``value <= K`` of a 16-bit protocol field is a 16-cell carry chain
that holds no other logic; a zero test of the high bits (LUTs) and a compare of the low
``bits_for(K)`` bits give the same verdict for a fraction of the cells.
"""

from __future__ import annotations

from amaranth.hdl import Const
from amaranth.utils import bits_for


def at_most(value, limit: int):
    """Unsigned ``value <= limit`` (a constant), as a high-bits-zero test and a compare of
    only the bits ``limit`` needs (area: no ``len(value)``-bit carry chain on iCE40)."""
    nb = bits_for(limit)
    if len(value) <= nb:
        return value <= limit
    low_ok = Const(1, 1) if limit == (1 << nb) - 1 else value[:nb] <= limit
    return (value[nb:] == 0) & low_ok


def within(value, limit: int):
    """Signed ``-limit <= value <= limit`` (a constant ``limit >= 0``): the bits above the
    ones ``limit`` needs are a sign extension, and the low bits are compared (area)."""
    nb = bits_for(limit)
    if len(value) <= nb + 1:
        return (value <= limit) & (value >= -limit)
    low, high = value[:nb], value[nb:]
    pos_ok = (high == 0) & (Const(1, 1) if limit == (1 << nb) - 1 else low <= limit)
    neg_ok = high.all() & (low >= (1 << nb) - limit)
    return pos_ok | neg_ok
