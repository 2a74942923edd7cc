"""Converter adapters in cocotb against the parts' behavioural models, plus their timing maths."""

from __future__ import annotations

import pytest
from boards_harness import ConverterHarness
from boards_simrun import run_cocotb
from insitu.boards.converters import (
    PulseEnables,
    adc_code,
    dac_word,
    half_period,
    required_pulse_gap,
    ticks,
)
from insitu.boards.core import board_config
from insitu.golden.config import ControllerConfig
from insitu.golden.nn import layout_config

CLK_HZ = 25e6


def harness_config(**kw) -> ControllerConfig:
    return board_config(ControllerConfig(**kw), CLK_HZ)


@pytest.mark.icarus
@pytest.mark.parametrize("dac_part, shape", [
    ("ad5686r", {"rows": 9, "cols": 6, "adcs": 2, "dac_bits": 8, "adc_bits": 10}),  # 4 DACs
    ("ad5676", {"rows": 4, "cols": 5, "adcs": 1, "dac_bits": 12, "adc_bits": 16}),
])
def test_adapters_cocotb(tmp_path, dac_part, shape):
    cfg = harness_config(**shape)
    dut = ConverterHarness(cfg, CLK_HZ, dac_part)
    run_cocotb(dut, "converters", "cocotb_converters", tmp_path, sim="icarus",
               params={"config": cfg.to_dict(), "clk_hz": CLK_HZ, "dac_part": dac_part})


def test_word_conversions():
    assert dac_word(0, 8) == 0x8000
    assert dac_word(127, 8) == 0x8000 + (127 << 8)
    assert dac_word(-127, 8) == 0x8000 - (127 << 8)
    assert adc_code(0x8000, 10) == 0
    assert adc_code(0xFFFF, 10) == 511
    assert adc_code(0x0000, 10) == -511  # clamped to the symmetric range
    assert adc_code(dac_word(-5, 8), 10) == -20


def test_timing_maths():
    assert half_period(24e6, 12.5e6) == 1
    assert half_period(50e6, 12.5e6) == 2
    assert ticks(24e6, 100e-9) == 3
    cfg = ControllerConfig(rows=16, cols=16)
    with pytest.raises(ValueError, match="pulse_gap must be >="):
        PulseEnables(cfg, 24e6)
    ok = board_config(cfg, 24e6)
    assert ok.pulse_gap == required_pulse_gap(ok, 24e6)
    wide = board_config(layout_config((64, 32, 10)), 50e6)  # 72 enable bits: a 304-tick gap
    assert wide.pulse_gap == required_pulse_gap(wide, 50e6) == 304
    with pytest.raises(ValueError, match="at most 65535"):
        board_config(ControllerConfig(rows=200, cols=8), 50e6, en_max_sclk_hz=0.1e6)


def test_dac_that_never_acknowledges_is_a_stuck_busy_the_controller_times_out():
    """The ADC adapter waits for the DAC chain's ``ready`` (the levels are out and settled):
    a DAC that never gets there holds the side's ``busy`` high, which the controller gives up
    on after ``adc_timeout`` (tests/rtl/test_converter_timeout.py); board_config sets that
    timeout above the adapters' longest working busy time and BoardCore refuses less."""
    from amaranth.sim import Simulator
    from insitu.boards.converters import Ads8688Reader
    from insitu.boards.core import BoardCore, required_adc_timeout

    cfg = harness_config(rows=4, cols=4)
    adc = Ads8688Reader(cfg, CLK_HZ)
    held = []

    async def bench(ctx):
        ctx.set(adc.dac_ready, 0)
        ctx.set(adc.adc.col.start, 1)
        await ctx.tick()
        ctx.set(adc.adc.col.start, 0)
        for _ in range(3 * adc.conversion_ticks()):
            await ctx.tick()
            held.append(ctx.get(adc.adc.col.busy))
        ctx.set(adc.dac_ready, 1)  # the DAC acknowledges at last: the conversion completes
        for _ in range(2 * adc.conversion_ticks()):
            await ctx.tick()
        held.append(ctx.get(adc.adc.col.busy))

    sim = Simulator(adc)
    sim.add_clock(1 / CLK_HZ)
    sim.add_testbench(bench)
    sim.run()
    assert all(b == (1 << cfg.adcs) - 1 for b in held[:-1]) and held[-1] == 0
    need = required_adc_timeout(cfg, CLK_HZ)
    assert cfg.adc_timeout == 2 * need > adc.conversion_ticks()
    with pytest.raises(ValueError, match=r"adc_timeout must be >= \d+ ticks"):
        BoardCore(ControllerConfig(**{**cfg.to_dict(), "adc_timeout": need - 1}), CLK_HZ)
    core = BoardCore(cfg, CLK_HZ)
    for part in (core, core.dac, core.adc, core.enables, core.neurons, core.controller):
        part._MustUse__silence = True  # constructed only to see it accepted
