"""``rtl/narrow.py``'s comparisons with a constant give the verdict of the plain comparison
for every value of a small field and every limit that fits it (exhaustive)."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator
from insitu.rtl.narrow import at_most, in_const_range, le_const, positive, within

WIDTH = 6


def verdicts(make, shape, values):
    """The 1-bit result of ``make(value)`` for each of ``values``, simulated."""
    value, out = Signal(shape), Signal()
    m = Module()
    m.d.comb += out.eq(make(value))
    seen = []

    async def bench(ctx):
        for v in values:
            ctx.set(value, v)
            seen.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 7, 8, 13, 31, 32, 40, 63])
def test_at_most_is_unsigned_at_most(limit):
    values = range(1 << WIDTH)
    got = verdicts(lambda v: at_most(v, limit), WIDTH, values)
    assert got == [int(v <= limit) for v in values]


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 5, 7, 8, 15, 16, 31])
def test_within_is_signed_range(limit):
    values = range(-(1 << (WIDTH - 1)), 1 << (WIDTH - 1))
    got = verdicts(lambda v: within(v, limit), signed(WIDTH), values)
    assert got == [int(-limit <= v <= limit) for v in values]


@pytest.mark.parametrize("limit", [-1, 0, 1, 2, 5, 7, 8, 13, 31, 32, 40, 62, 63, 64])
def test_le_const_is_unsigned_at_most(limit):
    values = range(1 << WIDTH)
    got = verdicts(lambda v: le_const(v, limit), WIDTH, values)
    assert got == [int(v <= limit) for v in values]


@pytest.mark.parametrize("lo, hi", [(0, 0), (2, 4), (1, 63), (5, 40), (8, 7), (32, 63)])
def test_in_const_range(lo, hi):
    values = range(1 << WIDTH)
    got = verdicts(lambda v: in_const_range(v, lo, hi), WIDTH, values)
    assert got == [int(lo <= v <= hi) for v in values]


def test_positive():
    values = range(-(1 << (WIDTH - 1)), 1 << (WIDTH - 1))
    assert verdicts(positive, signed(WIDTH), values) == [int(v > 0) for v in values]


def test_a_wrong_low_compare_is_seen():
    """Planted: the low bits compared with ``<`` instead of ``<=`` give another verdict."""
    def wrong(v, limit=5):
        return (v[3:] == 0) & (v[:3] < limit)
    values = range(1 << WIDTH)
    assert verdicts(wrong, WIDTH, values) != [int(v <= 5) for v in values]
