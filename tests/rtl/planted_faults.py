"""Planted RTL faults for the checkers' own tests: small changes a person could make by mistake.

Each is a replacement of one method of an RTL class, applied with ``monkeypatch.setattr`` (and,
for the co-simulation, a fresh build cache so the faulty Verilog is really built).
"""

from __future__ import annotations

from amaranth.hdl import Signal


def slots_one_tick_too_long(self, m):
    """``LineDrivers._slots`` with the enables cleared one tick late: every pulse lasts
    ``pulse_width + 1`` ticks and its gap one tick less (the fault that once passed the
    co-simulation as "identical")."""
    cfg = self.config
    period = cfg.pulse_width + cfg.pulse_gap
    tick = Signal(range(period + 1))
    active = Signal()
    last_tick = tick == period - 1
    m.d.comb += [self.slots.ready.eq(~active | last_tick), self.busy.eq(active)]
    accept = self.slots.valid & self.slots.ready
    m.d.sync += self.pulse.slot.eq(accept)
    with m.If(accept):
        m.d.sync += [self.pulse.row.eq(self.slots.payload.rows),
                     self.pulse.col.eq(self.slots.payload.cols),
                     self.pulse.pol.eq(self.slots.payload.negative), tick.eq(0), active.eq(1)]
    with m.Elif(active):
        m.d.sync += tick.eq(tick + 1)
        with m.If(tick == cfg.pulse_width):  # the fault: was pulse_width - 1
            m.d.sync += [self.pulse.row.eq(0), self.pulse.col.eq(0)]
        with m.If(last_tick):
            m.d.sync += active.eq(0)


def row_levels_lose_their_lowest_bit(self, m):
    """``LineDrivers._levels_registers`` with a mask mistake on the row side: every row level
    is driven with its lowest bit cleared."""
    from amaranth.hdl import Array
    from insitu.rtl.layouts import LineSide

    cfg = self.config
    with m.If(self.level_clear):
        m.d.sync += [self.dac.row.eq(0), self.dac.col.eq(0)]
    with m.Elif(self.level_we):
        with m.If(self.level_side == LineSide.ROWS):
            m.d.sync += Array(self.dac.row[i] for i in range(cfg.rows))[self.level_index].eq(
                self.level_code & ~1)  # the fault
        with m.Else():
            m.d.sync += Array(self.dac.col[j] for j in range(cfg.cols))[self.level_index].eq(
                self.level_code)
