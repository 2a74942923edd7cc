"""Pulse-width-dependent physics: a pulse of ``w`` nominal widths moves a device by the step
times ``w ** width_exponent``; at the nominal width the physics is unchanged, bit for bit."""

import numpy as np
import pytest
from insitu.golden import noise
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.devices import DeviceArray, DeviceParams
from insitu.golden.presets import PRESETS

CFG = ControllerConfig(rows=6, cols=5)
TABLE = DeviceParams(family="table", table_g=(0.0, 50.0, 100.0), table_up=(0.4, 0.2, 0.05),
                     table_down=(0.05, 0.2, 0.4), d2d=0.1, c2c=0.2)
DEVICES = [PRESETS[k] for k in ("ecram_organic", "rram_oxide", "li_ecram", "reram_es",
                                "reram_sb", "pcm_pair")] + [TABLE]


def _counts(seed=0):
    return np.random.default_rng(seed).integers(-5, 6, size=(1, CFG.rows, CFG.cols))


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.family)
@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_nominal_width_is_the_unchanged_physics_bit_for_bit(device, engine):
    plain = GoldenBackend(CFG, device, seed=3, engine=engine)
    nominal = GoldenBackend(CFG, device, seed=3, engine=engine)
    # the unscaled device call itself, as apply_counts made it before widths existed
    direct = GoldenBackend(CFG, device, seed=3, engine="numpy")
    for k in range(4):
        n = _counts(k)
        plain.apply_counts(n, 0, 0)
        nominal.apply_counts(n, 0, 0, width=1.0)
        if direct.unidirectional:
            npair = np.stack([np.maximum(n, 0), np.maximum(-n, 0)], axis=1)
        else:
            npair = n[:, None] * direct._pair_sign if direct.pairs == 2 else n[:, None]
        key = direct._next_burst_key()
        xi = None
        if device.c2c:
            kk, p, i, j = np.nonzero(npair)
            xi = noise.normals(key, ((kk * direct.pairs + p) * CFG.rows + i) * CFG.cols + j)
        direct.devices.apply_pulses(npair, xi=xi)
    assert np.array_equal(plain.conductances, nominal.conductances)
    if engine == "numpy":
        assert np.array_equal(plain.conductances, direct.devices.g)
    else:  # the compiled twin: equal to rounding of the noise draws
        np.testing.assert_allclose(plain.conductances, direct.devices.g, rtol=0, atol=1e-9)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 3.7])
def test_width_scale_is_exactly_one_at_the_nominal_width(exponent):
    p = DeviceParams(width_exponent=exponent)
    assert p.width_scale(1.0) == 1.0
    assert p.width_scale(1.5) == 1.5 ** exponent


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("exponent,factor", [(1.0, 1.5), (2.0, 2.25), (0.0, 1.0)])
def test_a_longer_pulse_moves_a_constant_step_device_further(engine, exponent, factor):
    dev = PRESETS["ideal"].with_(width_exponent=exponent)
    nominal = GoldenBackend(CFG, dev, seed=1, engine=engine)
    long = GoldenBackend(CFG, dev, seed=1, engine=engine)
    n = np.zeros((1, CFG.rows, CFG.cols), dtype=np.int64)
    n[0, 2, 3] = 4
    g0 = nominal.conductances.copy()
    nominal.apply_counts(n, 0, 0)
    long.apply_counts(n, 0, 0, width=3 / 2)  # three ticks where two are nominal
    moved = nominal.conductances - g0
    np.testing.assert_allclose(long.conductances - g0, factor * moved, rtol=1e-12, atol=1e-12)
    assert np.abs(moved[0, :, 2, 3]).min() > 0


def test_width_scaling_is_the_step_scale_of_every_family():
    """Every family: a burst of 1.5-wide pulses is ``apply_pulses(scale=1.5)``."""
    rng = np.random.default_rng(4)
    for device in DEVICES:
        dev = device.with_(c2c=0.0)
        b = GoldenBackend(CFG, dev, seed=5, engine="numpy")
        ref = DeviceArray.create(dev, (1, b.pairs, CFG.rows, CFG.cols), np.random.default_rng(5))
        n = rng.integers(0, 4, size=(1, CFG.rows, CFG.cols))  # SET-only safe
        b.apply_counts(n, 0, 0, width=1.5)
        npair = (np.stack([n, np.zeros_like(n)], axis=1) if b.unidirectional
                 else n[:, None] * b._pair_sign)
        ref.apply_pulses(npair, scale=1.5)
        assert np.array_equal(b.conductances, ref.g), dev.family


def test_width_exponent_is_checked():
    with pytest.raises(ValueError, match="width_exponent"):
        DeviceParams(width_exponent=-0.5)
    with pytest.raises(ValueError, match="width_exponent"):
        DeviceParams(width_exponent=5.0)
