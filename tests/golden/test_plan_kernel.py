"""The compiled stochastic plan (golden/plan_kernel.py) against the numpy reference, bit for bit."""

import numpy as np
import pytest

from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference


def _same_plan(a, b):
    assert a.slots == b.slots and a.subphases == b.subphases
    for name in ("counts", "row_levels", "col_levels", "row_negative", "col_negative"):
        u, v = getattr(a, name), getattr(b, name)
        assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v), name
    assert len(a.row_bits) == len(b.row_bits) == len(a.col_bits) == len(b.col_bits)
    for u, v in zip(a.row_bits + a.col_bits, b.row_bits + b.col_bits):
        assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v)


def _random_codes(rng, n, m):
    kind = rng.integers(0, 4)
    if kind == 0:  # all zero: no subphase runs
        return np.zeros(n, dtype=np.int64)
    if kind == 1:  # one sign only
        return rng.integers(0, m + 1, size=n) * (1 if rng.integers(2) else -1)
    if kind == 2:  # extremes
        return rng.choice(np.array([-m, 0, m]), size=n)
    return rng.integers(-m, m + 1, size=n)


@pytest.mark.parametrize("shape", [(6, 5, 15, 8, 7), (16, 16, 31, 8, 8), (5, 9, 1, 6, 4)])
def test_compiled_stochastic_plans_equal_the_numpy_ones(shape):
    rows, cols, bl, dac_bits, prob_bits = shape
    cfg = ControllerConfig(rows=rows, cols=cols, bl=bl, dac_bits=dac_bits, prob_bits=prob_bits,
                           seed=int(rows * 31 + cols))
    fast, slow = ControllerReference(cfg), ControllerReference(cfg, compiled=False)
    rng = np.random.default_rng(rows * 100 + cols)
    gains = [0, 1, cfg.prob_max // 2, cfg.prob_max]
    for n in range(150):
        row0, col0 = int(rng.integers(0, rows)), int(rng.integers(0, cols))
        nr = int(rng.integers(0, rows - row0 + 1))  # empty windows included
        nc = int(rng.integers(0, cols - col0 + 1))
        x = _random_codes(rng, nr, cfg.dac_max)
        d = _random_codes(rng, nc, cfg.dac_max)
        rg = int(rng.choice(gains)) if n % 2 else int(rng.integers(0, cfg.prob_max + 1))
        cg = int(rng.choice(gains)) if n % 3 else int(rng.integers(0, cfg.prob_max + 1))
        kw = {"mode": "stochastic", "row_gain": rg, "col_gain": cg, "row0": row0, "col0": col0}
        _same_plan(fast.plan_update(x, d, **kw), slow.plan_update(x, d, **kw))
        assert fast.lfsr.draws == slow.lfsr.draws
        if n % 7 == 0:  # deterministic updates in between share the bank's draws
            kw = dict(mode="deterministic", row_gain=cfg.count_max, col_gain=1, dither=True,
                      row0=row0, col0=col0)
            _same_plan(fast.plan_update(x, d, **kw), slow.plan_update(x, d, **kw))
    assert fast.lfsr.draws == slow.lfsr.draws > 0


def test_a_planted_difference_is_seen():
    # the comparison itself fails on a plan one slot's bit apart
    cfg = ControllerConfig(rows=4, cols=4, bl=7)
    x, d = np.array([100, -50, 127, 3]), np.array([-90, 60, 127, -1])
    a = ControllerReference(cfg).plan_update(x, d, mode="stochastic", row_gain=200, col_gain=200)
    b = ControllerReference(cfg, compiled=False).plan_update(x, d, mode="stochastic",
                                                             row_gain=200, col_gain=200)
    b.row_bits[0][0, 0] = ~b.row_bits[0][0, 0]
    with pytest.raises(AssertionError):
        _same_plan(a, b)
