"""ADC readout: settle, convert, average, step the multiplexer, stream the codes.

``adcs`` converters share one side's lines through a multiplexer: converter k
reads line ``mux * adcs + k``. A read of lines ``[first, last)`` visits the mux
positions ``first // adcs .. (last - 1) // adcs`` in order
(``ControllerReference.adc_positions``). At each it waits ``settle_ticks``,
then makes ``adc_average`` conversions with all converters at once and emits
``(sum + N // 2) >> log2(N)`` per in-window line (``ControllerReference.average``),
in ascending line order.

A conversion: ``start`` high for one tick; the code is taken once
``convert_ticks`` ticks have passed *and* the converter's ``busy`` is low, so a
converter without a busy output (tie it low) works, and a slower one stretches
the wait. A converter still busy ``adc_timeout`` ticks after that is given up
on: ``timeout`` strobes and the readout is idle again (no more codes, no ``done``).
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from .layouts import adc_shape, readout_layout


def mux_positions(lines: int, adcs: int) -> int:
    return -(-lines // adcs)


def mux_shape(lines: int, adcs: int):
    """Mux select shape; at least one bit, so no zero-width port reaches the Verilog."""
    return range(max(2, mux_positions(lines, adcs)))


class AdcPortSignature(wiring.Signature):
    """The converters of one side of ``lines`` lines (controller's view): ``start`` (Out),
    ``busy`` (In, one bit per converter), ``data`` (In, one code per converter), ``mux`` (Out)."""

    def __init__(self, config: ControllerConfig, lines: int):
        super().__init__({
            "start": Out(1),
            "busy": In(config.adcs),
            "data": In(data.ArrayLayout(adc_shape(config), config.adcs)),
            "mux": Out(mux_shape(lines, config.adcs)),
        })


class AdcReadout(wiring.Component):
    """Sequencer of ``config.adcs`` converters shared over ``lines`` lines.

    Parameters
    ----------
    config : ControllerConfig
    lines : int
        Lines on the side this instance reads (it is shared by both sides in
        the controller, so this is the longer side).

    Attributes
    ----------
    start : In(1)
        Strobe: read lines ``[first, last)`` (``first < last <= lines``).
    busy, done : Out(1)
        ``done`` strobes after the last code has been taken.
    timeout : Out(1)
        Strobes instead of ``done`` when a conversion timed out (``adc_timeout``).
    codes : Out(stream.Signature(readout_layout))
        (channel, code) per line, ascending.
    adc : Out(AdcPortSignature(config, lines))
        The converter side (see ``docs/analog-port.md``).
    """

    def __init__(self, config: ControllerConfig, lines: int):
        self.config = config
        self.lines = lines
        super().__init__({
            "start": In(1),
            "first": In(range(lines)),
            "last": In(range(lines + 1)),
            "busy": Out(1),
            "done": Out(1),
            "timeout": Out(1),
            "codes": Out(stream.Signature(readout_layout(config))),
            "adc": Out(AdcPortSignature(config, lines)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        n_conv = cfg.adcs
        positions = mux_positions(self.lines, n_conv)
        avg_shift = cfg.adc_average.bit_length() - 1
        acc_shape = signed(cfg.adc_bits + avg_shift + 1)

        # line -> mux position, as a constant table (no divider for odd adcs)
        position_of = Array(Const(i // n_conv, mux_shape(self.lines, n_conv))
                            for i in range(self.lines))

        first = Signal.like(self.first)
        last = Signal.like(self.last)
        last_position = Signal(mux_shape(self.lines, n_conv))
        base = Signal(range(positions * n_conv + 1))  # first line of the current position
        acc = Array(Signal(acc_shape, name=f"acc_{k}") for k in range(n_conv))
        conversions = Signal(range(cfg.adc_average + 1))
        timer = Signal(range(max(cfg.settle_ticks, cfg.convert_ticks) + 1))
        waited = Signal(range(cfg.adc_timeout))  # ticks busy stayed high past convert_ticks
        # at least one bit: a zero-width signal becomes `wire [-1:0]` in Verilog (ASCRANGE);
        # with one converter it is reset to 0 before every EMIT, so the spare bit is unused
        converter = Signal(max(1, (n_conv - 1).bit_length()))

        emit_line = base + converter
        in_window = (emit_line >= first) & (emit_line < last)
        average = Signal(acc_shape)
        m.d.comb += average.eq((acc[converter] + (cfg.adc_average >> 1)) >> avg_shift)
        m.d.comb += [
            self.codes.payload.channel.eq(emit_line),
            self.codes.payload.code.eq(average),
        ]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        first.eq(self.first),
                        last.eq(self.last),
                        self.adc.mux.eq(position_of[self.first]),
                        base.eq(position_of[self.first] * n_conv),
                        last_position.eq(position_of[self.last - 1]),
                        timer.eq(0),
                    ]
                    m.next = "SETTLE"
            with m.State("SETTLE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [timer.eq(timer + 1), conversions.eq(0)]
                with m.If(timer >= cfg.settle_ticks):
                    m.next = "CONVERT"
            with m.State("CONVERT"):
                m.d.comb += [self.busy.eq(1), self.adc.start.eq(1)]
                m.d.sync += [timer.eq(1), waited.eq(0)]
                m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer < cfg.convert_ticks):
                    m.d.sync += timer.eq(timer + 1)
                with m.Elif(self.adc.busy == 0):
                    for k in range(n_conv):
                        sample = self.adc.data[k]
                        m.d.sync += acc[k].eq(Mux(conversions == 0, sample, acc[k] + sample))
                    m.d.sync += conversions.eq(conversions + 1)
                    with m.If(conversions == cfg.adc_average - 1):
                        m.d.sync += converter.eq(0)
                        m.next = "EMIT"
                    with m.Else():
                        m.next = "CONVERT"
                with m.Elif(waited == cfg.adc_timeout - 1):
                    m.d.comb += self.timeout.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += waited.eq(waited + 1)
            with m.State("EMIT"):
                m.d.comb += [self.busy.eq(1), self.codes.valid.eq(in_window)]
                with m.If(~in_window | self.codes.ready):
                    m.d.sync += converter.eq(converter + 1)
                    with m.If(converter == n_conv - 1):
                        with m.If(self.adc.mux == last_position):
                            m.next = "DONE"
                        with m.Else():
                            m.d.sync += [
                                self.adc.mux.eq(self.adc.mux + 1),
                                base.eq(base + n_conv),
                                timer.eq(0),
                            ]
                            m.next = "SETTLE"
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.next = "IDLE"
        return m
