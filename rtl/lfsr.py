"""The line LFSRs in hardware: one draw (16 Galois steps) as one XOR network.

A Galois LFSR step is linear over GF(2), so ``LFSR_STEPS_PER_DRAW`` steps are
one constant 16x16 bit matrix. Unrolling it once at elaboration gives each
next-state bit as the XOR of a few current-state bits: a draw per clock with
two or three levels of logic, no matter how many steps a draw takes.
"""

from __future__ import annotations

from functools import lru_cache, reduce
from operator import xor

from amaranth.hdl import Value

from ..golden.controller import LFSR_STEPS_PER_DRAW, LFSR_TAPS

LFSR_WIDTH = 16


@lru_cache(maxsize=None)
def draw_taps() -> tuple[frozenset, ...]:
    """For each bit of the state after one draw, the set of state bits it XORs."""
    # bits[b] = set of input bit indices whose XOR gives bit b
    bits = [frozenset({b}) for b in range(LFSR_WIDTH)]
    for _ in range(LFSR_STEPS_PER_DRAW):
        lsb = bits[0]
        shifted = bits[1:] + [frozenset()]
        bits = [
            (shifted[b] ^ lsb) if (LFSR_TAPS >> b) & 1 else shifted[b]
            for b in range(LFSR_WIDTH)
        ]
    return tuple(bits)


def lfsr_draw_value(state: Value) -> Value:
    """Amaranth expression of ``golden.controller.lfsr_draw(state)``."""
    from amaranth.hdl import Cat, Const

    out = []
    for taps in draw_taps():
        terms = [state[i] for i in sorted(taps)]
        out.append(reduce(xor, terms) if terms else Const(0, 1))
    return Cat(*out)


def lfsr_draw_int(state: int) -> int:
    """The same map on integers (checks the network against the golden model)."""
    out = 0
    for b, taps in enumerate(draw_taps()):
        v = 0
        for i in taps:
            v ^= (state >> i) & 1
        out |= v << b
    return out
