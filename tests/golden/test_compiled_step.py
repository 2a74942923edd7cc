"""The compiled training step against the interface path: bit for bit."""

import numpy as np
import pytest
from insitu.golden import datasets
from insitu.golden.algorithms.pgd import PGD
from insitu.golden.backends import GoldenBackend
from insitu.golden.compiled_step import CompiledStep
from insitu.golden.config import ControllerConfig
from insitu.golden.devices import DeviceParams
from insitu.golden.nn import CrossbarMLP, layout_config
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import ecram_mo, ecram_organic, ideal, reram_es, rram_oxide
from insitu.golden.tiles import TiledBackend
from insitu.golden.train import Trainer

SIZES = (12, 8, 4)
SOFT = DeviceParams(family="soft_bounds", dw_min=0.5, up_down=0.1, d2d=0.2, c2c=0.1,
                    read_noise=0.003, name="soft")
TABLE = DeviceParams(family="table", dw_min=0.5, table_g=(0.0, 50.0, 100.0),
                     table_up=(0.6, 0.5, 0.2), table_down=(0.2, 0.5, 0.6), c2c=0.1, name="tab")
NOISY = PeripheryParams(dac_gain_mismatch=0.05, dac_offset_mismatch=0.01,
                        adc_gain_mismatch=0.05, adc_offset_mismatch=1.0, adc_noise=0.5)


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])), np.eye(SIZES[-1])[rng.integers(SIZES[-1], size=n)]


def make(device, *, K=2, periphery=None, tiled=False, mapping="differential", **net_kw):
    cfg = layout_config(SIZES, ControllerConfig(adcs=3, adc_average=2))
    if tiled:
        be = TiledBackend.create(SIZES, device, periphery, tile_rows=6, tile_cols=5,
                                 config=cfg, instances=K, seed=3, mapping=mapping)
    else:
        be = GoldenBackend(cfg, device, periphery, instances=K, seed=3, mapping=mapping)
    net = CrossbarMLP(be, SIZES, **net_kw)
    net.init_weights(np.random.default_rng(1))
    return net


def state(net):
    be = net.backend
    tiles = be.tiles if isinstance(be, TiledBackend) else [be]
    return ([t.conductances.copy() for t in tiles], be.stats.to_dict(), net.capped_updates,
            [(t.c2c_bursts, t.refs[0].lfsr.draws, t.rng.bit_generator.state["state"])
             for t in tiles])


def assert_same(a, b):
    ga, sa, ca, ka = state(a)
    gb, sb, cb, kb = state(b)
    for x, y in zip(ga, gb):
        assert np.array_equal(x, y)
    assert (sa, ca, ka) == (sb, cb, kb)


def run_both(algorithm, make_net, lr=0.3, block=16, **kw):
    xs, ts = data()
    ref, fast = make_net(), make_net()
    step = PGD() if algorithm == "pgd" else (lambda n, x, t, lr: n.backprop_step(x, t, lr))
    for x, t in zip(xs, ts):
        step(ref, np.broadcast_to(x, (ref.K, x.size)), t[None, :], lr)
    cs = CompiledStep(algorithm, block=block, **kw)
    cs.train_block(fast, xs, ts, lr)
    assert_same(ref, fast)
    assert ref.backend.stats.updates > 0
    return cs


@pytest.mark.parametrize("mode", ["deterministic", "stochastic"])
@pytest.mark.parametrize("algorithm", ["backprop", "pgd"])
@pytest.mark.parametrize("device", [ideal, ecram_organic, SOFT, rram_oxide, ecram_mo, reram_es,
                                    TABLE], ids=["constant", "ecram", "soft_bounds", "power",
                                                 "linear_step", "exp_step", "table"])
def test_every_family_bit_identical(algorithm, device, mode):
    cs = run_both(algorithm, lambda: make(device, periphery=NOISY, mode=mode))
    assert cs.fallback_reason is None and cs.devices_pulsed > 0 and cs.device_updates == 0


@pytest.mark.parametrize("algorithm", ["backprop", "pgd"])
def test_stochastic_mode_on_tiles_bit_identical(algorithm):
    cs = run_both(algorithm, lambda: make(rram_oxide, K=3, periphery=NOISY, tiled=True,
                                          mode="stochastic"))
    assert cs.fallback_reason is None
    net = make(ecram_organic, K=3, mode="stochastic")
    CompiledStep(algorithm).train_block(net, *data(), 0.3)
    draws = [ref.lfsr.draws for ref in net.backend.refs]
    assert len(set(draws)) > 1  # each instance's LFSRs drew for its own subphases


@pytest.mark.parametrize("mode", ["deterministic", "stochastic"])
def test_changed_devices_are_counted_exactly(mode):
    stuck = ecram_organic.with_(stuck_low=0.3)
    xs, ts = data()
    ref = make(stuck, mode=mode)
    be, inner, changed = ref.backend, ref.backend._update, [0]

    def counting_update(*args):
        g0 = be.conductances.copy()
        out = inner(*args)
        changed[0] += int(np.count_nonzero(be.conductances != g0))
        return out

    be._update = counting_update
    for x, t in zip(xs, ts):
        ref.backprop_step(np.broadcast_to(x, (2, x.size)), t[None, :], 0.3)
    fast = make(stuck, mode=mode)
    cs = CompiledStep(count_changed=True)
    cs.train_block(fast, xs, ts, 0.3)
    assert_same(ref, fast)
    assert cs.device_updates == changed[0]
    assert 0 < cs.device_updates < cs.devices_pulsed  # stuck devices are pulsed, never move


@pytest.mark.parametrize("algorithm", ["backprop", "pgd"])
@pytest.mark.parametrize("weight_scale", ["auto", [2.5, 0.75]], ids=["auto", "per-layer"])
def test_weight_scale_bit_identical(algorithm, weight_scale):
    net = make(ecram_organic)
    assert make(ecram_organic, weight_scale=weight_scale).alpha != net.alpha
    cs = run_both(algorithm, lambda: make(rram_oxide, periphery=NOISY, weight_scale=weight_scale))
    assert cs.fallback_reason is None
    run_both(algorithm, lambda: make(ecram_organic, K=3, tiled=True, weight_scale=weight_scale))


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("dither", [False, True])
def test_activations_and_dither_bit_identical(activation, dither):
    run_both("backprop", lambda: make(ecram_organic, K=1, activation=activation, dither=dither),
             block=7)


@pytest.mark.parametrize("algorithm", ["backprop", "pgd"])
def test_tiles_and_reference_mapping_bit_identical(algorithm):
    cs = run_both(algorithm, lambda: make(rram_oxide, K=3, periphery=NOISY, tiled=True))
    assert cs.fallback_reason is None
    assert len(make(ideal, tiled=True).backend.tiles) > 2
    run_both(algorithm, lambda: make(ecram_organic, mapping="reference"))


@pytest.mark.parametrize("case", ["burst_observer", "numpy"])
def test_uncovered_cases_fall_back_to_the_interface_path(case):
    if case == "burst_observer":
        def mk():
            net = make(TABLE)
            net.backend.burst_observer = lambda n, row0, col0: None
            return net
    else:
        def mk():
            cfg = layout_config(SIZES)
            net = CrossbarMLP(GoldenBackend(cfg, ecram_organic, instances=2, seed=3,
                                            engine="numpy"), SIZES)
            net.init_weights(np.random.default_rng(1))
            return net
    cs = run_both("backprop", mk)
    assert case in cs.fallback_reason


def test_trainer_blocks_resume_exactly():
    d = datasets.load("iris", seed=0)

    def trainer(step):
        be = GoldenBackend(layout_config((4, 6, 3)), ecram_organic, instances=2, seed=1)
        net = CrossbarMLP(be, (4, 6, 3))
        net.init_weights(np.random.default_rng(0))
        return Trainer(net, d, lr=0.1, seed=2, step=step)

    ref = trainer(None)
    ref.run(2, progress=False)
    a = trainer(CompiledStep("backprop", block=13))
    a.run(2, progress=False, stop_after=150)
    s = a.state_dict()
    b = trainer(CompiledStep("backprop", block=13))
    b.load_state_dict(s)
    b.run(2, progress=False)
    assert_same(ref.net, b.net)
    assert ref.history.test_acc == b.history.test_acc


def test_different_samples_per_instance_take_the_interface_path():
    ref, fast = make(ecram_organic), make(ecram_organic)
    x = np.random.default_rng(0).random((2, SIZES[0]))
    t = np.eye(SIZES[-1])[[0]]
    ref.backprop_step(x, t, 0.3)
    CompiledStep()(fast, x, t, 0.3)
    assert_same(ref, fast)


def test_bad_arguments():
    with pytest.raises(ValueError, match="algorithm"):
        CompiledStep("tiki-taka")
    with pytest.raises(ValueError, match="block"):
        CompiledStep(block=0)
