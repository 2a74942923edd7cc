"""LineDrivers: level writes and strobe, slot timing (width, gap, back to back), backpressure."""

from __future__ import annotations

import random

import pytest

from insitu.golden.config import ControllerConfig
from insitu.rtl.drivers import LineDrivers
from insitu.rtl.layouts import LineSide
from rtl_harness import simulate, stream_put


@pytest.mark.parametrize("width,gap", [(1, 0), (2, 1), (3, 0), (1, 4)])
def test_slot_timing(width, gap):
    cfg = ControllerConfig(rows=3, cols=4, pulse_width=width, pulse_gap=gap)
    dut = LineDrivers(cfg)
    rng = random.Random(width * 10 + gap)
    slots = [{"negative": rng.randint(0, 1), "rows": rng.randrange(8), "cols": rng.randrange(16)}
             for _ in range(12)]
    trace = []

    async def source(ctx):
        for k, s in enumerate(slots):
            # first half back to back (no pauses), second half with random pauses
            await stream_put(ctx, dut.slots, s, rng if k >= 6 else None)
        await ctx.tick().repeat(width + gap + 3)

    async def monitor(ctx):
        while True:
            await ctx.tick()
            trace.append((ctx.get(dut.pulse.slot), ctx.get(dut.pulse.row), ctx.get(dut.pulse.col), ctx.get(dut.pulse.pol)))

    simulate(dut, source, background=[monitor])
    starts = [t for t, s in enumerate(trace) if s[0]]
    assert len(starts) == len(slots)
    for k, t in enumerate(starts):
        s = slots[k]
        for dt in range(width):
            assert trace[t + dt][1:] == (s["rows"], s["cols"], s["negative"]), (k, dt)
        end = starts[k + 1] if k + 1 < len(starts) else len(trace)
        assert end - t >= width + gap
        for dt in range(width, end - t):
            assert trace[t + dt][1:3] == (0, 0)
    # back-to-back slots come exactly one period apart
    for k in range(5):
        assert starts[k + 1] - starts[k] == width + gap


# rows 0 and 2, column 1: levels [-5, 0, 31] and [0, -31]
LEVEL_WRITES = [(LineSide.ROWS, 0, -5), (LineSide.ROWS, 2, 31), (LineSide.COLS, 1, -31)]


async def write_levels_and_strobe(ctx, dut):
    """Write LEVEL_WRITES one per tick, then strobe; the DAC strobe follows at once."""
    ctx.set(dut.level_we, 1)
    for side, idx, code in LEVEL_WRITES:
        ctx.set(dut.level_side, side)
        ctx.set(dut.level_index, idx)
        ctx.set(dut.level_code, code)
        await ctx.tick()
    ctx.set(dut.level_we, 0)
    ctx.set(dut.level_strobe, 1)
    await ctx.tick()
    ctx.set(dut.level_strobe, 0)
    assert ctx.get(dut.dac.strobe) == 1


def test_levels_and_strobe():
    cfg = ControllerConfig(rows=3, cols=2, dac_bits=6)
    dut = LineDrivers(cfg)

    async def tb(ctx):
        await write_levels_and_strobe(ctx, dut)
        rows = ctx.get(dut.dac.row)
        cols = ctx.get(dut.dac.col)
        assert [rows[i] for i in range(3)] == [-5, 0, 31]
        assert [cols[j] for j in range(2)] == [0, -31]
        await ctx.tick()
        assert ctx.get(dut.dac.strobe) == 0
        ctx.set(dut.level_clear, 1)
        ctx.set(dut.level_we, 1)  # clear wins over a write
        await ctx.tick()
        rows = ctx.get(dut.dac.row)
        assert [rows[i] for i in range(3)] == [0, 0, 0]

    simulate(dut, tb)


def test_levels_memory():
    """levels="memory": the same levels through the RAM read port (one tick), cleared by level_clear."""
    cfg = ControllerConfig(rows=3, cols=2, dac_bits=6)
    dut = LineDrivers(cfg, levels="memory")

    async def read_all(ctx):
        out = []
        for line in range(cfg.rows + cfg.cols):
            ctx.set(dut.dac.addr, line)
            await ctx.tick()
            out.append(ctx.get(dut.dac.code))
        return out

    async def tb(ctx):
        assert await read_all(ctx) == [0] * 5  # never written
        await write_levels_and_strobe(ctx, dut)
        assert await read_all(ctx) == [-5, 0, 31, 0, -31]
        ctx.set(dut.level_clear, 1)
        ctx.set(dut.level_we, 1)  # clear wins over a write
        await ctx.tick()
        ctx.set(dut.level_clear, 0)
        ctx.set(dut.level_we, 0)
        assert await read_all(ctx) == [0] * 5

    simulate(dut, tb)
