"""The update sequencers (parallel and serial) against ControllerReference.plan_update / slot_schedule, slot by slot."""

from __future__ import annotations

import random

import numpy as np
import pytest

from amaranth.hdl import ResetInserter, Signal

from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference, lfsr_draw
from insitu.rtl.layouts import UpdateMode
from insitu.rtl.lfsr import lfsr_draw_int
from insitu.rtl.sequencer import serial_masks, update_sequencer
from rtl_harness import Buffers, simulate, stream_get


def test_lfsr_network_matches_golden_draw():
    rng = random.Random(0)
    for _ in range(2000):
        s = rng.randrange(1, 1 << 16)
        assert lfsr_draw_int(s) == lfsr_draw(s)


def random_update(rng: random.Random, cfg: ControllerConfig, mode: str):
    r0 = rng.randrange(cfg.rows)
    nr = rng.randint(1, cfg.rows - r0)
    c0 = rng.randrange(cfg.cols)
    nc = rng.randint(1, cfg.cols - c0)
    if rng.random() < 0.3:
        r0, nr, c0, nc = 0, cfg.rows, 0, cfg.cols
    m = cfg.dac_max
    x = [rng.choice([0, rng.randint(-m, m), m, -m]) for _ in range(cfg.rows)]
    d = [rng.choice([0, rng.randint(-m, m), m, -m]) for _ in range(cfg.cols)]
    gmax = cfg.count_max if mode == "deterministic" else cfg.prob_max
    gains = (rng.randint(0, gmax), rng.randint(0, gmax))
    if rng.random() < 0.5:
        gains = (gmax, gmax)
    return dict(x=x, d=d, row0=r0, nrows=nr, col0=c0, ncols=nc, gains=gains,
                dither=rng.random() < 0.5)


def run_updates(cfg: ControllerConfig, mode: str, n_updates: int, seed: int, reset_between=False):
    """With ``reset_between``, the sequencer is reset after every update (the board's
    watchdog does that to a hung controller): the LFSRs must restart from the seeds."""
    rng = random.Random(seed)
    seq = update_sequencer(cfg)
    rst = Signal()
    top = Buffers(cfg, ResetInserter(rst)(seq))
    ref = ControllerReference(cfg)
    updates = [random_update(rng, cfg, mode) for _ in range(n_updates)]

    async def testbench(ctx):
        nonlocal ref
        for u in updates:
            await top.load(ctx, u["x"], u["d"])
            plan, slots = ref.schedule(
                np.array(u["x"][u["row0"]:u["row0"] + u["nrows"]]),
                np.array(u["d"][u["col0"]:u["col0"] + u["ncols"]]),
                mode=mode, row_gain=u["gains"][0], col_gain=u["gains"][1],
                dither=u["dither"], row0=u["row0"], col0=u["col0"],
            )
            ctx.set(seq.args, {
                "mode": UpdateMode.STOCHASTIC if mode == "stochastic" else UpdateMode.DETERMINISTIC,
                "dither": u["dither"], "row_gain": u["gains"][0], "col_gain": u["gains"][1],
                "row0": u["row0"], "nrows": u["nrows"], "col0": u["col0"], "ncols": u["ncols"],
            })
            ctx.set(seq.start, 1)
            await ctx.tick()
            ctx.set(seq.start, 0)
            counts = np.zeros((cfg.rows, cfg.cols), dtype=np.int64)
            for k, (pol, rf, cf) in enumerate(slots):
                got = await stream_get(ctx, seq.slots, rng)
                rows = np.array([(got.rows >> i) & 1 for i in range(cfg.rows)], dtype=bool)
                cols = np.array([(got.cols >> j) & 1 for j in range(cfg.cols)], dtype=bool)
                exp_rows = np.zeros(cfg.rows, bool)
                exp_rows[u["row0"]:u["row0"] + u["nrows"]] = rf
                exp_cols = np.zeros(cfg.cols, bool)
                exp_cols[u["col0"]:u["col0"] + u["ncols"]] = cf
                assert got.negative == (pol < 0), f"slot {k}"
                assert (rows == exp_rows).all(), f"slot {k} rows"
                assert (cols == exp_cols).all(), f"slot {k} cols"
                counts += np.outer(rows, cols) * pol
            await ctx.tick().until(seq.done)
            assert ctx.get(seq.slot_count) == plan.slots
            assert ctx.get(seq.lfsr_draws) == ref.lfsr.draws
            window = counts[u["row0"]:u["row0"] + u["nrows"], u["col0"]:u["col0"] + u["ncols"]]
            assert (window == plan.counts).all()
            assert counts.sum() == window.sum()  # nothing outside the window
            # no stray slot after done
            for _ in range(3):
                assert not ctx.get(seq.slots.valid)
                await ctx.tick()
            if reset_between:
                ctx.set(rst, 1)
                await ctx.tick()
                ctx.set(rst, 0)
                ref = ControllerReference(cfg)

    simulate(top, testbench)


CONFIGS = [
    ControllerConfig(rows=4, cols=5, dac_bits=6, count_bits=2, bl=7, prob_bits=5, seed=3),
    ControllerConfig(rows=3, cols=2, dac_bits=2, count_bits=1, bl=3, prob_bits=1, seed=11),
    ControllerConfig(rows=6, cols=4, dac_bits=8, count_bits=3, bl=10, prob_bits=8, seed=7),
]
# the same with slot periods long enough for the serial sequencer (every board build)
SERIAL_CONFIGS = [
    ControllerConfig(**{**c.to_dict(), "pulse_gap": c.rows + c.cols + 2 - c.pulse_width + extra})
    for c, extra in zip(CONFIGS, (0, 5, 1))
]
assert not any(serial_masks(c) for c in CONFIGS) and all(serial_masks(c) for c in SERIAL_CONFIGS)


@pytest.mark.parametrize("cfg", CONFIGS + SERIAL_CONFIGS,
                         ids=lambda c: f"{c.rows}x{c.cols}d{c.dac_bits}" + ("s" if serial_masks(c) else ""))
@pytest.mark.parametrize("mode", ["deterministic", "stochastic"])
def test_sequencer_matches_reference(cfg, mode):
    run_updates(cfg, mode, n_updates=6, seed=cfg.seed * 7 + (mode == "stochastic"))


@pytest.mark.parametrize("cfg", [CONFIGS[2], SERIAL_CONFIGS[2]], ids=["parallel", "serial"])
@pytest.mark.parametrize("mode", ["deterministic", "stochastic"])
def test_reset_restarts_lfsrs_from_seeds(cfg, mode):
    run_updates(cfg, mode, n_updates=3, seed=5, reset_between=True)


@pytest.mark.parametrize("cfg", [CONFIGS[0], SERIAL_CONFIGS[0]], ids=["parallel", "serial"])
def test_device_pulses(cfg):
    seq = update_sequencer(cfg)
    top = Buffers(cfg, seq)

    async def testbench(ctx):
        for row, col, count, neg in ((1, 2, 3, 0), (3, 0, 1, 1), (0, 4, 0, 0)):
            ctx.set(seq.pulse_args, {"row": row, "col": col, "count": count, "negative": neg})
            ctx.set(seq.pulse_start, 1)
            await ctx.tick()
            ctx.set(seq.pulse_start, 0)
            for _ in range(count):
                got = await stream_get(ctx, seq.slots, random.Random(count))
                assert got.rows == 1 << row and got.cols == 1 << col and got.negative == neg
            await ctx.tick().until(seq.done)
            assert ctx.get(seq.slot_count) == count
            assert ctx.get(seq.lfsr_draws) == 0

    simulate(top, testbench)


@pytest.mark.slow
@pytest.mark.parametrize("gap", [1, 42], ids=["parallel", "serial"])
@pytest.mark.parametrize("mode", ["deterministic", "stochastic"])
def test_sequencer_default_config_16x16(mode, gap):
    cfg = ControllerConfig(rows=16, cols=16, seed=2024, pulse_gap=gap)
    run_updates(cfg, mode, n_updates=4, seed=99)
