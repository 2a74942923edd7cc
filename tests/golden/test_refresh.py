"""The PCM-like unidirectional pair: the set_reset family (gradual SET, abrupt RESET), the
backend's SET-only pair drive, and the controller's refresh."""

import numpy as np
import pytest
from insitu.golden.backends import GoldenBackend, IdealBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.devices import DeviceArray, DeviceParams, simulate_curve
from insitu.golden.fit import example_pulse_train, fit_curve
from insitu.golden.presets import ecram_organic, pcm_pair
from insitu.golden.refresh import PairRefresh, RefreshedStep

CFG = ControllerConfig(rows=6, cols=5)
QUIET = pcm_pair.with_(read_noise=0.0, c2c=0.0)


def _one(p, g):
    return DeviceArray.create(p.with_(d2d=0, bounds_d2d=0, c2c=0), (len(g),),
                              np.random.default_rng(0), g0=np.asarray(g, dtype=float))


def test_set_reset_law_and_n_pulses():
    g = np.array([0.0, 30.0, 90.0])
    dev = _one(QUIET, g)
    np.testing.assert_allclose(dev.step_size(g, np.ones(3, bool)), 0.5 * (100 - g) / 100)
    dev.apply_pulse(np.array([0, -1, -1]))  # one depression pulse: RESET all the way down
    np.testing.assert_allclose(dev.g, [0.0, 0.0, 0.0])
    rng = np.random.default_rng(1)
    g0 = rng.uniform(0, 100, 30)
    n = rng.integers(-5, 40, 30)
    a, b = _one(QUIET, g0), _one(QUIET, g0)
    a.apply_pulses(n)
    for k in range(40):
        b.apply_pulse(np.where(np.abs(n) > k, np.sign(n), 0))
    np.testing.assert_allclose(a.g, b.g, rtol=0, atol=1e-12)
    # a fresh device starts RESET, at its own g_min
    fresh = DeviceArray.create(pcm_pair, (50,), np.random.default_rng(0))
    np.testing.assert_array_equal(fresh.g, fresh.g_lo)


def test_reset_takes_no_cycle_to_cycle_noise():
    dev = DeviceArray.create(pcm_pair, (20,), np.random.default_rng(0), g0=60.0)
    dev.apply_pulses(-np.ones(20, dtype=int), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(dev.g, dev.g_lo)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_pairs_are_driven_set_only(engine):
    b = GoldenBackend(CFG, QUIET, seed=0, engine=engine)
    g0 = b.conductances.copy()
    x = np.array([127, -127, 60, 0, 127, -30])
    d = np.array([127, 127, -127, 90, -60])
    for _ in range(5):
        b.update(x, d, row_gain=7, col_gain=7)
        assert np.all(b.conductances >= g0 - 1e-12)  # no device ever moves down
        g0 = b.conductances.copy()
    w = b.read_weights()
    sign = np.sign(np.outer(x, d))
    assert np.all(w[0][sign > 0] > 0) and np.all(w[0][sign < 0] < 0)
    # one device of the pair takes each pulse: pulses are counted once
    c = ControllerConfig(rows=1, cols=1)
    one = GoldenBackend(c, QUIET, seed=0, engine=engine)
    one.apply_counts(np.array([[[-3]]]), 0, 0)
    assert one.stats.pulses == 3 and one.conductances[0, 0, 0, 0] == one.devices.g_lo[0, 0, 0, 0]
    assert one.conductances[0, 1, 0, 0] > one.devices.g_lo[0, 1, 0, 0]


def _saturate(b, steps=60):
    """Alternating updates: both devices of a pair climb, faster on the first rows."""
    K = b.instances
    x = np.broadcast_to(np.array([127, 127, 90, 50, 20, 0]), (K, 6))
    for k in range(steps):
        b.update(x, np.full((K, 5), 127 * (-1) ** k), row_gain=7, col_gain=7)


def test_refresh_keeps_the_weight_and_frees_the_pair():
    b = GoldenBackend(CFG, QUIET, seed=1, instances=2)
    b.program(np.random.default_rng(0).uniform(-0.3, 0.3, (6, 5)))
    _saturate(b)
    ref = PairRefresh(b, rows_per_check=6)
    # the pairs the check should find: a device's noiseless read at 0.75 of the range or more
    codes = np.minimum(np.floor(b.conductances / 100 * b.adc_max + 0.5), b.adc_max)
    due = (codes >= np.ceil(0.75 * b.adc_max)).any(axis=1)
    assert due.any() and not due.all()
    g_before, w_before = b.conductances.copy(), b.read_weights()
    assert ref() == int(due.sum())
    # the weight survives within write-verify's tolerance (+1 code of read quantisation)
    lsb = b.periphery.program_bound / b.adc_max
    err = np.abs(b.read_weights() - w_before)
    assert err[due].max() <= (ref.tolerance + 1) * lsb
    # the refreshed pairs start over near the bottom; the others are untouched
    assert np.all(b.conductances.max(axis=1)[due] < 40.0)
    np.testing.assert_array_equal(b.conductances.transpose(0, 2, 3, 1)[~due],
                                  g_before.transpose(0, 2, 3, 1)[~due])
    assert b.stats.reset_pulses == 2 * int(due.sum())
    assert ref.counters["refreshed"] == int(due.sum()) and ref.counters["device_reads"] == 120


def test_a_refresh_that_forgets_to_reprogram_is_caught(monkeypatch):
    """The tolerance check above fails for a refresh that only RESETs (planted fault)."""
    b = GoldenBackend(CFG, QUIET, seed=1)
    b.program(np.random.default_rng(0).uniform(-0.3, 0.3, (6, 5)))
    _saturate(b)
    ref = PairRefresh(b, rows_per_check=6)
    w_before = b.read_weights()
    monkeypatch.setattr(b, "program", lambda *a, **k: None)
    ref()
    assert np.abs(b.read_weights() - w_before).max() > 10 * (ref.tolerance + 1) / b.adc_max


def test_refresh_keeps_a_pair_trainable():
    """Pushing one weight up for long: without refresh G+ saturates and the weight stalls."""
    def push(refresh):
        b = GoldenBackend(ControllerConfig(rows=1, cols=1), QUIET, seed=0)
        ref = PairRefresh(b)
        for k in range(400):
            b.update(np.array([127]), np.array([127 if k % 3 else -127]), row_gain=7,
                     col_gain=7)
            if refresh:
                ref()
        return b.read_weights()[0, 0, 0], ref.counters["refreshed"]

    w_ref, n = push(True)
    w_plain, _ = push(False)
    assert n > 0 and w_ref > 1.5 * w_plain


def test_refresh_is_deterministic_and_resumes():
    def run(split=None):
        b = GoldenBackend(CFG, pcm_pair, seed=4)
        ref = PairRefresh(b)
        rng = np.random.default_rng(0)
        state = None
        for k in range(40):
            if k == split:
                state = (b.state_dict(), ref.state_dict())
                b = GoldenBackend(CFG, pcm_pair, seed=4)
                ref = PairRefresh(b)
                b.load_state_dict(state[0])
                ref.load_state_dict(state[1])
            b.update(rng.integers(-127, 128, 6), rng.integers(-127, 128, 5), row_gain=7,
                     col_gain=7)
            ref()
        return b.conductances, ref.counters, b.stats

    a, b_, c = run(), run(), run(split=17)
    np.testing.assert_array_equal(a[0], b_[0])
    np.testing.assert_array_equal(a[0], c[0])
    assert a[1] == b_[1] == c[1] and a[1]["refreshed"] > 0
    assert a[2] == c[2]


@pytest.mark.parametrize("make, needle", [
    (lambda: PairRefresh(GoldenBackend(CFG, QUIET), threshold=0.4),
     r"threshold must be in \[0.5, 1.0\)"),
    (lambda: PairRefresh(GoldenBackend(CFG, QUIET), threshold=1.0),
     r"threshold must be in \[0.5, 1.0\)"),
    (lambda: PairRefresh(GoldenBackend(CFG, QUIET), rows_per_check=7),
     r"rows_per_check must be .*\[1, 6\]"),
    (lambda: PairRefresh(GoldenBackend(CFG, QUIET), tolerance=-1), r"tolerance must be"),
    (lambda: PairRefresh(GoldenBackend(CFG, ecram_organic)),
     "pair refresh is for device families set_reset"),
    (lambda: PairRefresh(IdealBackend(CFG, QUIET)), "drives a GoldenBackend"),
    (lambda: GoldenBackend(CFG, QUIET, mapping="reference"), "needs mapping 'differential'"),
    (lambda: GoldenBackend(CFG, QUIET).reset_pairs(np.ones((6, 5), bool)),
     r"mask must be a bool array of shape \(1, 6, 5\)"),
    (lambda: GoldenBackend(CFG, QUIET).program(np.zeros((6, 5)), mask=np.ones((6, 5))),
     "mask must be a bool array"),
    (lambda: IdealBackend(CFG, QUIET).program(np.zeros((6, 5)),
                                              mask=np.ones((1, 6, 5), bool)),
     "IdealBackend has no masked write-verify"),
    (lambda: DeviceParams(family="set_reset", dw_min=60.0, up_down=0.7),
     r"dw_min\*\(1\+\|up_down\|\) must be < g_max - g_min for set_reset"),
])
def test_bad_refresh_parameters(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()


def test_masked_program_touches_only_the_mask():
    b = GoldenBackend(CFG, QUIET, seed=2)
    b.program(np.full((6, 5), 0.2))
    g0 = b.conductances.copy()
    mask = np.zeros((1, 6, 5), bool)
    mask[0, 1, 2] = mask[0, 4, 0] = True
    b.program(np.full((6, 5), -0.3), mask=mask)
    w = b.read_weights()[0]
    assert abs(w[1, 2] + 0.3) < 0.01 and abs(w[4, 0] + 0.3) < 0.01
    keep = ~mask[0]
    np.testing.assert_array_equal(b.conductances[0][:, keep], g0[0][:, keep])


def test_fit_recovers_set_reset():
    truth = QUIET.with_(g_min=5.0, g_max=90.0, dw_min=1.5)
    pols = example_pulse_train(cycles=2, per_phase=120)
    g = simulate_curve(truth, pols, truth.g_min)
    g = g + 0.02 * np.random.default_rng(0).standard_normal(g.shape)
    r = fit_curve(pols, g, "set_reset", truth.g_min)
    assert r.residual_rms < 0.05 and r.params.family == "set_reset"
    assert abs(r.params.dw_min - 1.5) < 0.05 and abs(r.params.g_max - 90.0) < 0.5
    assert fit_curve(pols, g, "soft_bounds", truth.g_min).residual_rms > 5 * r.residual_rms


def test_pcm_pair_trains_with_its_refresh():
    from insitu.golden.algorithms.runs import RunOptions, build

    trainer, step = build(RunOptions(algo="backprop", device="pcm_pair"))
    assert isinstance(step, RefreshedStep) and step.inner is None
    trainer.run(1, progress=False)
    assert step.refresh.counters["checks"] == len(trainer.data.x_train)
    assert step.refresh.counters["refreshed"] > 100
    # seen: 61.6 % after one epoch with the refresh, 47.4 % without it (10 % is chance)
    assert trainer.history.test_acc[-1] > 55.0
    s = step.state_dict()
    assert s["step"] is None and s["refresh"]["counters"] == step.refresh.counters


def test_cli_resume_of_a_refreshed_run_is_exact(tmp_path, capsys):
    import json

    from insitu import cli

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    base = ["train", "--device", "pcm_pair", "--dataset", "iris", "--epochs", "2",
            "--no-progress"]
    assert cli.main([*base, "--save", str(a)]) == 0
    assert cli.main([*base, "--save", str(b), "--stop-after", "150"]) == 0
    assert cli.main(["train", "--save", str(b), "--resume", "--epochs", "2",
                     "--no-progress"]) == 0
    ra, rb = (json.loads(p.read_text()) for p in (a, b))
    assert ra["algorithm"] == rb["algorithm"] and ra["algorithm"]["refresh"]["counters"][
        "checks"] == 240
    assert ra["results"]["backend_stats"] == rb["results"]["backend_stats"]
    assert ra["results"]["backend_stats"]["reset_pulses"] > 0
