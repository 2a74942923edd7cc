"""Line drivers: held DAC read levels and the pulse-slot timer.

Read levels are one register per line, written one line per tick and made
visible to the chip with a one-tick ``dac.strobe`` (the LDAC of a real DAC).
Pulses are slots: each accepted slot raises the enables of its firing lines
for ``pulse_width`` ticks, then holds them low for ``pulse_gap`` ticks; the
next slot is accepted in the last tick of the gap so slots come back to back
at one per ``pulse_width + pulse_gap`` ticks.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from .analog import DacPortSignature, PulsePortSignature
from .layouts import LineSide, dac_shape, lines, slot_layout


class LineDrivers(wiring.Component):
    """DAC levels and pulse enables of every row and column.

    Attributes
    ----------
    level_we : In(1)
        Write ``level_code`` to line ``level_index`` of side ``level_side``.
    level_clear : In(1)
        Set every level on both sides to 0 (takes precedence over a write).
    level_strobe : In(1)
        Publish the levels: ``dac.strobe`` is high the next tick.
    slots : In(stream.Signature(slot_layout))
        Pulse slots to play.
    busy : Out(1)
        A slot (pulse or gap) is being played.
    dac : Out(DacPortSignature(config, levels)), pulse : Out(PulsePortSignature(config))
        The chip-facing outputs (see ``docs/analog-port.md``).
    """

    def __init__(self, config: ControllerConfig, levels: str = "registers"):
        self.config = config
        self.levels = levels
        super().__init__({
            "level_we": In(1),
            "level_clear": In(1),
            "level_side": In(LineSide),
            "level_index": In(range(lines(config))),
            "level_code": In(dac_shape(config)),
            "level_strobe": In(1),
            "slots": In(stream.Signature(slot_layout(config))),
            "busy": Out(1),
            "dac": Out(DacPortSignature(config, levels)),
            "pulse": Out(PulsePortSignature(config)),
        })

    def elaborate(self, platform):
        m = Module()

        # --- read levels
        if self.levels == "memory":
            self._levels_memory(m)
        else:
            self._levels_registers(m)
        m.d.sync += self.dac.strobe.eq(self.level_strobe)
        self._slots(m)
        return m

    def _levels_memory(self, m):
        """Levels in a RAM (lines rows then columns) with a written flag per line: a clear
        resets the flags, a line never written since reads 0."""
        cfg = self.config
        n = cfg.rows + cfg.cols
        m.submodules.levels = mem = Memory(shape=dac_shape(cfg), depth=n, init=[])
        wr, rd = mem.write_port(), mem.read_port()
        written = Signal(n)
        line = Signal(range(n))
        m.d.comb += line.eq(Mux(self.level_side == LineSide.ROWS, self.level_index,
                                self.level_index + cfg.rows))
        with m.If(self.level_clear):
            m.d.sync += written.eq(0)
        with m.Elif(self.level_we):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(line), wr.data.eq(self.level_code)]
            m.d.sync += written.bit_select(line, 1).eq(1)
        valid = Signal()
        m.d.sync += valid.eq(written.bit_select(self.dac.addr, 1))
        m.d.comb += [rd.addr.eq(self.dac.addr), self.dac.code.eq(Mux(valid, rd.data, 0))]

    def _levels_registers(self, m):
        cfg = self.config
        with m.If(self.level_clear):
            m.d.sync += [self.dac.row.eq(0), self.dac.col.eq(0)]
        with m.Elif(self.level_we):
            with m.If(self.level_side == LineSide.ROWS):
                m.d.sync += Array(self.dac.row[i] for i in range(cfg.rows))[self.level_index].eq(self.level_code)
            with m.Else():
                m.d.sync += Array(self.dac.col[j] for j in range(cfg.cols))[self.level_index].eq(self.level_code)

    def _slots(self, m):
        cfg = self.config
        period = cfg.pulse_width + cfg.pulse_gap
        tick = Signal(range(period))
        active = Signal()
        last_tick = tick == period - 1
        m.d.comb += [
            self.slots.ready.eq(~active | last_tick),
            self.busy.eq(active),
        ]
        accept = self.slots.valid & self.slots.ready
        m.d.sync += self.pulse.slot.eq(accept)
        with m.If(accept):
            m.d.sync += [
                self.pulse.row.eq(self.slots.payload.rows),
                self.pulse.col.eq(self.slots.payload.cols),
                self.pulse.pol.eq(self.slots.payload.negative),
                tick.eq(0),
                active.eq(1),
            ]
        with m.Elif(active):
            m.d.sync += tick.eq(tick + 1)
            with m.If(tick == cfg.pulse_width - 1):
                m.d.sync += [self.pulse.row.eq(0), self.pulse.col.eq(0)]
            with m.If(last_tick):
                m.d.sync += active.eq(0)
