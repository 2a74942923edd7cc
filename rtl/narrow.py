"""Comparisons with a constant in only the bits the constant needs.

On iCE40 a comparison ``value <= K`` of a 16-bit protocol field is a 16-cell carry chain
that holds no other logic; a zero test of the high bits (LUTs) and a compare of the low
``bits_for(K)`` bits give the same verdict for a fraction of the cells. ``le_const`` goes
further and builds the verdict as LUT logic from the low bit up, with no carry chain at all
(the trainer's checks); ``at_most`` keeps a short chain for the low bits.
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


def le_const(x, c: int):
    """``x <= c`` for an unsigned value ``x`` and a constant ``c``, as LUT logic from the low
    bit up (a comparison cell would be a carry chain of ``len(x)`` logic cells)."""
    if c < 0:
        return Const(0, 1)
    if c >= (1 << len(x)) - 1:
        return Const(1, 1)
    below = Const(1, 1)  # x[:i] <= c[:i]
    for i in range(len(x)):
        below = (~x[i] | below) if c >> i & 1 else (~x[i] & below)
    return below


def in_const_range(x, lo: int, hi: int):
    """``lo <= x <= hi`` for an unsigned ``x`` and constants, without carry chains."""
    return ~le_const(x, lo - 1) & le_const(x, hi)


def positive(x):
    """``x > 0`` for a signed ``x``: sign clear, some bit set."""
    return ~x[-1] & (x != 0)
