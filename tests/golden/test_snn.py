"""LIF neurons, latency coding and the spiking network on the crossbar."""

import numpy as np
import pytest
from insitu.golden import presets
from insitu.golden.backends import GoldenBackend, IdealBackend
from insitu.golden.neurons import FLOOR, LIFParams, LIFPopulation
from insitu.golden.snn import LatencyCode, SpikingNet, model_forward, snn_layout_config
from snn_harness import deviation_from_model, random_weights


@pytest.mark.parametrize("kw, name", [
    ({"dt": 0.0}, "dt"), ({"dt": 2e3}, "dt"), ({"tau_syn": 0.0}, "tau_syn"),
    ({"tau_mem": -1.0}, "tau_mem"), ({"threshold": 0.0}, "threshold"),
    ({"v_leak": 1.0}, "v_leak"), ({"v_reset": 2.0}, "v_reset"), ({"sigma_d": 1.5}, "sigma_d"),
    ({"sigma_d": -0.1}, "sigma_d"), ({"offset_spread": 2.0}, "offset_spread"),
    ({"readout_noise": -1.0}, "readout_noise"), ({"readout_bits": 1}, "readout_bits"),
    ({"readout_range": 0.0}, "readout_range"), ({"tau_mem": float("nan")}, "tau_mem"),
])
def test_lif_params_rejected_with_their_name(kw, name):
    with pytest.raises(ValueError, match=name):
        LIFParams(**kw)


@pytest.mark.parametrize("kw, name", [
    ({"steps": 0}, "steps"), ({"tau_in": 0.0}, "tau_in"), ({"theta_in": 1.0}, "theta_in"),
    ({"dt": -1.0}, "dt"),
])
def test_latency_code_params_rejected_with_their_name(kw, name):
    with pytest.raises(ValueError, match=name):
        LatencyCode(**kw)


def test_lif_dynamics_closed_form_spike_and_reset():
    p = LIFParams(dt=1.0, tau_syn=4.0, tau_mem=8.0, threshold=1.0)
    pop = LIFPopulation(p, (1, 2), np.random.default_rng(0))
    a_s, a_m = np.exp(-1 / 4), np.exp(-1 / 8)
    i = v = 0.0
    c = np.array([[0.02, 0.5]])
    fired = None
    for t in range(12):
        s = pop.step(c)
        i = a_s * i + c[0, 0]
        v = a_m * v + i
        assert pop.v[0, 0] == pytest.approx(v)
        assert not s[0, 0]  # the weak input never reaches threshold here
        if s[0, 1] and fired is None:
            fired = t
            assert pop.v[0, 1] >= 1.0
        elif fired is not None and t == fired + 1:
            assert pop.v[0, 1] == pytest.approx(pop.i[0, 1])  # reset to 0, then + I
    assert fired is not None


def test_fixed_pattern_spread_seeded_and_floored():
    p = LIFParams(sigma_d=0.3)
    a = LIFPopulation(p, (4, 2000), np.random.default_rng(1))
    b = LIFPopulation(p, (4, 2000), np.random.default_rng(1))
    np.testing.assert_array_equal(a.threshold, b.threshold)
    for x, nom in ((a.tau_syn, p.tau_syn), (a.tau_mem, p.tau_mem), (a.threshold, p.threshold)):
        assert np.std(x / nom) == pytest.approx(0.3, rel=0.05)
    assert np.std(a.v_leak) == pytest.approx(0.25 * 0.3, rel=0.05)
    big = LIFPopulation(LIFParams(sigma_d=1.0), (1, 4000), np.random.default_rng(2))
    assert big.tau_mem.min() == pytest.approx(FLOOR * 10.0)
    nominal = LIFPopulation(LIFParams(), (2, 3), np.random.default_rng(3))
    assert np.all(nominal.threshold == 1.0) and np.all(nominal.v_leak == 0.0)


def test_membrane_readout_quantised_and_noisy():
    p = LIFParams(readout_bits=4, readout_range=2.0)
    pop = LIFPopulation(p, (1, 3), np.random.default_rng(0), spiking=False)
    pop.v = np.array([[0.15, 5.0, -5.0]])
    np.testing.assert_array_equal(pop.readout(None), [[1, 7, -7]])  # lsb 2/7, clipped
    noisy = LIFPopulation(p.with_(readout_noise=0.5), (1, 3), np.random.default_rng(0))
    noisy.v = np.zeros((1, 3))
    codes = np.array([noisy.readout(np.random.default_rng(s)) for s in range(50)])
    assert codes.std() > 0.5


def test_latency_code_times():
    c = LatencyCode(steps=20, tau_in=8.0, theta_in=0.2, bias_spike=True)
    x = np.array([[1.0, 0.5, 0.2, 0.0, 0.201]])
    k = c.spike_steps(x)
    assert k[0, 0] == int(np.floor(8 * np.log(1 / 0.8)))
    assert k[0, 1] == int(np.floor(8 * np.log(0.5 / 0.3)))
    assert k[0, 2] == 20 and k[0, 3] == 20 and k[0, 4] == 20  # never / too late
    r = c.encode(x)
    assert r.shape == (20, 1, 6)
    assert r[:, 0, :5].sum() == 2 and r[0, 0, 5] == 1 and r[:, 0, 5].sum() == 1
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        c.encode(np.array([[1.5]]))


def _net(backend_cls, sizes=(6, 5, 3), lif=None, seed=0, **kw):
    be = backend_cls(snn_layout_config(sizes), presets.ideal, seed=seed)
    lif = lif or LIFParams(readout_bits=16, readout_range=64.0)
    return SpikingNet(be, sizes, lif, LatencyCode(steps=12), syn_gain=(3.0, 2.0), seed=seed, **kw)


def test_chip_forward_on_ideal_backend_equals_host_model():
    sizes = (6, 5, 3)
    net = _net(IdealBackend, sizes)
    w = random_weights(sizes)
    net.program(w)
    x = np.random.default_rng(1).uniform(0, 1, (4, 6))
    rasters = net.coding.encode(x)
    model = model_forward(w, rasters, net.lif, net.syn_gain)
    lsb = net.lif.readout_lsb
    worst, wrong, spiked = deviation_from_model(net, rasters, model)
    assert worst <= lsb / 2 + 1e-12 and wrong == 0
    assert spiked > 0  # the comparison covers spikes and resets
    # a planted fault: detuned neurons no longer agree with the host model
    bad = _net(IdealBackend, sizes, lif=net.lif.with_(sigma_d=0.5))
    bad.program(w)
    assert deviation_from_model(bad, rasters[:, :1], model)[0] > lsb


def test_each_step_is_one_ordinary_read_per_layer_and_seeded():
    sizes = (6, 5, 3)
    a = _net(GoldenBackend, sizes, lif=LIFParams(sigma_d=0.3, readout_noise=0.05), seed=4)
    b = _net(GoldenBackend, sizes, lif=LIFParams(sigma_d=0.3, readout_noise=0.05), seed=4)
    for n in (a, b):
        n.program(random_weights(sizes))
    reads0 = a.backend.stats.forward_reads
    raster = a.coding.encode(np.linspace(0.3, 1, 6)[None, :])[:, 0]
    ra, rb = a.run(raster), b.run(raster)
    assert a.backend.stats.forward_reads - reads0 == 12 * 2
    np.testing.assert_array_equal(ra.v[1], rb.v[1])
    c = _net(GoldenBackend, sizes, lif=LIFParams(sigma_d=0.3, readout_noise=0.05), seed=5)
    assert not np.array_equal(a.neurons[0].threshold, c.neurons[0].threshold)


def test_monte_carlo_instances_draw_their_own_neurons():
    sizes = (6, 5, 3)
    be = GoldenBackend(snn_layout_config(sizes), presets.ideal, instances=3, seed=0)
    net = SpikingNet(be, sizes, LIFParams(sigma_d=0.2), LatencyCode(steps=8), seed=0)
    net.program(random_weights(sizes))
    rec = net.run(net.encode(np.full(6, 0.9)))
    assert rec.v[1].shape == (8, 3, 3)
    assert not np.allclose(net.neurons[0].threshold[0], net.neurons[0].threshold[1])
    assert net.predict(np.full((2, 6), 0.9)).shape == (3, 2)


def test_bad_network_inputs():
    sizes = (6, 5, 3)
    net = _net(IdealBackend, sizes)
    with pytest.raises(ValueError, match="raster must have shape"):
        net.run(np.zeros((4, 7)))
    with pytest.raises(ValueError, match="amplitudes"):
        net.run(np.full((4, 6), 2.0))
    with pytest.raises(ValueError, match="too small"):
        SpikingNet(IdealBackend(snn_layout_config((4, 4, 2)), presets.ideal), sizes, LIFParams(),
                   LatencyCode())
    with pytest.raises(ValueError, match="syn_gain"):
        SpikingNet(net.backend, sizes, LIFParams(), LatencyCode(), syn_gain=(1.0,))
    with pytest.raises(ValueError, match="syn_gain"):
        SpikingNet(net.backend, sizes, LIFParams(), LatencyCode(), syn_gain=-1.0)
    with pytest.raises(ValueError, match="columns"):
        snn_layout_config((256, 250, 10))
    assert snn_layout_config((256, 246, 10)).rows == 256  # the paper's network fits
