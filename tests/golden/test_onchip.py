"""The fixed-point on-chip trainer reference: integer arithmetic, the update rule it encodes,
determinism, accuracy, and its parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from insitu.golden import datasets
from insitu.golden.algorithms.runs import RunTrainer
from insitu.golden.nn import CrossbarMLP
from insitu.golden.onchip import OnChipConfig, OnChipTrainer, normalise, shift_round
from insitu.golden.presets import ecram_organic
from insitu.golden.train import make_backend


def test_shift_round_and_leading_one_normalisation():
    assert shift_round(5, 1) == 3 and shift_round(-5, 1) == -2 and shift_round(3, -2) == 12
    m = np.array([[0, 3, -5], [0, 0, 0], [255, -1, 2], [127, 126, 0]])
    out, s = normalise(m, 7)
    assert s.tolist() == [-4, 0, 2, 0]
    assert out.tolist() == [[0, 48, -80], [0, 0, 0], [64, 0, 1], [127, 126, 0]]
    # 255 >> 1 rounds up to 128 (8 bits): normalise takes one more bit off
    out, s = normalise(np.array([[255, 1]]), 7)
    assert out.tolist() == [[64, 0]] and s.tolist() == [2]
    assert all(int(v).bit_length() <= 7 for v in np.abs(out).max(axis=1))


def net_on(kind, sizes=(4, 3, 2), seed=0):
    be = make_backend(kind, sizes, ecram_organic, seed=seed)
    net = CrossbarMLP(be, sizes)
    net.init_weights(np.random.default_rng(seed))
    return net


def test_constants_are_integers_and_tables_in_code_range():
    net = net_on("golden")
    k = OnChipTrainer().constants(net, 0.1)
    D = net.backend.config.dac_max
    for name in ("act", "grad", "sig"):
        assert k[name].dtype == np.int64 and k[name].min() >= 0 and k[name].max() <= D
    assert np.all(np.diff(k["sig"]) >= 0) and k["sig"][0] == 0 and k["sig"][-1] == D
    assert all(isinstance(v, int) for v in k["zm"])
    assert all(isinstance(v, int) for pair in k["r"] for v in pair)


def test_output_update_is_minus_lr_x_error_on_an_ideal_array():
    """One PGD step on IdealBackend: the output layer moves by -lr [h, 1] (o - t)^T, with h,
    o the table values the step computed (the integer rule's scaling is right)."""
    net = net_on("ideal")
    step = OnChipTrainer(lr=0.1)
    w0 = net.layer_weights(1)[0].copy()
    x = np.array([[0.9, 0.1, 0.5, 0.3]])
    t = np.array([[1.0, 0.0]])
    k = step.constants(net, 0.1)
    codes, _, _ = step._forward(net, np.floor(x * k["D"] + 0.5).astype(np.int64), k)
    D = k["D"]
    h = np.append(codes[1][0] / D, 1.0)
    o = codes[2][0] / D
    _, idx, _ = step._forward(net, np.floor(x * k["D"] + 0.5).astype(np.int64), k)
    v0 = net.layer_weights(0)[0].copy()
    step(net, x, t, 0.1)
    dw = net.layer_weights(1)[0] - w0
    expected = -0.1 * np.outer(h, o - t[0])
    # the ideal array divides codes by D where the controller shifts by dac_bits - 1 (P = D + 1)
    # and the codes are rounded: a few per cent
    np.testing.assert_allclose(dw, expected * ((D + 1) / D) ** 2, rtol=0.06, atol=2e-4)
    # the hidden layer (PGD: its error read through the updated output layer): -lr [x, 1]
    # delta^T with delta = (W2' (o - t)) f'(z), f' from the derivative table (max 1/4)
    w2 = net.layer_weights(1)[0][:3]
    delta = (w2 @ (o - t[0])) * k["grad"][idx[0][0]] / D * 0.25
    dv = net.layer_weights(0)[0] - v0
    x1 = np.append(np.floor(x[0] * D + 0.5) / D, 1.0)
    np.testing.assert_allclose(dv, -0.1 * np.outer(x1, delta) * ((D + 1) / D) ** 2, rtol=0.08,
                               atol=3e-4)


def test_every_code_sent_is_an_integer_in_range(monkeypatch):
    net = net_on("golden")
    be = net.backend
    D = be.config.dac_max
    sent = []
    for name in ("forward", "backward", "update"):
        orig = getattr(be, name)

        def spy(*a, _orig=orig, **kw):
            for v in a[:2]:
                if isinstance(v, np.ndarray):
                    sent.append(v)
            return _orig(*a, **kw)

        monkeypatch.setattr(be, name, spy)
    step = OnChipTrainer()
    rng = np.random.default_rng(1)
    for _ in range(20):
        step(net, rng.uniform(0, 1, (1, 4)), np.eye(2)[[rng.integers(2)]], 0.1)
    assert sent and all(v.dtype == np.int64 and np.abs(v).max() <= D for v in sent)


def run_digits(epochs, seed=0, **kw):
    d = datasets.load("digits", seed=0)
    sizes = (64, 32, 10)
    be = make_backend("golden", sizes, ecram_organic, seed=seed)
    net = CrossbarMLP(be, sizes)
    net.init_weights(np.random.default_rng(seed))
    step = OnChipTrainer(OnChipConfig(**kw))
    tr = RunTrainer(net, d, lr=step.config.lr, seed=seed, step=step, predictor=step.predict)
    return tr.run(epochs, progress=False).test_acc, be


def test_deterministic_and_learns_digits():
    a, be_a = run_digits(2)
    b, be_b = run_digits(2)
    assert a == b and np.array_equal(be_a.conductances, be_b.conductances)
    assert a[-1] > 75.0
    c, _ = run_digits(1, algorithm="backprop")
    assert c[0] != a[0]


@pytest.mark.parametrize("kw, word", [
    ({"activation": "softsign"}, "activation must be one of"),
    ({"algorithm": "sgd"}, "algorithm must be one of"),
    ({"table_bits": 3}, "table_bits must be an integer in [4, 12]"),
    ({"z_range": 0.0}, "z_range must be"),
    ({"mult_bits": 30}, "mult_bits must be an integer in [8, 24]"),
    ({"lr": -1.0}, "lr must be"),
])
def test_bad_config(kw, word):
    with pytest.raises(ValueError) as e:
        OnChipConfig(**kw)
    assert word in str(e.value)
