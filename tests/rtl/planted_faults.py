"""Planted RTL faults for the checkers' own tests: small changes a person could make by mistake.

Each is a replacement of one method of an RTL class, applied with ``monkeypatch.setattr`` (and,
for the co-simulation, a fresh build cache so the faulty Verilog is really built).
"""

from __future__ import annotations

import dataclasses

from amaranth.hdl import Mux, Signal


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


def read_started_with_a_pulse(original):
    """``_Commands.start_read`` that also starts a one-slot pulse burst on device (0, 0): the
    read engine and the update engine run at once (a READ_DEVICE then pulses while its read
    level is applied)."""

    def start_read(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.m.d.comb += [self.seq.pulse_start.eq(1), self.seq.pulse_args.count.eq(1)]

    return start_read


def readout_without_watchdog(original_init):
    """``AdcReadout.__init__`` that builds the converter watchdog with the largest period
    (``adc_timeout`` 65535) instead of the configured one: a converter whose busy stays high
    holds the read for 65535 ticks, far past the configured answer bound."""

    def __init__(self, config, lines):
        original_init(self, dataclasses.replace(config, adc_timeout=65535), lines)

    return __init__


def neuron_reading_through_padding(self):
    """``_Commands.neuron_reading`` as it was before the formal proof of the safe idle after a
    converter timeout: the neuron-read line follows the READ state of a FORWARD only, so it
    stays high while a read cut short by a timeout pads its missing codes."""
    from insitu.rtl.layouts import Opcode

    return self.opcode == Opcode.FORWARD


def trainer_read_started_with_an_update(original):
    """The trainer's ``_Build.start_read`` that also starts a full-array update: the read and
    update engines run at once under the trainer."""

    def start_read(self, *args, **kwargs):
        original(self, *args, **kwargs)
        e, cfg = self.e, self.e.config
        a = e.up_args
        self.m.d.comb += [e.up_start.eq(1), a.row_gain.eq(cfg.count_max),
                          a.col_gain.eq(cfg.count_max), a.nrows.eq(cfg.rows),
                          a.ncols.eq(cfg.cols)]

    return start_read


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


def norm_one_pass_too_many(original):
    """``_Build.norm_passes`` of the trainer with one one-bit shift pass too many: the serial
    normalisation shifts every error vector one bit too far."""

    def norm_passes(s):
        return original(s) + 1

    return staticmethod(norm_passes)


def rho_one_right_shift_too_few(original):
    """``_Build.rho_shifts`` of the trainer with one right shift too few whenever ``rho`` is
    shifted right (its rounding then takes the wrong bit)."""

    def rho_shifts(self, s):
        right, left = original(self, s)
        return Mux(right > 0, right - 1, 0), left

    return rho_shifts
