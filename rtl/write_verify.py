"""The write-verify engine: one step's decision from a read code, bit-serial.

:class:`WriteVerifyStep` computes what ``ControllerReference.program_step``
computes for one read: ``err = target - code``; done if ``|err| <= tolerance``,
else ``clamp(|err| >> shift, 1, count_max)`` pulses of ``sign(err)``. The
arithmetic is bit-serial, LSB first, one bit per tick through one full adder
(area: no 34-bit carry chains): ``err`` into a shift register (34 ticks), then
``|err|`` while comparing it with the tolerance (34 ticks), then the shift, one
bit per tick (stopping early at 0).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from .narrow import at_most

#: bits of the error and its magnitude: |target - code| < 2**33
ERROR_BITS = 34


class WriteVerifyStepSignature(wiring.Signature):
    """Ports of one write-verify step (the engine's view).

    Members
    -------
    start : In(1)
        Strobe: evaluate; ``target``, ``code``, ``tolerance`` and ``shift`` stay stable until
        ``done``.
    target : In(signed(32)); code : In(adc_shape); tolerance : In(16); shift : In(8)
    done : Out(1)
        Strobes once when the decision is made.
    converged : Out(1)
        With ``done``: ``|err| <= tolerance`` (no pulses).
    negative : Out(1)
        ``err < 0`` (held after ``done``).
    count : Out(count_bits)
        Pulses to apply when not converged (held after ``done``).
    """

    def __init__(self, config: ControllerConfig):
        super().__init__({
            "start": In(1),
            "target": In(signed(32)),
            "code": In(signed(config.adc_bits)),
            "tolerance": In(16),
            "shift": In(8),
            "done": Out(1),
            "converged": Out(1),
            "negative": Out(1),
            "count": Out(config.count_bits),
        })


class WriteVerifyStep(wiring.Component):
    """One write-verify decision, ``2 * ERROR_BITS + 2 + shift`` ticks at most from ``start``."""

    def __init__(self, config: ControllerConfig):
        self.config = config
        super().__init__(WriteVerifyStepSignature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        nb = ERROR_BITS
        mag = Signal(nb)  # the error, then its magnitude (one register for both)
        shift_left = Signal(8)
        bit = Signal(range(nb))
        carry = Signal()
        le = Signal()  # the bits of mag so far <= those of the tolerance
        # the operands sign/zero-extended to nb bits, bit ``bit`` of each
        target_ext = Signal(signed(nb))
        code_ext = Signal(signed(nb))
        tol_ext = Signal(nb)
        m.d.comb += [target_ext.eq(self.target), code_ext.eq(self.code),
                     tol_ext.eq(self.tolerance)]
        t_bit = target_ext.bit_select(bit, 1)
        c_bit = ~code_ext.bit_select(bit, 1)
        tol_bit = tol_ext.bit_select(bit, 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [bit.eq(0), carry.eq(1)]
                    m.next = "SUB"
            with m.State("SUB"):  # err = target + ~code + 1
                diff = t_bit ^ c_bit ^ carry
                m.d.sync += [
                    mag.eq(Cat(mag[1:], diff)), bit.eq(bit + 1),
                    carry.eq((t_bit & c_bit) | (carry & (t_bit ^ c_bit))),
                ]
                with m.If(bit == nb - 1):
                    m.d.sync += [self.negative.eq(diff), bit.eq(0), carry.eq(1), le.eq(1)]
                    m.next = "ABS"
            with m.State("ABS"):  # mag = negative ? ~err + 1 : err; mag <= tolerance
                low = mag[0]
                a_bit = Mux(self.negative, ~low ^ carry, low)
                m.d.sync += [
                    mag.eq(Cat(mag[1:], a_bit)), bit.eq(bit + 1),
                    carry.eq(~low & carry),
                    le.eq(Mux(a_bit ^ tol_bit, tol_bit, le)),
                ]
                with m.If(bit == nb - 1):
                    m.d.sync += shift_left.eq(self.shift)
                    m.next = "TOLERANCE"
            with m.State("TOLERANCE"):
                with m.If(le):
                    m.d.comb += [self.done.eq(1), self.converged.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.next = "SHIFT"
            with m.State("SHIFT"):
                with m.If((shift_left == 0) | (mag == 0)):
                    m.d.sync += self.count.eq(
                        Mux(mag == 0, 1, Mux(~at_most(mag, cfg.count_max), cfg.count_max, mag)))
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [mag.eq(mag >> 1), shift_left.eq(shift_left - 1)]
        return m
