"""Array, periphery and backends: codes, seeds, engines, write-verify, validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insitu.golden.backends import GoldenBackend, IdealBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import ecram_organic, ideal, rram_oxide

CFG = ControllerConfig(rows=12, cols=9, adcs=2, adc_average=2)
NOISY = PeripheryParams(dac_gain_mismatch=0.05, dac_offset_mismatch=0.01, adc_gain_mismatch=0.05,
                        adc_offset_mismatch=1.0, adc_noise=0.5)


def random_program(b, seed=0, scale=0.5):
    t = np.random.default_rng(seed).uniform(-scale, scale, (b.config.rows, b.config.cols))
    return b.program(t)


def run_session(b, seed=1, steps=30):
    """A mixed command sequence; returns every code the backend produced."""
    rng = np.random.default_rng(seed)
    c = b.config
    out = []
    for k in range(steps):
        x = rng.integers(-c.dac_max, c.dac_max + 1, size=c.rows)
        d = rng.integers(-c.dac_max, c.dac_max + 1, size=c.cols)
        out.append(b.forward(x))
        out.append(b.backward(d))
        mode = "stochastic" if k % 3 == 0 else "deterministic"
        gmax = c.count_max if mode == "deterministic" else c.prob_max
        b.update(x, d, mode=mode, row_gain=gmax, col_gain=gmax // 2, dither=k % 2 == 0)
    return np.concatenate(out)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), adc_bits=st.integers(2, 14), bound=st.floats(0.05, 20.0))
def test_adc_codes_never_exceed_their_width(seed, adc_bits, bound):
    cfg = ControllerConfig(rows=6, cols=5, adc_bits=adc_bits)
    b = GoldenBackend(cfg, rram_oxide, NOISY.__class__(out_bound=bound, adc_noise=3.0), seed=seed)
    random_program(b, seed, scale=1.0)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        y = b.forward(rng.integers(-cfg.dac_max, cfg.dac_max + 1, 6))
        e = b.backward(rng.integers(-cfg.dac_max, cfg.dac_max + 1, 5))
        for v in (y, e):
            assert v.dtype.kind == "i" and np.all(np.abs(v) <= cfg.adc_max)


def test_saturation_is_counted():
    b = GoldenBackend(ControllerConfig(rows=8, cols=2), ideal, PeripheryParams(out_bound=0.5))
    b.program(np.full((8, 2), 0.9))
    y = b.forward(np.full(8, 127))
    assert np.all(y == b.adc_max) and b.stats.saturated >= 2


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_same_seed_bit_identical_different_seed_differs(engine):
    def run(seed):
        b = GoldenBackend(CFG, rram_oxide, NOISY, seed=seed, engine=engine)
        random_program(b)
        return run_session(b), b.conductances.copy()

    c1, g1 = run(7)
    c2, g2 = run(7)
    c3, g3 = run(8)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(g1, g3)


@pytest.mark.parametrize("device", [ecram_organic, ecram_organic.with_(family="soft_bounds"), rram_oxide,
                                    ecram_organic.with_(stuck_low=0.1)])
def test_numba_engine_matches_numpy_reference(device):
    a = GoldenBackend(CFG, device, NOISY, seed=3, engine="numpy")
    b = GoldenBackend(CFG, device, NOISY, seed=3, engine="numba")
    random_program(a)
    random_program(b)
    ca, cb = run_session(a), run_session(b)
    assert np.max(np.abs(ca - cb)) <= 1  # summation order may move a boundary case by 1 LSB
    assert np.mean(ca == cb) > 0.99
    np.testing.assert_allclose(a.conductances, b.conductances, rtol=0, atol=1e-9)
    assert a.stats == b.stats


def test_update_counts_follow_the_controller_reference():
    """The backend moves each weight by exactly its reference pulse count (ideal device)."""
    dev = ideal.with_(g_min=0.0, g_max=1000.0, dw_min=0.5)
    for mode, dither in (("deterministic", False), ("deterministic", True), ("stochastic", False)):
        b = GoldenBackend(CFG, dev, seed=0)
        ref = ControllerReference(CFG)
        rng = np.random.default_rng(4)
        for _ in range(10):
            x = rng.integers(-127, 128, size=7)
            d = rng.integers(-127, 128, size=5)
            gain = CFG.count_max if mode == "deterministic" else CFG.prob_max
            plan = ref.plan_update(x, d, mode=mode, row_gain=gain, col_gain=gain, dither=dither,
                                   row0=2, col0=3)
            w0 = b.read_weights()[0].copy()
            slots = b.update(x, d, mode=mode, row_gain=gain, col_gain=gain, dither=dither,
                             row0=2, col0=3)
            dw = b.read_weights()[0] - w0
            assert slots == plan.slots
            np.testing.assert_allclose(dw[2:9, 3:8], plan.counts * b.pulse_dw, atol=1e-12)
            dw[2:9, 3:8] = 0
            assert not np.any(dw)  # nothing outside the window moved


def test_forward_and_transpose_reads_are_ohm_and_kirchhoff():
    b = GoldenBackend(ControllerConfig(rows=5, cols=4, adc_bits=16), ideal,
                      PeripheryParams(out_bound=4.0))
    w = np.random.default_rng(0).uniform(-0.5, 0.5, (5, 4))
    b.program(w, tolerance=0, shift=0)
    w = b.read_weights()[0]
    x = np.array([127, -64, 0, 30, 5])
    y = b.forward(x) * (4.0 / b.adc_max)
    np.testing.assert_allclose(y, (x / 127) @ w, atol=2 * 4.0 / b.adc_max)
    d = np.array([10, -127, 64, 0])
    e = b.backward(d) * (4.0 / b.adc_max)
    np.testing.assert_allclose(e, w @ (d / 127), atol=2 * 4.0 / b.adc_max)


def test_write_verify_converges_and_reports_its_cost():
    b = GoldenBackend(CFG, ecram_organic, seed=2)
    t = np.random.default_rng(1).uniform(-0.4, 0.4, (12, 9))
    cost = b.program(t)
    assert cost["unconverged"] == 0
    assert cost["reads"] >= 12 * 9 and cost["pulses"] > 0
    assert np.max(np.abs(b.read_weights()[0] - t)) < 0.03


def test_monte_carlo_instances_are_independent_draws():
    b = GoldenBackend(CFG, rram_oxide, seed=0, instances=4)
    random_program(b)
    w = b.read_weights()
    assert w.shape == (4, 12, 9)
    assert not np.allclose(w[0], w[1], atol=1e-6)
    x = np.tile(np.arange(12) - 6, (4, 1))
    assert b.forward(x).shape == (4, 9)


@pytest.mark.parametrize("device", [ecram_organic, rram_oxide.with_(stuck_high=0.1)])
def test_threaded_monte_carlo_kernels_match_the_serial_ones(device, monkeypatch):
    """Instances >= PARALLEL_MIN_INSTANCES run on threads; the result must not change."""
    from insitu.golden import backends, fastpath

    def session(threaded):
        monkeypatch.setattr(backends, "PARALLEL_MIN_INSTANCES", 2)
        b = GoldenBackend(CFG, device, NOISY, seed=5, instances=6, threads=threaded)
        assert (b._apply_rank1 is fastpath.apply_rank1_parallel) == threaded
        random_program(b)
        c = b.config
        rng = np.random.default_rng(2)
        out = []
        for k in range(12):
            x = rng.integers(-c.dac_max, c.dac_max + 1, size=(6, c.rows))
            d = rng.integers(-c.dac_max, c.dac_max + 1, size=(6, c.cols))
            out += [b.forward(x), b.backward(d)]
            b.update(x, d, mode="stochastic" if k % 3 == 0 else "deterministic",
                     row_gain=c.count_max, col_gain=c.count_max // 2, dither=k % 2 == 0)
        return np.concatenate(out, axis=1), b.conductances.copy(), b.stats

    serial, threaded = session(False), session(True)
    np.testing.assert_array_equal(serial[0], threaded[0])
    np.testing.assert_array_equal(serial[1], threaded[1])
    assert serial[2] == threaded[2]


def test_state_roundtrip_resumes_identically():
    a = GoldenBackend(CFG, rram_oxide, NOISY, seed=5)
    random_program(a)
    run_session(a, steps=5)
    saved = a.state_dict()
    tail1 = run_session(a, seed=9, steps=5)
    b = GoldenBackend(CFG, rram_oxide, NOISY, seed=5)
    b.load_state_dict(saved)
    np.testing.assert_array_equal(run_session(b, seed=9, steps=5), tail1)


def test_ideal_backend_is_exact_float():
    b = IdealBackend(CFG, ecram_organic)
    w = np.random.default_rng(0).normal(size=(12, 9))
    b.program(w)
    x = np.linspace(-127, 127, 12)
    np.testing.assert_allclose(b.forward(x) * b.periphery.out_bound / b.adc_max, (x / 127) @ w)
    b.update(x, np.ones(9) * 127, row_gain=7, col_gain=7)
    np.testing.assert_allclose(b.read_weights()[0] - w, np.outer(x / 127 * 7, np.ones(9) * 7)
                               * b.pulse_dw)


@pytest.mark.parametrize("call, word", [
    (lambda b: b.forward(np.zeros(13, int)), "x_codes length 13"),
    (lambda b: b.forward(np.full(12, 200)), r"x_codes must hold codes in \[-127, 127\]"),
    (lambda b: b.forward(np.full(12, np.nan)), "x_codes must hold integer codes"),
    (lambda b: b.forward(np.zeros((2, 12), int)), r"shape \(1, n\)"),
    (lambda b: b.backward(np.zeros(9, int), row0=12), "row0 must be an integer in"),
    (lambda b: b.update(np.zeros(12, int), np.zeros(9, int), row_gain=8, col_gain=1),
     r"row_gain must be an integer in \[0, 7\]"),
    (lambda b: b.update(np.zeros(12, int), np.zeros(9, int), mode="magic", row_gain=1,
                        col_gain=1), "update mode must be one of"),
    (lambda b: b.program(np.full((12, 9), np.nan)), "target must be finite"),
    (lambda b: b.program(np.zeros((13, 9))), "nrows must be an integer"),
])
def test_bad_backend_input_names_the_parameter(call, word):
    b = GoldenBackend(CFG, ecram_organic)
    with pytest.raises(ValueError, match=word):
        call(b)


@pytest.mark.parametrize("kw, word", [
    (dict(rows=0), "rows must be an integer in"), (dict(dac_bits=-1), "dac_bits"),
    (dict(adc_bits=25), r"adc_bits must be an integer in \[2, 24\]"),
    (dict(pulse_width=0), "pulse_width"), (dict(adc_average=3), "power of two"),
])
def test_bad_config_names_the_parameter(kw, word):
    with pytest.raises(ValueError, match=word):
        ControllerConfig(**kw)


@pytest.mark.parametrize("kw, word", [
    (dict(v_read=0.0), "v_read"), (dict(adc_noise=-1), "adc_noise"),
    (dict(dac_gain_mismatch=float("inf")), "dac_gain_mismatch"),
])
def test_bad_periphery_names_the_parameter(kw, word):
    with pytest.raises(ValueError, match=word):
        PeripheryParams(**kw)


def test_conversion_events_reproduce_reads_and_device_reads_exactly():
    """What a co-simulation's analog front-end answers, event by event, equals the golden read."""
    cfg = ControllerConfig(rows=12, cols=9, adcs=2, adc_average=4)
    a = GoldenBackend(cfg, rram_oxide, NOISY, seed=3)
    b = GoldenBackend(cfg, rram_oxide, NOISY, seed=3)
    ref = ControllerReference(cfg)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(-127, 128, 7)
        d = rng.integers(-127, 128, 5)
        ya = a.forward(x, row0=2, col0=3, ncols=5)
        ea = a.backward(d, col0=3, row0=1, nrows=6)
        for codes, lo, n, transpose, got in ((x, 2, 5, False, ya), (d, 3, 6, True, ea)):
            full = np.zeros((1, cfg.cols if transpose else cfg.rows), np.int64)
            full[0, lo:lo + len(codes)] = codes
            first = 1 if transpose else 3
            res = {}
            for m in ref.adc_positions(first, first + n):
                reps = [b.convert_event(full, transpose, m)[0] for _ in range(cfg.adc_average)]
                for k, v in enumerate(ref.average(reps)):
                    res[m * cfg.adcs + k] = v
            np.testing.assert_array_equal(got, [res[line] for line in range(first, first + n)])
    # single-device reads (write-verify) as conversion events
    rows, cols = np.array([[4]]), np.array([[7]])
    got = a.read_device_codes(rows, cols)[0, 0]
    full = np.zeros((1, cfg.rows), np.int64)
    full[0, 4] = cfg.dac_max
    reps = [b.convert_event(full, False, 7 // cfg.adcs, single_device=True)[0][7 % cfg.adcs]
            for _ in range(cfg.adc_average)]
    assert ref.average(np.array(reps)[:, None])[0] == got


def test_sequential_programming_is_device_by_device():
    b = GoldenBackend(CFG, ecram_organic, seed=2)
    t = np.random.default_rng(1).uniform(-0.4, 0.4, (3, 4))
    cost = b.program(t, 1, 2, order="sequential")
    assert cost["unconverged"] == 0 and cost["reads"] >= 12
    assert np.max(np.abs(b.read_weights()[0, 1:4, 2:6] - t)) < 0.03


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_reference_column_mapping(engine):
    """One device per weight against a mid-range reference: w = 2 (g - g_ref) / range."""
    b = GoldenBackend(CFG, ideal, seed=0, mapping="reference", engine=engine)
    assert b.conductances.shape == (1, 1, 12, 9)
    np.testing.assert_allclose(b.read_weights(), 0.0)
    x = np.zeros(12, int)
    x[3] = 127
    d = np.zeros(9, int)
    d[4] = -127
    b.update(x, d, row_gain=7, col_gain=7)
    w = b.read_weights()[0]
    assert w[3, 4] == pytest.approx(-49 * b.pulse_dw)
    assert np.count_nonzero(w) == 1
    b.program(np.full((12, 9), 0.3))
    assert np.max(np.abs(b.read_weights() - 0.3)) < 0.02


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_burst_observer_sees_every_pulse_burst(engine):
    dev = ideal.with_(g_min=0.0, g_max=1000.0, dw_min=0.5)
    b = GoldenBackend(CFG, dev, seed=0, engine=engine)
    seen = []
    b.burst_observer = lambda n, r0, c0: seen.append((n.copy(), r0, c0))
    w0 = b.read_weights().copy()
    x, d = np.arange(-3, 4) * 30, np.array([127, -50, 0, 9, 60])
    b.update(x, d, row_gain=7, col_gain=7, dither=True, row0=1, col0=2)
    b.update(x, d, mode="stochastic", row_gain=256, col_gain=256, row0=1, col0=2)
    assert [(r, c) for _, r, c in seen] == [(1, 2), (1, 2)]
    total = sum(n[0] for n, _, _ in seen)
    np.testing.assert_allclose((b.read_weights() - w0)[0, 1:8, 2:7], total * b.pulse_dw,
                               atol=1e-12)
    seen.clear()
    cost = b.program(np.full((2, 2), 0.2), order="sequential")
    assert len(seen) == cost["reads"] - 4  # every read but each device's last is followed by pulses
