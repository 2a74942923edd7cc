import unicodedata

import numpy as np
import pytest
from insitu.golden import braille, presets
from insitu.golden.algorithms import ActivityDifference
from insitu.golden.algorithms.runs import RunOptions, build
from insitu.golden.nn import CrossbarMLP, layout_config

from .helpers import GainErrorBackend, float_ep_step, ideal_net

SIZES = (6, 5, 4)


def _sample(rng, sizes=SIZES):
    return rng.random((1, sizes[0])), (rng.random((1, sizes[-1])) > 0.5).astype(float)


@pytest.mark.parametrize("form", ["difference", "two-phase"])
def test_ideal_backend_equals_float_equilibrium_propagation(form):
    sizes = (6, 5, 4, 3)
    net, targets = ideal_net(sizes, seed=2)
    ws = [t.copy() for t in targets]
    ep = ActivityDifference(beta=0.4, free_steps=6, nudge_steps=3, form=form)
    rng = np.random.default_rng(3)
    for _ in range(15):
        x, t = _sample(rng, sizes)
        ep(net, x, t, 0.05)
        _s0, sb = float_ep_step(ws, x[0], t[0], 0.05, 0.4, 6, 3)
        np.testing.assert_allclose(ep.last[1][-1][0], sb[-1], rtol=1e-9, atol=1e-12)
    assert net.capped_updates == 0
    for l, w in enumerate(ws):
        np.testing.assert_allclose(net.layer_weights(l)[0], w, rtol=1e-9, atol=1e-12)


def _update_error(form, beta, k_up, k_down, seed=0):
    """Relative error of one activity-difference update on devices with static
    per-device gains (k_up when potentiated, k_down when depressed), against
    the same update on exact devices."""
    sizes = SIZES
    net, targets = ideal_net(sizes, seed=seed)
    cfg = layout_config(sizes)
    be = GainErrorBackend(cfg, presets.ideal, k_up=k_up, k_down=k_down)
    bad = CrossbarMLP(be, sizes)
    for t, lw in zip(targets, bad.layers):
        be.program(t, 0, lw.col0)
    ep = ActivityDifference(beta=beta, free_steps=30, nudge_steps=30, form=form)
    x, t = _sample(np.random.default_rng(seed + 1))
    w_before = [net.layer_weights(l).copy() for l in range(2)]
    ep(net, x, t, 0.01)
    ep(bad, x, t, 0.01)  # identical weights -> identical phases (reads are exact)
    num = den = 0.0
    for l in range(2):
        want = net.layer_weights(l) - w_before[l]
        got = bad.layer_weights(l) - w_before[l]
        num += np.sum((got - want) ** 2)
        den += np.sum(want**2)
    return np.sqrt(num / den)


@pytest.mark.parametrize("form", ["difference", "two-phase"])
def test_static_device_gain_error_cancels_to_first_order(form):
    """A per-device gain (same up and down) multiplies the *difference*: the
    update errs by the gain spread (~10%) however small beta is."""
    cfg = layout_config(SIZES)
    k = 1.0 + 0.1 * np.random.default_rng(9).standard_normal((1, cfg.rows, cfg.cols))
    for beta in (0.2, 0.02):
        err = _update_error(form, beta, k, k)
        assert 0.02 < err < 0.2


def test_polarity_dependent_gain_cancels_only_in_difference_form():
    """Up/down asymmetry: the two-phase form writes two O(1) products whose
    asymmetric residue grows as 1/beta; the difference form's error stays at
    the size of the asymmetry. (The two-phase rule is the rule that does not cancel.)"""
    cfg = layout_config(SIZES)
    rng = np.random.default_rng(9)
    k_up = 1.0 + 0.1 * np.abs(rng.standard_normal((1, cfg.rows, cfg.cols)))
    k_down = 1.0 - 0.1 * np.abs(rng.standard_normal((1, cfg.rows, cfg.cols)))
    diff = [_update_error("difference", b, k_up, k_down) for b in (0.2, 0.02)]
    two = [_update_error("two-phase", b, k_up, k_down) for b in (0.2, 0.02)]
    assert max(diff) < 0.25
    assert two[1] > 5 * two[0] * 0.9  # ~ 1/beta growth
    assert two[1] > 4 * max(diff)


def test_no_update_when_output_already_at_target():
    net, _ = ideal_net(SIZES, seed=1)
    ep = ActivityDifference(beta=0.5, free_steps=40, nudge_steps=40)
    x, _ = _sample(np.random.default_rng(2))
    y = ep.free(net, x, steps=40)[-1]
    w0 = [net.layer_weights(l).copy() for l in range(2)]
    ep(net, x, y, 0.1)
    for l in range(2):
        np.testing.assert_allclose(net.layer_weights(l), w0[l], atol=1e-9)


def test_braille_table_matches_unicode_names():
    for ch, dots in braille.LETTER_DOTS.items():
        assert unicodedata.name(chr(braille.code_point(ch))) == f"BRAILLE PATTERN DOTS-{dots}"
    p = braille.patterns()
    assert p.shape == (9, 48)
    for name, row in zip(braille.NAMES, p):
        assert braille.decode(row) == name
    d = [np.sum(a != b) for i, a in enumerate(p) for b in p[:i]]
    assert min(d) >= 6


def test_braille_distortion_rate():
    p = np.zeros((2000, 48))
    flips = braille.distort(p, 0.1, np.random.default_rng(0)).mean()
    assert 0.095 < flips < 0.105
    with pytest.raises(ValueError, match="rate"):
        braille.distort(p, 1.5, np.random.default_rng(0))


def test_braille_run_fixed_seed_is_identical():
    out = []
    for _ in range(2):
        tr, _ = build(RunOptions(algo="activity-difference", dataset="braille",
                                 device="rram_oxide", hidden=8, seed=3))
        tr.run(0, progress=False)
        tr.run(1, progress=False, stop_after=40)
        out.append(tr.net.backend.read_weights())
    np.testing.assert_array_equal(out[0], out[1])


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="beta"):
        ActivityDifference(beta=0.0)
    with pytest.raises(ValueError, match="form"):
        ActivityDifference(form="one")



@pytest.mark.slow
def test_braille_activity_difference_on_rram_recovers_names():
    tr, step = build(RunOptions(algo="activity-difference", dataset="braille",
                                device="rram_oxide", seed=0))
    tr.run(32, progress=False)
    tr.lr /= 3
    tr.run(40, progress=False)
    p = braille.patterns()
    y = np.repeat(np.arange(9), 10)
    ok = braille.exact_matches(step.predict(tr.net, braille.distort(p[y], 0.1,
                                                                    np.random.default_rng(1))), y)
    names = int((ok.reshape(9, 10).mean(axis=1) > 0.5).sum())
    assert names >= 8
