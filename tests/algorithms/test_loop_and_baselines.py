import numpy as np
import pytest
from insitu.golden import presets
from insitu.golden.algorithms import ChipInTheLoop, StochasticSGD, WriteVerifySGD
from insitu.golden.algorithms.runs import RunOptions, build, load_dataset
from insitu.golden.nn import CrossbarMLP
from insitu.golden.train import FloatMLP, make_backend

from .helpers import ideal_net

SIZES = (6, 5, 3)


def _samples(n, seed=4, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return [(rng.random((1, sizes[0])), np.eye(sizes[-1])[[rng.integers(sizes[-1])]])
            for _ in range(n)]


def _float_backprop(targets, samples, lr):
    f = FloatMLP(targets)
    for x, t in samples:
        f.step(x[0], t[0], lr)
    return f.w


def _assert_weights(net, ws):
    for l, w in enumerate(ws):
        np.testing.assert_allclose(net.layer_weights(l)[0], w, rtol=1e-9, atol=1e-12)


def test_in_the_loop_on_ideal_backend_equals_float_backprop():
    net, targets = ideal_net(SIZES, seed=1)
    step = ChipInTheLoop(net, targets)
    samples = _samples(25)
    for x, t in samples:
        step(net, x, t, 0.05)
    ws = _float_backprop(targets, samples, 0.05)
    _assert_weights(net, ws)
    for l, w in enumerate(ws):  # the host model tracks the chip exactly here
        np.testing.assert_allclose(step.w[l][0], w, rtol=1e-9, atol=1e-12)


def test_stochastic_sgd_on_ideal_backend_equals_float_backprop_in_expectation():
    net, targets = ideal_net(SIZES, seed=1, mode="stochastic")
    samples = _samples(25)
    for x, t in samples:
        StochasticSGD()(net, x, t, 0.05)
    assert net.capped_updates == 0
    _assert_weights(net, _float_backprop(targets, samples, 0.05))


def test_stochastic_sgd_needs_stochastic_mode():
    net, _ = ideal_net(SIZES)
    with pytest.raises(ValueError, match="stochastic"):
        StochasticSGD()(net, *_samples(1)[0], 0.05)


def test_write_verify_on_ideal_backend_equals_float_backprop():
    net, targets = ideal_net(SIZES, seed=1)
    step = WriteVerifySGD(net, targets, program_every=1)
    samples = _samples(25)
    for x, t in samples:
        step(net, x, t, 0.05)
    _assert_weights(net, _float_backprop(targets, samples, 0.05))


def test_write_verify_counts_its_reads_and_pulses_on_golden():
    sizes = SIZES
    be = make_backend("golden", sizes, presets.ecram_organic, seed=2)
    net = CrossbarMLP(be, sizes)
    targets = net.init_weights(np.random.default_rng(2))
    r0, p0 = be.stats.program_reads, be.stats.program_pulses
    step = WriteVerifySGD(net, targets, program_every=5)
    for x, t in _samples(10):
        step(net, x, t, 0.2)
    assert step.cost["program_calls"] == 2 * len(net.layers)
    assert step.cost["reads"] == be.stats.program_reads - r0 > 0
    assert step.cost["pulses"] == be.stats.program_pulses - p0 > 0
    # the array holds the host weights to within write-verify's tolerance
    for l in range(len(net.layers)):
        assert np.abs(net.layer_weights(l)[0] - step.w[l][0]).max() < 0.05


def test_in_the_loop_learns_through_mismatch():
    """Transferred software weights lose accuracy on a mismatched array; a few
    epochs in the loop bring most of it back (small Yin-Yang run)."""
    d = load_dataset("yinyang", seed=0)
    sizes = (4, 30, 3)
    be0 = make_backend("ideal", sizes, presets.ideal)
    targets = CrossbarMLP(be0, sizes).init_weights(np.random.default_rng(0), scale=2.0)
    f = FloatMLP(targets)
    rng = np.random.default_rng(0)
    eye = np.eye(3)
    for _ in range(4):
        for i in rng.permutation(len(d.x_train)):
            f.step(d.x_train[i], eye[d.y_train[i]], 0.03)
            for w in f.w:
                np.clip(w, -1, 1, out=w)
    ideal = f.accuracy(d.x_test, d.y_test)
    tr, _step = build(RunOptions(algo="in-the-loop", dataset="yinyang", mismatch=True, seed=3,
                                instances=2), data=d, host_targets=f.w)
    transfer = tr.evaluate(d.x_test, d.y_test).mean()
    tr.run(2, progress=False)
    loop = tr.history.test_acc[-1]
    assert ideal - transfer > 5.0
    assert loop - transfer > 0.5 * (ideal - transfer)


def test_in_the_loop_write_verify_writeback_on_ideal_equals_float_backprop():
    net, targets = ideal_net(SIZES, seed=1)
    step = ChipInTheLoop(net, targets, write="program", program_every=1)
    samples = _samples(20)
    for x, t in samples:
        step(net, x, t, 0.05)
    _assert_weights(net, _float_backprop(targets, samples, 0.05))


def test_in_the_loop_uses_host_model_not_transpose_reads():
    """The hidden error comes from the host's weights: with a host model that is
    wrong, the chip's hidden layer moves differently than with the right one."""
    net_a, targets = ideal_net(SIZES, seed=1)
    net_b, _ = ideal_net(SIZES, seed=1)
    wrong = [t.copy() for t in targets]
    wrong[1] = -wrong[1]
    a, b = ChipInTheLoop(net_a, targets), ChipInTheLoop(net_b, wrong)
    x, t = _samples(1)[0]
    reads = net_a.backend.stats.backward_reads
    a(net_a, x, t, 0.05)
    b(net_b, x, t, 0.05)
    assert net_a.backend.stats.backward_reads == reads  # no transpose read at all
    np.testing.assert_allclose(net_a.layer_weights(1), net_b.layer_weights(1), atol=1e-12)
    assert np.abs(net_a.layer_weights(0) - net_b.layer_weights(0)).max() > 1e-6
