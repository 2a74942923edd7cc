"""AdcReadout against ControllerReference.adc_positions / average, with random busy and backpressure."""

from __future__ import annotations

import random

import numpy as np
import pytest

from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference
from insitu.rtl.adc import AdcReadout
from rtl_harness import simulate, stream_get

CONFIGS = [
    ControllerConfig(rows=7, cols=5, adcs=3, adc_average=4, adc_bits=8, settle_ticks=2, convert_ticks=3),
    ControllerConfig(rows=6, cols=6, adcs=1, adc_average=1, adc_bits=12, settle_ticks=0, convert_ticks=1),
    ControllerConfig(rows=8, cols=2, adcs=4, adc_average=2, adc_bits=4, settle_ticks=1, convert_ticks=2),
    ControllerConfig(rows=5, cols=5, adcs=5, adc_average=16, adc_bits=24, settle_ticks=3, convert_ticks=1),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"l{c.rows}a{c.adcs}n{c.adc_average}")
def test_readout_matches_reference(cfg):
    lines = cfg.rows
    rng = random.Random(cfg.rows * 31 + cfg.adcs)
    ref = ControllerReference(cfg)
    dut = AdcReadout(cfg, lines)
    windows = [(0, lines)] + [
        (a, rng.randint(a + 1, lines)) for a in (rng.randrange(lines) for _ in range(5))
    ]
    conversions = []  # (mux, codes per converter) in order, as the converter produced them
    events = {"start_ticks": [], "mux_change_ticks": []}

    async def converter(ctx):
        busy = 0
        tick = 0
        last_mux = None
        m = cfg.adc_max
        while True:
            await ctx.tick()
            tick += 1
            mux = ctx.get(dut.adc.mux)
            if mux != last_mux:
                events["mux_change_ticks"].append(tick)
                last_mux = mux
            if ctx.get(dut.adc.start):
                assert busy == 0, "start while converting"
                codes = [rng.randint(-m, m) for _ in range(cfg.adcs)]
                conversions.append((mux, codes))
                events["start_ticks"].append(tick)
                ctx.set(dut.adc.data, codes)
                busy = cfg.convert_ticks + rng.randint(0, 2)
            if busy:
                busy -= 1
            ctx.set(dut.adc.busy, (1 << cfg.adcs) - 1 if busy else 0)

    async def testbench(ctx):
        for l0, l1 in windows:
            conversions.clear()
            ctx.set(dut.first, l0)
            ctx.set(dut.last, l1)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            got = [await stream_get(ctx, dut.codes, rng, timeout=5000) for _ in range(l1 - l0)]
            await ctx.tick().until(dut.done)
            # expected: per position, adc_average conversions, averaged per line
            positions = list(ref.adc_positions(l0, l1))
            assert [c[0] for c in conversions] == [p for p in positions for _ in range(cfg.adc_average)]
            expected = []
            for k, pos in enumerate(positions):
                block = np.array([c[1] for c in conversions[k * cfg.adc_average:(k + 1) * cfg.adc_average]])
                avg = ref.average(block)
                for conv in range(cfg.adcs):
                    line = pos * cfg.adcs + conv
                    if l0 <= line < l1:
                        expected.append((line, int(avg[conv])))
            assert [(g.channel, g.code) for g in got] == expected

    simulate(dut, testbench, background=[converter])
    # settle: the first conversion at a mux position starts at least settle_ticks after the mux moved
    for t_mux in events["mux_change_ticks"][1:]:
        first_start = min(t for t in events["start_ticks"] if t >= t_mux)
        assert first_start - t_mux >= cfg.settle_ticks
