"""Surrogate-gradient BPTT, software training and chip-in-the-loop training of spiking nets."""

import numpy as np
import pytest
from insitu.golden import datasets, presets
from insitu.golden.algorithms.snn_runs import load_snn_dataset, make_snn, upsample
from insitu.golden.algorithms.surrogate import (
    SNNInTheLoop,
    SNNSoftware,
    bptt,
    softmax,
    superspike,
)
from insitu.golden.backends import IdealBackend
from insitu.golden.neurons import LIFParams
from insitu.golden.snn import LatencyCode, SpikingNet, model_forward, snn_layout_config
from insitu.golden.train import Trainer

LIF = LIFParams(tau_syn=4.0, tau_mem=7.0)


def _setup(sizes, B=3, T=15, seed=0, gains=(3.0, 2.0)):
    rng = np.random.default_rng(seed)
    w = [rng.uniform(-0.6, 0.9, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    raster = (rng.uniform(size=(T, B, sizes[0])) < 0.15).astype(float)
    labels = rng.integers(0, sizes[-1], B)
    return w, raster, labels, gains[: len(w)]


def _loss(w, raster, labels, gains, amp):
    y = model_forward(w, raster, LIF, gains).v[-1].max(axis=0)
    p = softmax(y)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels]))
                 + amp * np.mean(np.sum(y * y, axis=1)) / y.shape[1])


def test_output_layer_gradient_matches_finite_differences():
    w, raster, labels, g = _setup((7, 4), gains=(2.0,))
    rec = model_forward(w, raster, LIF, g)
    grads, loss, _ = bptt(w, rec, labels, LIF, g, amp=0.01, reg=0.0)
    assert loss == pytest.approx(_loss(w, raster, labels, g, 0.01))
    eps = 1e-6
    num = np.zeros_like(w[0])
    for i in range(w[0].shape[0]):
        for j in range(w[0].shape[1]):
            wp = [w[0].copy()]
            wm = [w[0].copy()]
            wp[0][i, j] += eps
            wm[0][i, j] -= eps
            num[i, j] = (_loss(wp, raster, labels, g, 0.01)
                         - _loss(wm, raster, labels, g, 0.01)) / (2 * eps)
    np.testing.assert_allclose(grads[0], num, rtol=1e-5, atol=1e-8)


def _brute_force(w, rec, labels, gains, beta, reg, a_s, a_m):
    """The same gradients from the explicit sums over future steps (O(T^2))."""
    vout = rec.v[-1]
    T, B, C = vout.shape
    p = softmax(vout.max(axis=0))
    dy = p.copy()
    dy[np.arange(B), labels] -= 1.0
    dy /= B
    g_v = np.zeros_like(vout)
    for b in range(B):
        for c in range(C):
            g_v[vout[:, b, c].argmax(), b, c] = dy[b, c]
    grads = [None, None]
    for l in (1, 0):
        keep = np.full(g_v.shape, a_m) if l == 1 else a_m * (1.0 - rec.s[0])
        eV = np.zeros_like(g_v)
        for t in range(T):
            for t2 in range(t, T):
                eV[t] += g_v[t2] * np.prod(keep[t:t2], axis=0)
        eI = np.zeros_like(g_v)
        for t in range(T):
            for t2 in range(t, T):
                eI[t] += a_s ** (t2 - t) * eV[t2]
        e = gains[l] * eI
        grads[l] = sum(np.outer(rec.inputs[l][t, b], e[t, b]) for t in range(T) for b in range(B))
        if l == 1:
            n = rec.s[0].sum(axis=0)
            d_s = e @ w[1].T + 2 * reg * n[None] / (n.shape[1] * B)
            g_v = d_s * superspike(rec.v[0], LIF.threshold, beta)
    return grads


def test_hidden_layer_gradient_matches_explicit_sums_and_catches_a_wrong_decay():
    sizes = (8, 6, 3)
    w, raster, labels, g = _setup(sizes)
    rec = model_forward(w, raster, LIF, g)
    assert rec.s[0].any()
    grads, _, errors = bptt(w, rec, labels, LIF, g, beta=4.0, reg=0.01, amp=0.0)
    ref = _brute_force(w, rec, labels, g, 4.0, 0.01, LIF.alpha_syn, LIF.alpha_mem)
    for a, b in zip(grads, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[0], np.einsum("tbi,tbo->io", rec.inputs[0], errors[0]))
    wrong = _brute_force(w, rec, labels, g, 4.0, 0.01, LIF.alpha_syn * 0.9, LIF.alpha_mem)
    assert not np.allclose(grads[0], wrong[0], rtol=1e-3)


def test_superspike_and_label_check():
    assert superspike(np.array([1.0, 1.5]), 1.0, 2.0) == pytest.approx([1.0, 0.25])
    w, raster, labels, g = _setup((5, 3), gains=(1.0,))
    rec = model_forward(w, raster, LIF, g)
    with pytest.raises(ValueError, match="labels"):
        bptt(w, rec, np.array([0, 1, 5]), LIF, g)


def test_software_training_learns_digits():
    d = datasets.load("digits", seed=0)
    net = make_snn((64, 32, 10), backend="ideal", device="ideal")
    rng = np.random.default_rng(0)
    sw = SNNSoftware(net, [rng.uniform(-1, 1, (a, b)) / np.sqrt(a) for a, b in
                           ((64, 32), (32, 10))])
    before = sw.accuracy(d.x_test, d.y_test)
    for _ in range(3):
        idx = rng.permutation(len(d.x_train))
        for b in range(0, len(idx), 32):
            sw.train_batch(d.x_train[idx[b:b + 32]], d.y_train[idx[b:b + 32]], 3e-3)
    after = sw.accuracy(d.x_test, d.y_test)
    assert after > 85.0 and after > before + 30


@pytest.mark.parametrize("precondition", ["none", "factored"])
def test_pulse_write_back_tracks_the_host_weights_on_an_exact_backend(precondition):
    sizes = (64, 16, 10)
    net = make_snn(sizes, backend="ideal", device="ideal")
    rng = np.random.default_rng(1)
    targets = net.init_weights(rng)
    step = SNNInTheLoop(net, targets, write="pulse", precondition=precondition)
    d = datasets.load("digits", seed=0)
    eye = np.eye(10)
    for i in range(5):
        step(net, d.x_train[i][None], eye[d.y_train[i]][None], 1e-3)
    assert step.pulse_updates > 0
    for l in range(2):
        chip = net.layer_weights(l)
        np.testing.assert_allclose(chip, step.w[l], atol=1e-12)
        assert not np.allclose(chip[0], targets[l])  # the weights did move


def test_program_write_back_costs_reads_and_puts_host_weights_on_chip():
    sizes = (64, 16, 10)
    net = make_snn(sizes, device="ecram_organic")
    targets = net.init_weights(np.random.default_rng(1))
    step = SNNInTheLoop(net, targets, write="program", program_every=2)
    d = datasets.load("digits", seed=0)
    eye = np.eye(10)
    step(net, d.x_train[0][None], eye[d.y_train[0]][None], 1e-2)
    assert step.program_cost["reads"] == 0  # not yet: every 2nd sample
    step(net, d.x_train[1][None], eye[d.y_train[1]][None], 1e-2)
    assert step.program_cost["reads"] >= 64 * 16 + 16 * 10
    np.testing.assert_allclose(net.layer_weights(0), step.w[0], atol=0.02)  # verify tolerance


def test_in_the_loop_recovers_what_transfer_to_a_mismatched_chip_loses():
    d = datasets.load("digits", seed=0)
    net = make_snn((64, 32, 10), backend="ideal", device="ideal")
    rng = np.random.default_rng(0)
    sw = SNNSoftware(net, [rng.uniform(-1, 1, (a, b)) / np.sqrt(a) for a, b in
                           ((64, 32), (32, 10))])
    for _ in range(4):
        idx = rng.permutation(len(d.x_train))
        for b in range(0, len(idx), 32):
            sw.train_batch(d.x_train[idx[b:b + 32]], d.y_train[idx[b:b + 32]], 3e-3)
    d.x_train, d.y_train = d.x_train[:600], d.y_train[:600]
    d.x_test, d.y_test = d.x_test[:150], d.y_test[:150]
    chip = make_snn((64, 32, 10), sigma_d=0.5, seed=3)
    chip.program(sw.w)
    tr = Trainer(chip, d, lr=1e-4, seed=3, step=SNNInTheLoop(chip, sw.w, seed=3))
    transfer = tr.evaluate(d.x_test, d.y_test)[0]
    tr.run(1, progress=False)
    assert sw.accuracy(d.x_test, d.y_test) > transfer + 5  # the mismatch costs accuracy
    assert tr.history.test_acc[-1] > transfer + 5  # and training on the chip wins it back


def test_upsampled_digits_and_bad_options():
    x = np.random.default_rng(0).uniform(size=(3, 64))
    up = upsample(x, 16)
    assert up.shape == (3, 256) and up.min() >= 0 and up.max() <= 1
    np.testing.assert_allclose(up.reshape(3, 16, 16)[:, ::2, ::2].mean(), x.mean(), atol=0.05)
    d = load_snn_dataset("digits", side=16)
    assert d.features == 256
    assert load_snn_dataset("yinyang").x_train.min() >= 0.25
    with pytest.raises(ValueError, match="dataset"):
        load_snn_dataset("braille")
    net = SpikingNet(IdealBackend(snn_layout_config((4, 3)), presets.ideal), (4, 3), LIF,
                     LatencyCode())
    for kw, name in (({"write": "both"}, "write"), ({"optimiser": "rmsprop"}, "optimiser"),
                     ({"beta": -1.0}, "beta"), ({"program_every": 0}, "program_every"),
                     ({"w_max": 0.0}, "w_max"), ({"precondition": "adam"}, "precondition"),
                     ({"rounding": "up"}, "rounding")):
        with pytest.raises(ValueError, match=name):
            SNNInTheLoop(net, [np.zeros((4, 3))], **kw)


def test_cli_spiking_run_killed_and_resumed_equals_uninterrupted(tmp_path):
    import json

    from insitu import cli

    full, part = tmp_path / "full.json", tmp_path / "part.json"
    base = ["train", "--algo", "snn-in-the-loop", "--dataset", "iris", "--mismatch",
            "--epochs", "1", "--no-progress"]
    assert cli.main(base + ["--save", str(full)]) == 0
    assert cli.main(base + ["--save", str(part), "--stop-after", "50"]) == 0
    assert cli.main(["train", "--save", str(part), "--resume", "--epochs", "1",
                     "--no-progress"]) == 0
    f, p = json.loads(full.read_text()), json.loads(part.read_text())
    assert f["results"]["test_acc"] == p["results"]["test_acc"]
    assert f["trainer"]["backend"] == p["trainer"]["backend"]
    assert f["algorithm"] == p["algorithm"]
    assert cli.main(["train", "--algo", "snn-software", "--dataset", "braille",
                     "--no-progress"]) == 2
