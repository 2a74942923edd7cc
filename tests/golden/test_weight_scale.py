"""The digital per-layer weight scale: host-side gain on reads, divided out of updates
and programming; the backend's integer interface does not change."""

import numpy as np
import pytest
from insitu.golden import presets
from insitu.golden.algorithms.runs import RunOptions, build
from insitu.golden.nn import CrossbarMLP, weight_scales
from insitu.golden.train import make_backend

from insitu import cli

SIZES = (4, 6, 3)


def _pair(kind, alpha):
    out = []
    for a in (None, alpha):
        be = make_backend(kind, SIZES, presets.ecram_organic.with_(read_noise=0.0), seed=1)
        out.append(CrossbarMLP(be, SIZES, weight_scale=a))
    return out


def test_auto_rule_and_explicit_gains():
    assert weight_scales(None, [4, 8]) == [1.0, 1.0]
    np.testing.assert_allclose(weight_scales("auto", [4, 8, 255]),
                               [16 / np.sqrt(5), 16 / 3, 1.0])
    assert weight_scales(2.5, [4, 8]) == [2.5, 2.5]
    assert weight_scales([2, 3], [4, 8]) == [2.0, 3.0]


def test_scaled_layer_reads_alpha_times_the_device_weights():
    plain, scaled = _pair("ideal", [3.0, 2.0])
    rng = np.random.default_rng(0)
    w = [rng.uniform(-2, 2, (5, 6)), rng.uniform(-1.5, 1.5, (7, 3))]
    for l in range(2):
        scaled.program_layer(l, w[l])
        plain.program_layer(l, w[l] / scaled.alpha[l])
    for l in range(2):
        np.testing.assert_allclose(scaled.layer_weights(l)[0], w[l], atol=1e-12)
    h = rng.random((1, 4))
    np.testing.assert_allclose(scaled.layer_forward(0, h), 3.0 * plain.layer_forward(0, h))
    d = rng.standard_normal((1, 3))
    np.testing.assert_allclose(scaled.layer_backward(1, d), 2.0 * plain.layer_backward(1, d))
    # an update moves the *effective* weights by -lr x delta^T
    before = scaled.layer_weights(1)[0].copy()
    hh = rng.random((1, 6))
    scaled.layer_update(1, hh, d, 0.05)
    want = -0.05 * np.outer(np.append(hh[0], 1.0), d[0])
    np.testing.assert_allclose(scaled.layer_weights(1)[0] - before, want, atol=1e-12)


def test_the_backend_sees_the_same_codes_with_and_without_a_scale():
    """The scale is digital, after the ADC: same device state, same codes in and out."""
    plain, scaled = _pair("golden", [4.0, 4.0])
    seen = {}
    for name, net in (("plain", plain), ("scaled", scaled)):
        log = []
        inner = net.backend._read

        def spy(x, l0, o0, n, transpose, _inner=inner, _log=log):
            y = _inner(x, l0, o0, n, transpose)
            _log.append((x.copy(), y.copy()))
            return y

        net.backend._read = spy
        net.layer_forward(0, np.full((1, 4), 0.3))
        net.layer_backward(1, np.array([[0.2, -0.1, 0.05]]))
        seen[name] = log
    for (xa, ya), (xb, yb) in zip(seen["plain"], seen["scaled"]):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_default_runs_are_unchanged_by_the_option():
    a, _ = build(RunOptions(algo="pgd", dataset="iris", seed=3))
    b, _ = build(RunOptions(algo="pgd", dataset="iris", seed=3, weight_scale=None))
    a.run(1, progress=False)
    b.run(1, progress=False)
    np.testing.assert_array_equal(a.net.backend.read_weights(), b.net.backend.read_weights())
    assert a.net.alpha == [1.0, 1.0]


def test_iris_trains_with_the_auto_scale():
    accs = {}
    for ws in (None, "auto"):
        tr, _ = build(RunOptions(algo="backprop", dataset="iris", seed=0, weight_scale=ws))
        tr.run(30, progress=False)
        accs[ws] = float(np.mean(tr.history.test_acc[-3:]))
    assert accs["auto"] >= 90.0 and accs["auto"] > accs[None] + 10


@pytest.mark.parametrize("value, needle", [
    ("big", "weight_scale must be one of auto"),
    (0.0, r"weight_scale must be in \(0.0, 1000.0\]"),
    ([1.0], r"one gain per layer \(2\)"),
])
def test_bad_weight_scale(value, needle):
    be = make_backend("ideal", SIZES, presets.ideal)
    with pytest.raises(ValueError, match=needle):
        CrossbarMLP(be, SIZES, weight_scale=value)


@pytest.mark.parametrize("argv, needle", [
    (["--weight-scale", "x"], "--weight-scale must be auto or a number in (0, 1000]"),
    (["--algo", "agad", "--chop-prob", "x"], "--chop-prob must be a number in [0, 1]"),
    (["--algo", "ttv2", "--buffer-granularity", "x"],
     "--buffer-granularity must be a number in [0.01, 1000]"),
    (["--algo", "ttv2", "--transfer-every", "x"], "--transfer-every must be an integer in"),
    (["--algo", "ttv2", "--fast-lr", "x"], "--fast-lr must be a number in (0, 100]"),
    (["--mapping", "pairs"], "mapping must be one of differential, reference"),
    (["--mapping", "reference", "--device", "pcm_pair"], "needs --mapping differential"),
    (["--mapping", "reference", "--algo", "onchip-pgd"], "does not apply to --algo onchip-pgd"),
    (["--weight-scale", "-2"], "weight_scale must be in"),
    (["--algo", "agad", "--chop-prob", "2"], r"chop_prob must be in [0.0, 1.0]"),
    (["--algo", "cttv2", "--transfer-every", "0"], "--transfer-every must be an integer"),
    (["--algo", "ttv2", "--buffer-granularity", "0"], "buffer_granularity must be in"),
    (["--algo", "agad", "--fast-lr", "0"], "fast_lr must be in"),
    (["--algo", "pgd", "--fast-lr", "0.1"], "apply to --algo ttv1"),
])
def test_cli_bad_new_options_give_one_line(argv, needle, capsys):
    assert cli.main(["train", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
