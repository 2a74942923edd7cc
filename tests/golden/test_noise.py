"""Counter-based cycle-to-cycle draws: one function in numpy and numba, Gaussian, reproducible."""

import numpy as np

from insitu.golden import noise
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.presets import ecram_organic


def test_numpy_and_numba_draws_agree():
    key = noise.burst_key(noise.base_key(7), 3)
    idx = np.arange(200_000, dtype=np.uint64) * np.uint64(977)
    a = noise.normals(key, idx)
    b = np.empty(idx.size)
    noise.normals_numba(key, idx, b)
    central = np.abs(a) < 1.97  # Phi^-1(0.02425) = -1.9729: pure arithmetic there
    assert np.array_equal(a[central], b[central])
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)


def test_batched_draws_equal_the_single_ones_bit_for_bit():
    key = noise.burst_key(noise.base_key(11), 5)
    idx = np.random.default_rng(0).integers(0, 2**40, 50_000).astype(np.uint64)
    one = np.empty(idx.size)
    noise.normals_numba(key, idx, one)
    out, uniforms = np.full(idx.size + 3, 7.0), np.empty(idx.size)
    noise.normals_into(key, idx, idx.size - 100, out, uniforms)
    assert np.array_equal(out[:-103], one[:-100])  # the tails too
    assert np.all(out[-103:] == 7.0)  # only the first n are written
    assert 0.04 < np.mean(np.abs(one) > 1.97) < 0.06


def test_draws_are_standard_normal():
    x = noise.normals(noise.burst_key(noise.base_key(1), 0), np.arange(1_000_000))
    assert abs(x.mean()) < 0.005 and abs(x.std() - 1) < 0.005
    for t, p in ((1.0, 0.31731), (2.0, 0.04550), (3.0, 0.00270)):
        assert abs(np.mean(np.abs(x) > t) - p) < 4 * np.sqrt(p / len(x))
    # neighbouring indices and neighbouring bursts are uncorrelated
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.005
    y = noise.normals(noise.burst_key(noise.base_key(1), 1), np.arange(1_000_000))
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.005


def test_seed_and_burst_select_the_draws():
    idx = np.arange(64)
    base = noise.base_key(5)
    assert np.array_equal(noise.normals(noise.burst_key(base, 2), idx),
                          noise.normals(noise.burst_key(noise.base_key(5), 2), idx))
    assert not np.allclose(noise.normals(noise.burst_key(base, 2), idx),
                           noise.normals(noise.burst_key(base, 3), idx))
    assert not np.allclose(noise.normals(noise.burst_key(base, 2), idx),
                           noise.normals(noise.burst_key(noise.base_key(6), 2), idx))


def test_empty_bursts_do_not_advance_the_noise():
    """A co-simulation may skip an update command that moves nothing: the draws of the
    next burst must not depend on it."""
    cfg = ControllerConfig(rows=6, cols=5)
    dev = ecram_organic.with_(c2c=0.3)
    for engine in ("numpy", "numba"):
        a = GoldenBackend(cfg, dev, seed=2, engine=engine)
        b = GoldenBackend(cfg, dev, seed=2, engine=engine)
        n = np.random.default_rng(0).integers(-4, 5, size=(1, 6, 5))
        a.apply_counts(np.zeros_like(n), 0, 0)
        a.apply_counts(n, 0, 0)
        b.apply_counts(n, 0, 0)
        assert a.c2c_bursts == b.c2c_bursts == 1
        np.testing.assert_array_equal(a.conductances, b.conductances)


def test_engines_agree_on_noisy_bursts():
    cfg = ControllerConfig(rows=6, cols=5)
    dev = ecram_organic.with_(c2c=0.3)
    a = GoldenBackend(cfg, dev, seed=4, engine="numpy")
    b = GoldenBackend(cfg, dev, seed=4, engine="numba")
    rng = np.random.default_rng(1)
    for _ in range(10):
        n = rng.integers(-4, 5, size=(1, 3, 4))
        a.apply_counts(n, 2, 1)
        b.apply_counts(n, 2, 1)
    np.testing.assert_allclose(a.conductances, b.conductances, rtol=0, atol=1e-12)
    assert a.c2c_bursts == b.c2c_bursts == 10
