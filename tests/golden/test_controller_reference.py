"""The golden controller reference: LFSRs, update schedules, ADC sequencing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insitu.golden.config import ControllerConfig
from insitu.golden.controller import (
    LFSR_PERIOD, ControllerReference, LfsrBank, deterministic_counts, lfsr_draw, lfsr_seeds,
    lfsr_step, program_steps,
)


def test_lfsr_is_maximal_and_table_matches_stepping():
    s, seen = 1, set()
    for _ in range(LFSR_PERIOD):
        seen.add(s)
        s = lfsr_step(s)
    assert s == 1 and len(seen) == LFSR_PERIOD and 0 not in seen
    cfg = ControllerConfig(rows=3, cols=2, seed=77)
    bank = LfsrBank(cfg)
    states = [int(v) for v in lfsr_seeds(cfg)]
    block = bank.draw_block(5)
    for t in range(5):
        states = [lfsr_draw(v) for v in states]
        assert list(block[t]) == states


def test_seeds_differ_per_line_and_per_seed():
    a = lfsr_seeds(ControllerConfig(rows=16, cols=16, seed=1))
    b = lfsr_seeds(ControllerConfig(rows=16, cols=16, seed=2))
    assert len(set(a.tolist())) == 32 and not np.array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), mode=st.sampled_from(["deterministic", "stochastic"]),
       dither=st.booleans(), rg=st.integers(0, 7), cg=st.integers(0, 7))
def test_slot_schedule_sums_to_the_counts(seed, mode, dither, rg, cg):
    cfg = ControllerConfig(rows=6, cols=5, bl=15)
    rng = np.random.default_rng(seed)
    x = rng.integers(-127, 128, 6) * (rng.random(6) < 0.7)
    d = rng.integers(-127, 128, 5)
    ref = ControllerReference(cfg)
    if mode == "stochastic":
        rg, cg = rg * 36, cg * 36
    plan, slots = ref.schedule(x, d, mode=mode, row_gain=rg, col_gain=cg, dither=dither)
    n = np.zeros((6, 5), dtype=np.int64)
    for pol, rows, cols in slots:
        assert pol in (1, -1)
        # a slot only fires lines of its subphase's signs
        assert np.all((x[rows] < 0) == (x[rows][0] < 0)) if rows.any() else True
        n += pol * np.outer(rows, cols)
    np.testing.assert_array_equal(n, plan.counts)
    assert len(slots) == plan.slots
    assert np.all(np.sign(plan.counts) * np.sign(np.outer(x, d)) >= 0)


def test_deterministic_counts_are_products_and_vectorised_path_agrees():
    cfg = ControllerConfig(rows=8, cols=4)
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, d = rng.integers(-127, 128, 8), rng.integers(-127, 128, 4)
        plan = ControllerReference(cfg).plan_update(x, d, row_gain=7, col_gain=5)
        a = (np.abs(x) * 7 + 64) >> 7
        b = (np.abs(d) * 5 + 64) >> 7
        np.testing.assert_array_equal(np.abs(plan.counts), np.outer(a, b))
        n, slots = deterministic_counts(x[None], d[None], 7, 5, cfg.dac_bits)
        np.testing.assert_array_equal(n[0], plan.counts)
        assert slots[0] == plan.slots


def test_stochastic_and_dithered_updates_are_unbiased():
    cfg = ControllerConfig(rows=4, cols=3, bl=31, prob_bits=8)
    x = np.array([127, 64, -32, 0])
    d = np.array([127, -100, 20])
    ref = ControllerReference(cfg)
    acc = np.zeros((4, 3))
    trials = 400
    for _ in range(trials):
        acc += ref.plan_update(x, d, mode="stochastic", row_gain=256, col_gain=256).counts
    # E[n] = bl * p_row * p_col with firing probabilities p = code / 2**prob_bits
    p_row = ((np.abs(x) * 256 + 64) >> 7) / 256
    p_col = ((np.abs(d) * 256 + 64) >> 7) / 256
    expected = 31 * np.outer(p_row, p_col) * np.sign(np.outer(x, d))
    np.testing.assert_allclose(acc / trials, expected, atol=0.8)
    acc = np.zeros((4, 3))
    for _ in range(trials):
        acc += ref.plan_update(x, d, row_gain=3, col_gain=3, dither=True).counts
    np.testing.assert_allclose(acc / trials, np.outer(x * 3 / 128, d * 3 / 128), atol=0.15)


def test_adc_sequencing_and_averaging():
    ref = ControllerReference(ControllerConfig(rows=8, cols=10, adcs=4, adc_average=4))
    assert list(ref.adc_positions(3, 9)) == [0, 1, 2]
    assert list(ref.average([[1, -3], [2, -3], [2, -2], [2, -3]])) == [2, -3]


def test_program_steps():
    assert list(program_steps([100, 100, 100, 0], [99, 40, 180, 0], tolerance=2, shift=3,
                              count_max=7)) == [0, 7, -7, 0]
    assert ControllerReference(ControllerConfig()).program_step(10, 0, tolerance=0, shift=3) == 1


def test_bad_update_arguments():
    ref = ControllerReference(ControllerConfig(rows=4, cols=4))
    with pytest.raises(ValueError, match="x_codes must have shape"):
        ref.plan_update(np.zeros(3, int), np.zeros(4, int), row_gain=1, col_gain=1, row0=2)
    with pytest.raises(ValueError, match="col_gain"):
        ref.plan_update(np.zeros(4, int), np.zeros(4, int), row_gain=1, col_gain=99)
