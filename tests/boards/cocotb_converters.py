"""cocotb tests of the converter adapters against the parts' behavioural models.

The controller side is driven as the controller drives it (strobes, slots,
conversions), the pin side is answered by :mod:`insitu.boards.models`. The
board is wired as a loopback: the ADC of row line i sees the DAC level of
column line i and vice versa, so a read proves the conversion happened after
the new levels were out.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer
from insitu.boards.converters import DAC_PARTS, adc_code, adc_parts, dac_word
from insitu.boards.models import (
    MIDSCALE,
    AdcBusModel,
    Ads8688Model,
    DacChainModel,
    ShiftEnableModel,
)
from insitu.golden.config import ControllerConfig

P = json.loads(os.environ.get("INSITU_TEST_PARAMS", "{}"))
CFG = ControllerConfig(**P["config"])
CLK_HZ = P["clk_hz"]
PERIOD_NS = 1e9 / CLK_HZ
PART = DAC_PARTS[P["dac_part"]]


class Bench:
    def __init__(self, dut):
        self.dut = dut
        cfg = CFG
        self.lines = cfg.rows + cfg.cols
        n_parts = -(-self.lines // PART.channels)
        self.dac = DacChainModel(n_parts, PART.channels, PART.onehot_address)
        self.row_parts, self.col_parts = adc_parts(cfg)
        self.adcs = [Ads8688Model(self._sampler(p)) for p in range(self.row_parts + self.col_parts)]
        self.adc_bus = AdcBusModel(self.adcs)
        regs = max(-(-cfg.rows // 8), -(-cfg.cols // 8))
        self.en = ShiftEnableModel(8 * -(-cfg.rows // 8), 8 * -(-cfg.cols // 8), dead_ns=90.0)
        self.regs = regs

    def _sampler(self, part):
        def sample(channel):
            cfg = CFG
            if part < self.row_parts:  # row line i sees column line i's level
                line, other, n_other = part * 8 + channel, cfg.rows, cfg.cols
            else:
                line, other, n_other = (part - self.row_parts) * 8 + channel, 0, cfg.rows
            if line >= n_other:
                return MIDSCALE + 0x1234
            return self.level_word(other + line)
        return sample

    def level_word(self, line):
        words = self.dac.words()
        return words[line]

    async def start(self):
        d = self.dut
        cocotb.start_soon(Clock(d.clk, PERIOD_NS, unit="ns").start())
        for s in ("dac_dac__row", "dac_dac__col", "dac_dac__strobe", "dac_safe", "adc_adc__row__start",
                  "adc_adc__col__start", "adc_adc__row__mux", "adc_adc__col__mux", "adc_dac_ready",
                  "en_pulse__row", "en_pulse__col", "en_pulse__pol", "en_pulse__slot", "en_safe"):
            getattr(d, s).value = 0
        d.adc_sdo.value = 0
        d.rst.value = 1
        await self.dac.attach(d.dac_sclk, d.dac_sdin, d.dac_sync_n, d.dac_ldac_n, d.dac_reset_n)
        await self.adc_bus.attach(d.adc_sclk, d.adc_sdi, d.adc_sdo, d.adc_cs_n)
        await self.en.attach(d.en_srclk, d.en_rclk, d.en_row_ser, d.en_col_ser, d.en_oe_n, d.en_pol)

        async def ready_follow():  # the board core wires DAC ready to the ADC adapter
            while True:
                await FallingEdge(d.clk)
                d.adc_dac_ready.value = d.dac_ready.value
        cocotb.start_soon(ready_follow())
        await ClockCycles(d.clk, 3)
        d.rst.value = 0
        await self.wait_ready()

    async def wait_ready(self, limit=200000):
        d = self.dut
        for _ in range(limit):
            await RisingEdge(d.clk)
            if int(d.dac_ready.value):
                return
        raise AssertionError("DAC chain never became ready")

    def violations(self):
        return self.dac.violations + self.adc_bus.all_violations() + self.en.violations

    async def set_levels(self, rows, cols):
        d = self.dut
        bits = CFG.dac_bits
        pack = lambda codes: sum((c & ((1 << bits) - 1)) << (bits * i) for i, c in enumerate(codes))
        await FallingEdge(d.clk)
        d.dac_dac__row.value = pack(rows)
        d.dac_dac__col.value = pack(cols)
        d.dac_dac__strobe.value = 1
        await FallingEdge(d.clk)
        d.dac_dac__strobe.value = 0

    async def convert(self, side, mux):
        """Start a conversion like the controller and wait for busy to fall; return the codes."""
        d = self.dut
        await FallingEdge(d.clk)
        getattr(d, f"adc_adc__{side}__mux").value = mux
        getattr(d, f"adc_adc__{side}__start").value = 1
        await FallingEdge(d.clk)
        getattr(d, f"adc_adc__{side}__start").value = 0
        busy = getattr(d, f"adc_adc__{side}__busy")
        assert int(busy.value) == (1 << CFG.adcs) - 1, "busy must rise the tick after start"
        n = 0
        while int(busy.value):
            await FallingEdge(d.clk)
            n += 1
            assert n < 500000
        raw = int(getattr(d, f"adc_adc__{side}__data").value)
        b = CFG.adc_bits
        out = []
        for k in range(CFG.adcs):
            v = raw >> (b * k) & ((1 << b) - 1)
            out.append(v - (1 << b) if v >> (b - 1) else v)
        return out


def expected_codes(bench, side, mux):
    cfg = CFG
    n_lines = cfg.rows if side == "row" else cfg.cols
    out = []
    for k in range(cfg.adcs):
        line = mux * cfg.adcs + k
        if line >= n_lines:
            out.append(0)
            continue
        if side == "row":
            src = cfg.rows + line if line < cfg.cols else None
        else:
            src = line if line < cfg.rows else None
        word = MIDSCALE + 0x1234 if src is None else bench.dac.words()[src]
        out.append(adc_code(word, cfg.adc_bits))
    return out


def rand_codes(rng, n):
    m = CFG.dac_max
    return [rng.randint(-m, m) for _ in range(n)]


@cocotb.test()
async def dac_reset_then_levels(dut):
    """After reset: RESET pulse, daisy chain enabled, mid-scale; then a strobe writes every line at one LDAC."""
    b = Bench(dut)
    await b.start()
    assert all(p.dcen for p in b.dac.parts), "every part in daisy-chain mode after init"
    assert b.dac.words() == [MIDSCALE] * len(b.dac.words())
    rng = random.Random(1)
    for _ in range(3):
        rows, cols = rand_codes(rng, CFG.rows), rand_codes(rng, CFG.cols)
        n_ldac = len(b.dac.ldac_events)
        await b.set_levels(rows, cols)
        assert not int(dut.dac_ready.value)
        await b.wait_ready()
        assert len(b.dac.ldac_events) == n_ldac + 1, "one LDAC per strobe"
        want = [dac_word(c, CFG.dac_bits) for c in rows + cols]
        assert b.dac.words()[:b.lines] == want
        assert all(w == MIDSCALE for w in b.dac.words()[b.lines:]), "unused channels at 0 V"
    assert b.dac.min_half_ns >= 1e9 / (2 * min(PART.max_sclk_hz, 12.5e6)) - 1
    assert not b.violations(), b.violations()


@cocotb.test()
async def dac_strobe_while_busy_and_safe(dut):
    """A strobe during a transfer is not lost; safe resets the parts to 0 V and re-inits the chain."""
    b = Bench(dut)
    await b.start()
    rng = random.Random(2)
    rows, cols = rand_codes(rng, CFG.rows), rand_codes(rng, CFG.cols)
    await b.set_levels(rand_codes(rng, CFG.rows), rand_codes(rng, CFG.cols))
    await ClockCycles(dut.clk, 50)
    await b.set_levels(rows, cols)  # while the first transfer runs
    await b.wait_ready()
    assert b.dac.words()[:b.lines] == [dac_word(c, CFG.dac_bits) for c in rows + cols]
    resets = b.dac.resets
    await FallingEdge(dut.clk)
    dut.dac_safe.value = 1
    await ClockCycles(dut.clk, 5)
    assert b.dac.resets == resets + 1 and b.dac.words() == [MIDSCALE] * len(b.dac.words())
    await ClockCycles(dut.clk, 20000)
    assert not int(dut.dac_ready.value), "not ready while safe"
    assert all(p.dcen for p in b.dac.parts)
    dut.dac_safe.value = 0
    await b.wait_ready()
    assert b.dac.words()[:b.lines] == [dac_word(c, CFG.dac_bits) for c in rows + cols], \
        "levels restored when safe falls"
    assert not b.violations(), b.violations()


@cocotb.test()
async def adc_reads_every_position(dut):
    """Every mux position of both sides: busy timing, codes, channel selection, pipelined frames."""
    b = Bench(dut)
    await b.start()
    rng = random.Random(3)
    await b.set_levels(rand_codes(rng, CFG.rows), rand_codes(rng, CFG.cols))
    for side, n in (("row", CFG.rows), ("col", CFG.cols)):
        for mux in range(-(-n // CFG.adcs)):
            got = await b.convert(side, mux)
            assert got == expected_codes(b, side, mux), (side, mux, got)
    # every conversion sampled after the last LDAC plus the DAC settling time
    last_ldac = b.dac.ldac_events[-1]
    for p in b.adcs:
        for t, _ in p.conversions:
            assert t >= last_ldac + PART.settle_s * 1e9 - PERIOD_NS
    assert b.adc_bus.min_half_ns >= 1e9 / (2 * 10e6) - 1
    assert not b.violations(), b.violations()


@cocotb.test()
async def adc_waits_for_new_levels(dut):
    """A conversion started right after a strobe (as the controller does) sees the new levels."""
    b = Bench(dut)
    await b.start()
    rng = random.Random(4)
    for _ in range(3):
        await b.set_levels(rand_codes(rng, CFG.rows), rand_codes(rng, CFG.cols))
        side = rng.choice(["row", "col"])
        n = CFG.rows if side == "row" else CFG.cols
        mux = rng.randrange(-(-n // CFG.adcs))
        got = await b.convert(side, mux)
        assert got == expected_codes(b, side, mux)
    assert not b.violations(), b.violations()


@cocotb.test()
async def enables_play_slots(dut):
    """Slots at the controller's pace: masks, polarity, exact width, dead times, no overrun."""
    b = Bench(dut)
    await b.start()
    rng = random.Random(5)
    period = CFG.pulse_width + CFG.pulse_gap
    sent = []
    for _ in range(12):
        rows = rng.getrandbits(CFG.rows)
        cols = rng.getrandbits(CFG.cols)
        pol = rng.getrandbits(1)
        sent.append((rows, cols, pol))
        await FallingEdge(dut.clk)
        dut.en_pulse__row.value = rows
        dut.en_pulse__col.value = cols
        dut.en_pulse__pol.value = pol
        dut.en_pulse__slot.value = 1
        await Timer(1, unit="ns")
        assert not int(dut.en_overrun.value), "slot arrived while the previous one still played"
        await FallingEdge(dut.clk)
        dut.en_pulse__slot.value = 0
        await ClockCycles(dut.clk, CFG.pulse_width - 1, rising=False)
        dut.en_pulse__row.value = 0
        dut.en_pulse__col.value = 0
        await ClockCycles(dut.clk, period - CFG.pulse_width - 1, rising=False)
    await ClockCycles(dut.clk, 2 * period)
    assert [(p.rows, p.cols, p.negative) for p in b.en.pulses] == sent
    for p in b.en.pulses:
        assert abs((p.end_ns - p.start_ns) - CFG.pulse_width * PERIOD_NS) < 1e-3
    # safe in the middle of a pulse turns the outputs off at once
    await FallingEdge(dut.clk)
    dut.en_pulse__row.value = dut.en_pulse__col.value = 1
    dut.en_pulse__slot.value = 1
    await FallingEdge(dut.clk)
    dut.en_pulse__slot.value = 0
    while int(dut.en_oe_n.value):
        await FallingEdge(dut.clk)
    dut.en_safe.value = 1
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    assert int(dut.en_oe_n.value) == 1
    assert not b.violations(), b.violations()
