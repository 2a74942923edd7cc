"""The Tiki-Taka family and mixed precision: the controller-side arithmetic, the
transfer through one-hot reads, the digital state and its save/resume."""

import json

import numpy as np
import pytest
from insitu.golden import presets
from insitu.golden.algorithms._common import count_codes, pulse_row, read_row
from insitu.golden.algorithms.mixed_precision import CHI_FRAC_BITS, MixedPrecision
from insitu.golden.algorithms.runs import RunOptions, build
from insitu.golden.algorithms.tiki_taka import (
    FRAC_BITS,
    TikiTaka,
    TransferSettings,
    default_settings,
    fast_view,
    make_transfer_backend,
    transfer_config,
)
from insitu.golden.nn import CrossbarMLP
from insitu.golden.train import _from_jsonable, _jsonable, make_backend

SIZES = (4, 5, 3)
QUIET = presets.ideal.with_(dw_min=0.5)  # constant step, no noise: 200 states


def _net(kind="golden", device=QUIET, transfer=True, K=1, seed=0):
    make = make_transfer_backend if transfer else make_backend
    be = make(kind, SIZES, device, seed=seed, instances=K)
    net = CrossbarMLP(be, SIZES)
    net.init_weights(np.random.default_rng(seed))
    return net


@pytest.mark.parametrize("kind", ["golden", "ideal"])
def test_pulse_row_delivers_exact_counts(kind):
    net = _net(kind, transfer=False, K=2)
    cm = net.backend.config.count_max
    before = net.backend.read_weights()
    n = np.array([[cm, -1, 0], [2, 0, -cm]])
    pulse_row(net, 3, net.layers[1].col0, n)
    dw = net.backend.read_weights() - before
    c0 = net.layers[1].col0
    np.testing.assert_allclose(dw[:, 3, c0:c0 + 3], n * net.backend.pulse_dw, atol=1e-12)
    dw[:, 3, c0:c0 + 3] = 0
    assert np.all(dw == 0)  # nothing else moved


def test_count_codes_refuses_counts_beyond_count_max():
    net = _net(transfer=False)
    with pytest.raises(ValueError, match=r"pulse counts must be in \[-7, 7\]"):
        count_codes(net, np.array([[8]]))


def test_one_hot_read_returns_one_row_of_the_weights():
    net = _net("ideal", transfer=False)
    w = net.backend.read_weights()
    codes, v = read_row(net, 2, 0, 5)
    np.testing.assert_allclose(v, w[:, 2, 0:5], atol=1e-12)
    gnet = _net("golden", transfer=False)
    _, gv = read_row(gnet, 2, 0, 5)
    lsb = gnet.backend.codes_to_weighted_sum(1.0)
    np.testing.assert_allclose(gv, gnet.backend.read_weights()[:, 2, 0:5], atol=lsb)


def test_transfer_layout_doubles_the_columns_and_a_starts_at_zero():
    cfg = transfer_config(SIZES)
    assert cfg.cols == 2 * (5 + 3)
    net = _net()
    tt = TikiTaka(net, variant="ttv2")
    w = net.backend.read_weights()
    for lw in tt.fast.layers:
        a = w[:, : lw.rows, lw.col0:lw.col0 + lw.fan_out]
        assert np.abs(a).max() <= 2 * net.backend.pulse_dw
    with pytest.raises(ValueError, match="make_transfer_backend"):
        fast_view(_net(transfer=False))
    with pytest.raises(ValueError, match="256 fit one array"):
        transfer_config((48, 96, 48))


def test_mixed_precision_sends_whole_pulses_and_keeps_the_remainder():
    net = _net("ideal", transfer=False)
    mp = MixedPrecision(net)
    rng = np.random.default_rng(1)
    pdw = net.backend.pulse_dw
    one = 1 << CHI_FRAC_BITS
    for _ in range(30):
        x, t = rng.random((1, 4)), np.eye(3)[[rng.integers(3)]]
        hs = net.forward(x)  # exact reads: the same values the step sees
        d1 = hs[-1] - t
        d0 = net.hidden_delta(0, net.layer_backward(1, d1), hs[1])
        w0 = net.backend.read_weights().copy()
        chi0 = [c.copy() for c in mp.chi]
        mp(net, x, t, 0.5)
        moved = net.backend.read_weights() - w0
        for l, (lw, d) in enumerate(zip(net.layers, (d0, d1))):
            xb = np.append(hs[l][0], 1.0)
            want = np.floor(-0.5 * np.outer(xb, d[0]) * (one / pdw) + 0.5)
            pulses = moved[0, : lw.rows, lw.col0:lw.col0 + lw.fan_out] / pdw
            np.testing.assert_allclose(pulses, np.round(pulses), atol=1e-9)  # whole pulses
            assert np.abs(pulses).max() <= net.backend.config.count_max + 1e-9
            np.testing.assert_allclose(np.round(pulses) * one + mp.chi[l][0] - chi0[l][0], want)
    assert mp.counters["row_updates"] > 0


def test_ttv2_transfers_a_read_above_the_threshold_as_pulses_into_c():
    net = _net("ideal")
    tt = TikiTaka(net, variant="ttv2", settings=TransferSettings(fast_lr=0.1, max_pulses=7))
    pdw = net.backend.pulse_dw
    fw, lw = tt.fast.layers[0], net.layers[0]
    a = np.zeros((lw.rows, lw.fan_out))
    a[0] = [3.2 * pdw, -1.5 * pdw, 0.4 * pdw, 0.0, 9.0 * pdw]
    net.backend.program(a, 0, fw.col0)
    c0 = net.backend.read_weights()[:, 0, lw.col0:lw.col0 + lw.fan_out].copy()
    tt.transfer(net, 0)
    dc = net.backend.read_weights()[:, 0, lw.col0:lw.col0 + lw.fan_out] - c0
    np.testing.assert_allclose(dc / pdw, [[3, -1, 0, 0, 7]], atol=1e-9)
    # forgotten where a pulse went, kept below the threshold
    assert tt.H[0][0, 0, 0] == 0 and tt.H[0][0, 0, 2] == pytest.approx(0.4 * tt.threshold)
    assert tt.next_row[0] == 1 and tt.counters["transfer_reads"] == 1


def test_agad_ignores_a_constant_offset_of_a_after_the_first_chopper_period():
    """A held at a fixed (symmetry-point) offset: c-TTv2 keeps pushing it into C
    through its choppers' unequal times, AGAD integrates A - P_ref = 0."""
    net = _net("ideal")
    s = TransferSettings(fast_lr=0.1, chop_prob=0.5, beta_shift=0, max_pulses=7)
    tt = TikiTaka(net, variant="agad", settings=s)
    pdw = net.backend.pulse_dw
    fw, lw = tt.fast.layers[1], net.layers[1]
    net.backend.program(np.full((lw.rows, lw.fan_out), 0.6 * pdw), 0, fw.col0)
    w0 = net.backend.read_weights().copy()
    for _ in range(2 * lw.rows):  # the first period of every row: P_ref still 0
        tt.transfer(net, 1)
    w1 = net.backend.read_weights().copy()
    for _ in range(20 * lw.rows):
        tt.transfer(net, 1)
    np.testing.assert_allclose(net.backend.read_weights(), w1, atol=1e-12)
    assert not np.allclose(w1, w0)  # the offset did pass before the reference was taken


def test_cttv2_choppers_flip_at_their_probability():
    net = _net("ideal")
    tt = TikiTaka(net, variant="cttv2", settings=TransferSettings(fast_lr=0.1, chop_prob=0.25),
                  seed=3)
    flips = 0
    for _ in range(400):
        before = tt.chop[0].copy()
        tt.transfer(net, 0)
        flips += int(np.count_nonzero(tt.chop[0] != before))
    assert 0.18 < flips / 400 < 0.32


@pytest.mark.parametrize("algo", ["mixed-precision", "ttv1", "ttv2", "cttv2", "agad"])
def test_resume_restores_the_digital_state_exactly(algo):
    opts = RunOptions(algo=algo, dataset="iris", device="rram_oxide", seed=2, instances=2)
    full, fstep = build(opts)
    full.run(2, progress=False)
    part, pstep = build(opts)
    part.run(2, progress=False, stop_after=123)
    saved = json.loads(json.dumps({"t": part.state_dict(), "a": _jsonable(pstep.state_dict())}))
    res, rstep = build(opts)
    res.load_state_dict(saved["t"])
    rstep.load_state_dict(_from_jsonable(saved["a"]))
    res.run(2, progress=False)
    np.testing.assert_array_equal(full.net.backend.read_weights(), res.net.backend.read_weights())
    assert full.history.test_acc == res.history.test_acc
    a, b = fstep.state_dict(), rstep.state_dict()
    for k in a:
        if isinstance(a[k], list) and a[k] and isinstance(a[k][0], np.ndarray):
            for x, y in zip(a[k], b[k]):
                np.testing.assert_array_equal(x, y)
        else:
            assert a[k] == b[k], k


def test_digital_state_is_integer_on_the_golden_backend():
    net = _net()
    tt = TikiTaka(net, variant="agad")
    assert all(h.dtype == np.int64 for h in tt.H + tt.P + tt.P_ref)
    assert isinstance(tt.threshold, int) and tt.threshold >= 1
    mp = MixedPrecision(_net(transfer=False))
    assert all(c.dtype == np.int64 for c in mp.chi)
    assert FRAC_BITS == 8


@pytest.mark.parametrize("algo, epochs, measured", [
    ("cttv2", 2, 85.5), ("agad", 2, 84.7), ("mixed-precision", 1, 75.5)])
def test_the_family_learns_digits(algo, epochs, measured):
    tr, _ = build(RunOptions(algo=algo, dataset="digits", device="ecram_organic", seed=0))
    tr.run(epochs, progress=False)
    assert tr.history.test_acc[-1] >= measured - 10


def test_defaults_follow_the_device():
    s = default_settings("agad", presets.rram_oxide, 0.1)
    assert s.fast_lr == 0.1 and s.chop_prob == 0.01 and s.max_pulses == 7
    # one row of A per layer and sample up to 2000 states, more for finer devices
    assert s.rows_per_transfer == 1
    assert default_settings("agad", presets.reram_es, 0.1).rows_per_transfer == 1
    assert default_settings("cttv2", presets.ecram_mo, 0.1).rows_per_transfer == 4
    assert default_settings("ttv2", presets.ecram_mo, 0.1, rows_per_transfer=2) \
        .rows_per_transfer == 2
    a = TikiTaka(_net(device=presets.rram_oxide), variant="agad", lr=0.1)
    b = TikiTaka(_net(device=presets.ecram_organic), variant="agad", lr=0.1)
    assert a.threshold > b.threshold  # coarser steps, higher integer threshold


@pytest.mark.parametrize("kw, needle", [
    (dict(fast_lr=0.0), r"fast_lr must be in \(0.0, 100.0\]"),
    (dict(fast_lr=0.1, transfer_every=0), r"transfer_every must be an integer in \[1, 1000000\]"),
    (dict(fast_lr=0.1, transfer_lr=-1.0), "transfer_lr must be"),
    (dict(fast_lr=0.1, buffer_granularity=0.0), r"buffer_granularity must be in \[0.01"),
    (dict(fast_lr=0.1, chop_prob=1.5), r"chop_prob must be in \[0.0, 1.0\]"),
    (dict(fast_lr=0.1, beta_shift=17), r"beta_shift must be an integer in \[0, 16\]"),
    (dict(fast_lr=0.1, max_pulses=0), "max_pulses must be"),
    (dict(fast_lr=0.1, rows_per_transfer=300), "rows_per_transfer must be"),
])
def test_bad_settings_name_the_parameter_and_its_range(kw, needle):
    with pytest.raises(ValueError, match=needle):
        TransferSettings(**kw)


def test_bad_variant_and_mp_pulses_are_refused():
    with pytest.raises(ValueError, match="variant must be one of"):
        TikiTaka(_net(), variant="ttv3")
    with pytest.raises(ValueError, match=r"max_pulses must be an integer in \[1, 7\]"):
        MixedPrecision(_net(transfer=False), max_pulses=8)
