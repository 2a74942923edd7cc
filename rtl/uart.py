"""A minimal 8N1 UART: one start bit, eight data bits LSB first, one stop bit."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto


def rx_fifo_depth(config) -> int:
    """Bytes the UART receive FIFO holds: two largest request frames, rounded up to a power
    of two (at least 64; one block RAM on an iCE40 up to 512).

    The host link reads no request while a command runs and its response goes out, and a
    UART cannot wait, so this is how far a host may run ahead of the responses: the next
    request (any size) may follow at once, as may the rest of a frame the link rejected
    early (a bad length) while it sends the error response.
    """
    need = proto.run_ahead_bytes(config)
    return max(64, 1 << (need - 1).bit_length())


def check_divisor(divisor: int) -> int:
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"uart divisor (clock ticks per bit) must be an integer >= 4, got {divisor!r}")
    return divisor


class UartTx(wiring.Component):
    """Bytes in, a line out. ``divisor`` clock ticks per bit.

    Attributes
    ----------
    i : In(stream.Signature(8))
    tx : Out(1), idle high
    """

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(10, init=0x3FF)  # line bits still to send, LSB goes out next
        bits = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(bits == 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shreg.eq(Cat(0, self.i.payload, 1)), bits.eq(10), timer.eq(self.divisor - 1)]
        with m.Elif(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [
                    shreg.eq(Cat(shreg[1:], 1)),
                    bits.eq(bits - 1),
                    timer.eq(self.divisor - 1),
                ]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UartRx(wiring.Component):
    """A line in, bytes out. Samples mid-bit; drops bytes with a bad stop bit.

    A UART cannot wait: a byte not taken before the next one completes is lost
    (``overrun`` strobes). Put a FIFO behind it.

    Attributes
    ----------
    rx : In(1), idle high
    o : Out(stream.Signature(8))
    overrun : Out(1)
    """

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(self.divisor))
        bits = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(~line):
                        m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                        m.next = "DATA"
                    with m.Else():
                        m.next = "IDLE"  # a glitch, not a start bit
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), bits.eq(bits + 1), timer.eq(self.divisor - 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(shreg)]
                        m.d.comb += self.overrun.eq(self.o.valid & ~self.o.ready)
                    m.next = "IDLE"
        return m
