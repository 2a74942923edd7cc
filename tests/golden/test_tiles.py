"""Many tiles: placement, digital partial sums, the unchanged algorithms, bad input."""

import numpy as np
import pytest
from insitu.golden import datasets
from insitu.golden.algorithms.pgd import PGD
from insitu.golden.backends import GoldenBackend, IdealBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.nn import CrossbarMLP, layout_config
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import ecram_organic, ideal, rram_oxide
from insitu.golden.tiles import TiledBackend, place_layers
from insitu.golden.train import Trainer

SIZES = (20, 12, 5)


def steps(net, n=12, seed=0, step=None):
    rng = np.random.default_rng(seed)
    eye = np.eye(net.sizes[-1])
    for _ in range(n):
        x = np.broadcast_to(rng.random(net.sizes[0]), (net.K, net.sizes[0]))
        t = eye[rng.integers(net.sizes[-1])][None, :]
        if step is None:
            net.backprop_step(x, t, 0.1)
        else:
            step(net, x, t, 0.1)


def test_placement_splits_balanced_and_packs_side_by_side():
    blocks = place_layers((256, 246, 10), 256, 256)
    assert [(b.tile, b.row0, b.rows, b.col0, b.cols, b.tile_col0) for b in blocks] == [
        (0, 0, 129, 0, 246, 0), (1, 129, 128, 0, 246, 0), (0, 0, 247, 246, 10, 246)]
    blocks = place_layers(SIZES, 8, 8)
    cover = np.zeros((21, 17), dtype=int)
    for b in blocks:
        assert b.rows <= 8 and b.tile_col0 + b.cols <= 8
        cover[b.row0:b.row0 + b.rows, b.col0:b.col0 + b.cols] += 1
    assert np.all(cover[:, :12] == 1) and np.all(cover[:13, 12:] == 1)
    assert np.all(cover[13:, 12:] == 0)


@pytest.mark.parametrize("device", [ecram_organic, rram_oxide])
def test_one_tile_is_exactly_the_backend(device):
    cfg = layout_config(SIZES)
    nets = []
    for tiled in (False, True):
        b = GoldenBackend(cfg, device, instances=2, seed=5)
        nets.append(CrossbarMLP(TiledBackend([b], SIZES) if tiled else b, SIZES))
        nets[-1].init_weights(np.random.default_rng(1))
        steps(nets[-1])
        steps(nets[-1], step=PGD(), seed=1)
    a, t = nets
    assert np.array_equal(a.backend.conductances, t.backend.tiles[0].conductances)
    assert np.array_equal(a.predict(np.eye(20)[:4]), t.predict(np.eye(20)[:4]))
    assert a.backend.stats.to_dict() == t.backend.stats.to_dict()


def test_ideal_tiles_add_up_to_one_ideal_array():
    flat = IdealBackend(layout_config(SIZES), ideal, instances=2)
    tiled = TiledBackend.create(SIZES, ideal, kind="ideal", tile_rows=8, tile_cols=8, instances=2)
    assert len(tiled.tiles) == 8
    nets = [CrossbarMLP(b, SIZES) for b in (flat, tiled)]
    for net in nets:
        net.init_weights(np.random.default_rng(3))
        steps(net, n=20)
        steps(net, n=5, step=PGD())
    w_flat = nets[0].backend.read_weights()[:, :21, :17]
    np.testing.assert_allclose(nets[1].backend.read_weights(), w_flat, rtol=0, atol=1e-12)
    x = np.random.default_rng(4).random((2, 20))
    for l in range(2):
        np.testing.assert_allclose(nets[1].layer_forward(l, x[:, :SIZES[l]]),
                                   nets[0].layer_forward(l, x[:, :SIZES[l]]), atol=1e-12)
    d = np.random.default_rng(5).standard_normal((2, 5))
    np.testing.assert_allclose(nets[1].layer_backward(1, d), nets[0].layer_backward(1, d),
                               atol=1e-12)


def test_partial_sums_are_integer_sums_of_each_tiles_adc_codes():
    # noiseless devices and converters: a read's error is only each chunk's rounding
    be = TiledBackend.create((30, 4), ideal, tile_rows=8, tile_cols=4, seed=2)
    assert len(be.blocks) == 4  # 31 rows in chunks of 8, 8, 8, 7
    be.program(np.random.default_rng(0).uniform(-0.5, 0.5, (31, 4)))
    x = np.random.default_rng(1).integers(-127, 128, (1, 31))
    y = be.forward(x, 0, 0, 4)
    exact = (x / 127.0) @ be.read_weights()[0] * (be.adc_max / be.periphery.out_bound)
    assert np.all(np.abs(y - exact) <= 0.5 * len(be.blocks) + 1e-9)
    per_tile = sum(t.forward(x[:, b.row0:b.row0 + b.rows], 0, 0, 4)
                   for b, t in zip(be.blocks, be.tiles))
    assert np.array_equal(y, per_tile)
    # each chunk contributes: driving only the last chunk's rows reads the last tile only
    x_last = np.where(np.arange(31) >= 24, x, 0)
    assert np.array_equal(be.forward(x_last, 0, 0, 4), be.tiles[3].forward(x[:, 24:], 0, 0, 4))


def test_algorithms_run_unchanged_on_a_layer_wider_than_one_array():
    data = datasets.load("digits16", seed=0)
    assert data.features == 256 and data.x_train.min() >= 0 and data.x_train.max() <= 1
    be = TiledBackend.create((256, 16, 10), ecram_organic, instances=2, seed=1)
    net = CrossbarMLP(be, (256, 16, 10))
    net.init_weights(np.random.default_rng(2))
    assert net.layer_weights(0).shape == (2, 257, 16)
    w0 = be.read_weights()
    tr = Trainer(net, data, lr=0.05, seed=3, step=PGD())
    tr.run(1, progress=False, stop_after=40)
    assert not np.array_equal(be.read_weights(), w0)
    assert be.stats.updates >= 40 * 3  # layer 0 spans two tiles: two commands per update


def test_tiled_training_resumes_exactly(tmp_path):
    data = datasets.load("iris", seed=0)
    sizes = (4, 6, 3)

    def trainer():
        be = TiledBackend.create(sizes, ecram_organic, tile_rows=3, tile_cols=4, seed=7)
        net = CrossbarMLP(be, sizes)
        net.init_weights(np.random.default_rng(0))
        return Trainer(net, data, lr=0.1, seed=1)

    a = trainer()
    a.run(1, progress=False)
    b = trainer()
    b.run(1, progress=False, stop_after=50)
    b.save(tmp_path / "s.json")
    c = trainer()
    import json
    c.load_state_dict(json.loads((tmp_path / "s.json").read_text())["trainer"])
    c.run(1, progress=False)
    assert np.array_equal(a.net.backend.read_weights(), c.net.backend.read_weights())


def test_upsampled_digits_interpolate_the_8x8_images():
    flat = np.full((1, 8, 8), 0.25)
    assert np.allclose(datasets.upsample(flat, 16), 0.25)
    img = np.random.default_rng(0).random((3, 8, 8))
    up = datasets.upsample(img, 16)
    assert up.shape == (3, 16, 16) and up.min() >= img.min() and up.max() <= img.max()
    # the 2x2 output pixels around an input pixel centre average back towards it
    assert np.allclose(up[:, 0, 0], img[:, 0, 0])
    d8, d16 = datasets.load("digits", seed=0), datasets.load("digits16", seed=0)
    assert np.array_equal(d8.y_test, d16.y_test)


def test_bad_tiles_are_clear_value_errors():
    with pytest.raises(ValueError, match="need 8 tiles of 8x8, got 7"):
        TiledBackend.create(SIZES, ideal, tile_rows=8, tile_cols=8, tiles=7)
    cfg = ControllerConfig(rows=16, cols=16)
    a = GoldenBackend(cfg, ideal)
    with pytest.raises(ValueError, match="mismatched periphery"):
        TiledBackend([a, GoldenBackend(cfg, ideal, PeripheryParams(out_bound=6.0))], (20, 8))
    with pytest.raises(ValueError, match="adc_bits"):
        TiledBackend([a, GoldenBackend(ControllerConfig(rows=16, cols=16, adc_bits=8), ideal)],
                     (20, 8))
    with pytest.raises(ValueError, match="device parameters"):
        TiledBackend([a, GoldenBackend(cfg, ecram_organic)], (20, 8))
    with pytest.raises(ValueError, match="instances"):
        TiledBackend([a, GoldenBackend(cfg, ideal, instances=2)], (20, 8))
    with pytest.raises(ValueError, match="one size"):
        TiledBackend([a, GoldenBackend(ControllerConfig(rows=16, cols=12), ideal)], (20, 8))
    with pytest.raises(ValueError, match="need 3 tiles"):
        TiledBackend([a, GoldenBackend(cfg, ideal)], (40, 12))
    be = TiledBackend([a, GoldenBackend(cfg, ideal)], (20, 8, 4))
    be.program(np.ones((21, 8)))
    with pytest.raises(ValueError, match="outside the layers"):
        be.program(np.ones((21, 12)))  # layer 1 has 9 rows: no devices below them
    with pytest.raises(ValueError, match="too small"):
        CrossbarMLP(be, (20, 9, 4))


@pytest.mark.parametrize("algo", ["activity-difference", "in-the-loop", "write-verify",
                                  "stochastic-sgd"])
def test_every_algorithm_runs_on_tiles_as_on_one_array(algo):
    from insitu.golden.algorithms import (
        ActivityDifference,
        ChipInTheLoop,
        StochasticSGD,
        WriteVerifySGD,
    )

    sizes = (20, 12, 5)
    mode = "stochastic" if algo == "stochastic-sgd" else "deterministic"
    nets = []
    for tiled in (False, True):
        be = (TiledBackend.create(sizes, ideal, kind="ideal", tile_rows=8, tile_cols=8)
              if tiled else IdealBackend(layout_config(sizes), ideal))
        net = CrossbarMLP(be, sizes, mode=mode)
        targets = net.init_weights(np.random.default_rng(3))
        if algo == "activity-difference":
            step = ActivityDifference()
        elif algo == "in-the-loop":
            step = ChipInTheLoop(net, targets)
        elif algo == "write-verify":
            step = WriteVerifySGD(net, targets)
        else:
            step = StochasticSGD()
        w0 = be.read_weights()
        steps(net, n=6, step=step)
        assert not np.allclose(be.read_weights(), w0)  # the algorithm trained
        nets.append(net)
    w = nets[0].backend.read_weights()[:, :21, :17]
    np.testing.assert_allclose(nets[1].backend.read_weights(), w, rtol=0, atol=1e-9)
