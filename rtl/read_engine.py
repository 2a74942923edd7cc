"""The read engine: levels, strobe, settle and convert, release.

:class:`ReadEngine` runs one read of the array: clear the read levels, load the
driven side's levels (a window of the x or d buffer, or one line at a constant
code for a single-device read), strobe them, start the sensing side's ADC
readout (settle, convert, mux, average: :class:`insitu.rtl.adc.AdcReadout`),
hand each code to the response writer (or keep it, for write-verify), and
release the levels.

A converter timeout (:class:`~insitu.rtl.adc.AdcReadout`'s ``timeout``) ends the read
at once: before the first code (the response header is held until then, ``hold``) or
in a write-verify read the read *fails* (``failed`` with ``done``: the controller
answers ``ADC_TIMEOUT``); later, every line not converted is answered
``protocol.no_code`` and the read ends normally. The levels are released either way.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .layouts import LineSide, dac_shape, lines, readout_layout
from .response import OBUF_BYTES


class ReadEngineSignature(wiring.Signature):
    """Ports of the read engine (its view). L = max(rows, cols).

    Members
    -------
    start : In(1)
        Strobe: read with the arguments below (sampled with ``start``).
    drive_side : In(LineSide); drive_first, drive_end : In(range(L + 1))
        The driven side and its buffer window ``[drive_first, drive_end)``.
    single : In(1); single_line : In(range(L)); single_code : In(dac_shape)
        Instead: drive only ``single_line`` at ``single_code`` (a single-device read).
    sense_side : In(LineSide); sense_first : In(range(L)); sense_last : In(range(L + 1))
        The converted side and window ``[sense_first, sense_last)``.
    capture : In(1)
        Keep the (single) code in ``captured`` instead of answering it.
    done : Out(1)
        Strobes when the levels are released.
    captured : Out(adc_shape)
    x_en, x_addr, x_data; d_en, d_addr, d_data :
        Synchronous reads of the x and d buffers (``*_en``: the engine drives the address).
    level_* : Out
        The line drivers' level write port (``level_we``, ``level_clear``, ``level_side``,
        ``level_index``, ``level_code``, ``level_strobe``).
    first, last : Out; row_start, col_start : Out(1)
        The readouts' window and start strobes.
    row_codes, col_codes : In(stream.Signature(readout_layout)); row_done, col_done : In(1)
        The readouts' codes and done strobes; row_timeout, col_timeout : In(1), their timeouts.
    hold : Out(1)
        The response header must wait (from ``start`` until the first code, or the failure).
    failed : Out(1)
        With ``done``: a converter timed out before any code was answered.
    word_valid : Out(1); word : Out(8 * OBUF_BYTES); word_last : Out(1); out_empty : In(1)
        An ADC code for the response writer (taken when ``out_empty``).
    padding : Out(1)
        A converter timed out after the first code: the levels are released and the lines
        not converted are being answered ``no_code`` (no read is running on the array).
    """

    def __init__(self, config: ControllerConfig):
        L = lines(config)
        super().__init__({
            "start": In(1),
            "drive_side": In(LineSide),
            "drive_first": In(range(L + 1)),
            "drive_end": In(range(L + 1)),
            "single": In(1),
            "single_line": In(range(L)),
            "single_code": In(dac_shape(config)),
            "sense_side": In(LineSide),
            "sense_first": In(range(L)),
            "sense_last": In(range(L + 1)),
            "capture": In(1),
            "done": Out(1),
            "captured": Out(signed(config.adc_bits)),
            "x_en": Out(1), "x_addr": Out(range(config.rows)), "x_data": In(dac_shape(config)),
            "d_en": Out(1), "d_addr": Out(range(config.cols)), "d_data": In(dac_shape(config)),
            "level_we": Out(1),
            "level_clear": Out(1),
            "level_side": Out(LineSide),
            "level_index": Out(range(L)),
            "level_code": Out(dac_shape(config)),
            "level_strobe": Out(1),
            "first": Out(range(L)),
            "last": Out(range(L + 1)),
            "row_start": Out(1),
            "col_start": Out(1),
            "row_codes": In(stream.Signature(readout_layout(config))),
            "col_codes": In(stream.Signature(readout_layout(config))),
            "row_done": In(1),
            "col_done": In(1),
            "row_timeout": In(1),
            "col_timeout": In(1),
            "hold": Out(1),
            "failed": Out(1),
            "word_valid": Out(1),
            "word": Out(8 * OBUF_BYTES),
            "word_last": Out(1),
            "out_empty": In(1),
            "padding": Out(1),
        })


class ReadEngine(wiring.Component):
    def __init__(self, config: ControllerConfig):
        self.config = config
        super().__init__(ReadEngineSignature(config))

    def elaborate(self, platform):
        m = Module()
        L = lines(self.config)
        drive_side = Signal(LineSide)
        drive_end = Signal(range(L + 1))  # one past the last line to load from a buffer
        single = Signal()
        single_code = Signal(dac_shape(self.config))
        single_line = Signal(range(L))
        sense = Signal(LineSide)
        sense_first = Signal(range(L))
        sense_last = Signal(range(L + 1))
        capture = Signal()
        index = Signal(range(L + 2))
        pending = Signal()
        line = Signal(range(L + 1))

        codes = stream.Signature(readout_layout(self.config)).flip().create()  # the taken side
        with m.If(sense == LineSide.ROWS):
            wiring.connect(m, wiring.flipped(self.row_codes), codes)
        with m.Else():
            wiring.connect(m, wiring.flipped(self.col_codes), codes)
        readout_done = Mux(sense == LineSide.ROWS, self.row_done, self.col_done)
        timed_out = Mux(sense == LineSide.ROWS, self.row_timeout, self.col_timeout)
        failed = Signal()
        next_line = Signal(range(L + 1))  # the first line of the window not answered yet
        m.d.comb += self.failed.eq(failed)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        drive_side.eq(self.drive_side), index.eq(self.drive_first),
                        drive_end.eq(self.drive_end), single.eq(self.single),
                        single_code.eq(self.single_code), single_line.eq(self.single_line),
                        sense.eq(self.sense_side), sense_first.eq(self.sense_first),
                        sense_last.eq(self.sense_last), capture.eq(self.capture),
                        self.hold.eq(~self.capture), failed.eq(0), next_line.eq(self.sense_first),
                    ]
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                m.d.comb += self.level_clear.eq(1)
                m.d.sync += pending.eq(0)
                with m.If(single):
                    m.next = "SINGLE"
                with m.Else():
                    m.next = "LOAD"
            with m.State("SINGLE"):
                m.d.comb += [
                    self.level_we.eq(1), self.level_side.eq(drive_side),
                    self.level_index.eq(single_line), self.level_code.eq(single_code),
                ]
                m.next = "STROBE"
            with m.State("LOAD"):
                # buffer address this tick, level write (of the previous address) next tick
                m.d.sync += [index.eq(index + 1), line.eq(index), pending.eq(index < drive_end)]
                m.d.comb += [
                    self.level_we.eq(pending), self.level_side.eq(drive_side),
                    self.level_index.eq(line),
                    self.level_code.eq(Mux(drive_side == LineSide.ROWS, self.x_data, self.d_data)),
                    self.x_addr.eq(index), self.d_addr.eq(index),
                    self.x_en.eq(drive_side == LineSide.ROWS),
                    self.d_en.eq(drive_side == LineSide.COLS),
                ]
                with m.If(index == drive_end):
                    m.next = "STROBE"
            with m.State("STROBE"):
                m.d.comb += self.level_strobe.eq(1)
                m.next = "START"
            with m.State("START"):
                m.d.comb += [self.first.eq(sense_first), self.last.eq(sense_last),
                             self.row_start.eq(sense == LineSide.ROWS),
                             self.col_start.eq(sense == LineSide.COLS)]
                m.next = "CONVERT"
            with m.State("CONVERT"):
                with m.If(capture):
                    m.d.comb += codes.ready.eq(1)
                    with m.If(codes.valid):
                        m.d.sync += self.captured.eq(codes.payload.code)
                with m.Else():
                    m.d.comb += [
                        codes.ready.eq(self.out_empty),
                        self.word_valid.eq(codes.valid & self.out_empty),
                        self.word.eq(codes.payload.code.as_signed()),
                        self.word_last.eq(codes.payload.channel == sense_last - 1),
                    ]
                    with m.If(codes.valid):
                        m.d.sync += self.hold.eq(0)
                    with m.If(codes.valid & self.out_empty):
                        m.d.sync += next_line.eq(codes.payload.channel + 1)
                with m.If(readout_done):
                    m.next = "RELEASE"
                with m.Elif(timed_out):
                    m.d.sync += failed.eq(capture | self.hold)
                    m.next = "DROP"
            with m.State("DROP"):  # a converter timed out: levels off at once
                m.d.comb += [self.level_clear.eq(1), self.level_strobe.eq(1)]
                with m.If(failed):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += self.hold.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "PAD"
            with m.State("PAD"):  # the lines a timed-out read never converted
                m.d.comb += [
                    self.padding.eq(1),
                    self.word_valid.eq(self.out_empty),
                    self.word.eq(proto.no_code(self.config)),
                    self.word_last.eq(next_line == sense_last - 1),
                ]
                with m.If(self.out_empty):
                    m.d.sync += next_line.eq(next_line + 1)
                    with m.If(next_line == sense_last - 1):
                        m.next = "PADDED"
            with m.State("PADDED"):
                m.d.comb += [self.padding.eq(1), self.done.eq(1)]
                m.next = "IDLE"
            with m.State("RELEASE"):
                m.d.comb += [self.level_clear.eq(1), self.level_strobe.eq(1), self.done.eq(1)]
                m.d.sync += self.hold.eq(0)
                m.next = "IDLE"
        return m
