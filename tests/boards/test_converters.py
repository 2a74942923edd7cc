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
    with pytest.raises(ValueError, match="at most 255"):
        board_config(ControllerConfig(rows=200, cols=8), 50e6)
