"""Device families: bounds, closed forms, noise composition, validation."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insitu.golden.devices import DeviceArray, DeviceParams, read_curve_csv, simulate_curve
from insitu.golden.presets import PRESETS, ecram_organic, get_device, rram_oxide

TABLE = DeviceParams(family="table", g_min=0.0, g_max=50.0, dw_min=0.5,
                     table_g=(0.0, 25.0, 50.0), table_up=(1.0, 0.5, 0.1),
                     table_down=(0.1, 0.6, 1.2))
FAMILIES = {
    "constant": ecram_organic.with_(c2c=0.0),
    "soft_bounds": ecram_organic.with_(family="soft_bounds", c2c=0.0, dw_min=2.0),
    "power": rram_oxide.with_(c2c=0.0, stuck_low=0.0, stuck_high=0.0),
    "table": TABLE.with_(d2d=0.2),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_closed_form_equals_one_pulse_at_a_time(family):
    p = FAMILIES[family]
    rng = np.random.default_rng(0)
    n = rng.integers(-40, 41, size=(5, 7))
    a = DeviceArray.create(p, (5, 7), np.random.default_rng(1))
    b = DeviceArray.create(p, (5, 7), np.random.default_rng(1))
    a.apply_pulses(n)
    for k in range(40):
        b.apply_pulse(np.where(np.abs(n) > k, np.sign(n), 0))
    np.testing.assert_allclose(a.g, b.g, rtol=0, atol=1e-9)
    assert not np.array_equal(a.g, DeviceArray.create(p, (5, 7), np.random.default_rng(1)).g)


@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(sorted(FAMILIES)),
       seqs=st.lists(st.integers(-300, 300), min_size=1, max_size=12),
       c2c=st.floats(0.0, 2.0), seed=st.integers(0, 2**32 - 1))
def test_conductance_never_leaves_its_bounds(family, seqs, c2c, seed):
    p = FAMILIES[family].with_(c2c=c2c, bounds_d2d=0.2, d2d=0.5)
    rng = np.random.default_rng(seed)
    dev = DeviceArray.create(p, (3, 4), rng)
    for m in seqs:
        n = rng.integers(-abs(m), abs(m) + 1, size=(3, 4))
        dev.apply_pulses(n, rng)
        assert np.all(dev.g >= dev.g_lo - 1e-12) and np.all(dev.g <= dev.g_hi + 1e-12)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(-400, 400), g0=st.floats(0.0, 100.0))
def test_constant_step_moves_exactly_n_steps(n, g0):
    p = DeviceParams(family="constant", g_min=0.0, g_max=100.0, dw_min=0.125, up_down=0.2)
    dev = DeviceArray.create(p, (1,), np.random.default_rng(0), g0=g0)
    dev.apply_pulses(np.array([n]))
    step = 0.125 * (1.2 if n > 0 else 0.8)
    assert dev.g[0] == pytest.approx(min(max(g0 + n * step, 0.0), 100.0), abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 2000), g0=st.floats(0.0, 100.0))
def test_soft_bounds_saturates_as_its_closed_form_predicts(n, g0):
    p = DeviceParams(family="soft_bounds", g_min=0.0, g_max=100.0, dw_min=1.0)
    dev = DeviceArray.create(p, (1,), np.random.default_rng(0), g0=g0)
    dev.apply_pulses(np.array([n]))
    assert dev.g[0] == pytest.approx(100.0 - (100.0 - g0) * 0.99**n, abs=1e-9)
    dev.apply_pulses(np.array([-n]))
    assert dev.g[0] <= 100.0


def test_c2c_noise_composition_matches_per_pulse_statistics():
    """One draw per device and update: sum of n Gaussian step errors (constant step)."""
    p = DeviceParams(family="constant", g_min=0.0, g_max=1e6, dw_min=1.0, c2c=0.3)
    dev = DeviceArray.create(p, (20000,), np.random.default_rng(0), g0=1000.0)
    rng = np.random.default_rng(1)
    dev.apply_pulses(np.full(20000, 25), rng)
    moved = dev.g - 1000.0
    assert moved.mean() == pytest.approx(25.0, abs=0.05)
    assert moved.std() == pytest.approx(0.3 * np.sqrt(25), rel=0.03)


def test_stuck_devices_never_move():
    p = ecram_organic.with_(stuck_low=0.2, stuck_high=0.2)
    dev = DeviceArray.create(p, (50, 50), np.random.default_rng(3))
    frac = dev.stuck.mean()
    assert 0.3 < frac < 0.5
    before = dev.g[dev.stuck].copy()
    dev.apply_pulses(np.full((50, 50), 30), np.random.default_rng(4))
    np.testing.assert_array_equal(dev.g[dev.stuck], before)


def test_fixed_pattern_is_seeded():
    a = DeviceArray.create(rram_oxide, (8, 8), np.random.default_rng(5))
    b = DeviceArray.create(rram_oxide, (8, 8), np.random.default_rng(5))
    c = DeviceArray.create(rram_oxide, (8, 8), np.random.default_rng(6))
    np.testing.assert_array_equal(a.up, b.up)
    assert not np.array_equal(a.up, c.up)


@pytest.mark.parametrize("kw, word", [
    (dict(g_min=10.0, g_max=5.0), "g_min must be < g_max"),
    (dict(g_min=5.0, g_max=5.0), "g_min must be < g_max"),
    (dict(dw_min=-1.0), "dw_min"),
    (dict(up_down=1.5), "up_down"),
    (dict(c2c=float("nan")), "c2c"),
    (dict(stuck_low=1.5), "stuck_low"),
    (dict(stuck_low=0.6, stuck_high=0.6), "stuck_low + stuck_high"),
    (dict(family="quantum"), "family must be one of"),
    (dict(d2d=-0.1), "d2d"),
    (dict(family="table", table_g=(0, 1), table_up=(1,), table_down=(1, 1)), "table_g"),
])
def test_bad_device_parameters_name_themselves(kw, word):
    with pytest.raises(ValueError, match=re.escape(word)):
        DeviceParams(**kw)


def test_presets_cite_sources_and_roundtrip():
    for name, p in PRESETS.items():
        assert p.name == name and len(p.source) > 40
        assert DeviceParams.from_dict(p.to_dict()) == p
        assert get_device(name) is p
    assert 450 <= ecram_organic.states <= 600  # "hundreds of distinguishable states"
    with pytest.raises(ValueError, match="device must be one of"):
        get_device("unobtainium")


def test_simulate_curve_matches_family_law():
    g = simulate_curve(FAMILIES["constant"].with_(d2d=0, up_down=0, bounds_d2d=0),
                       [1, 1, -1], 50.0)
    np.testing.assert_allclose(g, [50.2, 50.4, 50.2])


def test_curve_csv_errors(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("pulse,polarity,conductance_us\n0,1,1.0\n1,2,1.0\n")
    with pytest.raises(ValueError, match="polarity must be"):
        read_curve_csv(f)
    with pytest.raises(ValueError, match="does not exist"):
        read_curve_csv(tmp_path / "missing.csv")
