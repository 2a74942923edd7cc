"""Training on the backends: float equivalence, accuracy, resume."""

import numpy as np
import pytest

from insitu.golden import datasets
from insitu.golden.fit import DATA_DIR, EXAMPLES, fit_csv, fit_curve
from insitu.golden.nn import CrossbarMLP, layout_config
from insitu.golden.presets import ecram_organic, rram_oxide
from insitu.golden.train import FloatMLP, Trainer, make_backend


def test_crossbar_mlp_on_ideal_backend_is_float_backprop():
    data = datasets.load("iris", seed=0)
    sizes = (4, 8, 3)
    b = make_backend("ideal", sizes, ecram_organic)
    net = CrossbarMLP(b, sizes)
    targets = net.init_weights(np.random.default_rng(1))
    tr = Trainer(net, data, lr=0.1, seed=2)
    tr.run(2, progress=False)
    f = FloatMLP(targets)
    f.train(data, 2, 0.1, 2)
    for l in range(2):
        np.testing.assert_allclose(net.layer_weights(l)[0], f.w[l], rtol=0, atol=1e-10)
    assert net.capped_updates == 0


def test_ecram_demo_network_within_two_points_of_float():
    data = datasets.load("digits", seed=0)
    sizes = (64, 32, 10)
    b = make_backend("golden", sizes, ecram_organic, seed=1)
    net = CrossbarMLP(b, sizes)
    targets = net.init_weights(np.random.default_rng(2))
    hist = Trainer(net, data, lr=0.05, seed=3).run(6, progress=False)
    facc = FloatMLP(targets).train(data, 6, 0.05, 3)
    assert hist.test_acc[-1] >= facc[-1] - 2.0, (hist.test_acc, facc)
    assert hist.test_acc[-1] > 90.0


def test_training_is_seeded():
    data = datasets.load("iris", seed=0)

    def run(seed):
        b = make_backend("golden", (4, 6, 3), rram_oxide, seed=seed)
        net = CrossbarMLP(b, (4, 6, 3), mode="stochastic")
        net.init_weights(np.random.default_rng(seed))
        Trainer(net, data, lr=0.1, seed=seed).run(1, progress=False)
        return b.conductances.copy()

    np.testing.assert_array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    data = datasets.load("iris", seed=0)
    sizes = (4, 6, 3)

    def fresh():
        b = make_backend("golden", sizes, rram_oxide, seed=3)
        net = CrossbarMLP(b, sizes, mode="stochastic")
        net.init_weights(np.random.default_rng(3))
        return Trainer(net, data, lr=0.1, seed=3)

    full = fresh()
    full.run(3, progress=False)
    part = fresh()
    part.run(3, progress=False, stop_after=170)  # dies mid-epoch 2
    part.save(tmp_path / "run.json")
    import json

    resumed = fresh()
    resumed.load_state_dict(json.loads((tmp_path / "run.json").read_text())["trainer"])
    resumed.run(3, progress=False)
    np.testing.assert_array_equal(resumed.net.backend.conductances, full.net.backend.conductances)
    assert resumed.history.test_acc[-1] == full.history.test_acc[-1]


def test_monte_carlo_instances_train_side_by_side():
    data = datasets.load("iris", seed=0)
    b = make_backend("golden", (4, 6, 3), rram_oxide, seed=1, instances=3)
    net = CrossbarMLP(b, (4, 6, 3))
    net.init_weights(np.random.default_rng(1))
    h = Trainer(net, data, lr=0.1, seed=1).run(1, progress=False)
    assert len(h.test_acc_per_instance[0]) == 3


def test_layout_errors():
    with pytest.raises(ValueError, match="too small"):
        CrossbarMLP(make_backend("golden", (4, 3), ecram_organic), (8, 3))
    with pytest.raises(ValueError, match="at least 2 layer sizes"):
        layout_config([4])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_fit_recovers_the_generating_parameters(name):
    truth = EXAMPLES[name]
    r = fit_csv(DATA_DIR / name, truth.family)
    assert r.residual_rms < 0.1  # the example curves carry 0.05 uS read noise
    for k in ("g_min", "g_max", "dw_min", "up_down", "gamma_up", "gamma_down"):
        assert getattr(r.params, k) == pytest.approx(getattr(truth, k), rel=0.05, abs=0.3), k
    worse = fit_csv(DATA_DIR / name, "constant")
    assert worse.residual_rms > 5 * r.residual_rms


def test_fit_rejects_bad_curves():
    with pytest.raises(ValueError, match="polarities must be -1 or"):
        fit_curve([1, 2, 1, 1], [1.0, 2, 3, 4], "constant")
    with pytest.raises(ValueError, match="family must be one of"):
        fit_curve([1, 1, 1, 1], [1.0, 2, 3, 4], "spline")
