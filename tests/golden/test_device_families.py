"""The linear-step and exponential-step families, their compiled twin, the presets
and their fits."""

import numpy as np
import pytest
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.devices import DeviceArray, DeviceParams, simulate_curve
from insitu.golden.fit import example_pulse_train, fit_curve
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import PRESETS, get_device, li_ecram, reram_es

from insitu import cli

LIN = DeviceParams(family="linear_step", g_min=0.0, g_max=100.0, dw_min=1.0, up_down=0.1,
                   gamma_up=0.4, gamma_down=0.7)
TAB = DeviceParams(family="table", g_min=0.0, g_max=100.0, dw_min=0.8, up_down=0.1,
                   table_g=(0.0, 30.0, 60.0, 100.0), table_up=(1.4, 1.0, 0.7, 0.1),
                   table_down=(0.1, 0.8, 1.1, 1.5))
EXP = reram_es.with_(d2d=0.0, up_down_d2d=0.0, bounds_d2d=0.0, c2c=0.0, dw_min=1.0)
CFG = ControllerConfig(rows=12, cols=9, adcs=2, adc_average=2)
NOISY = PeripheryParams(adc_noise=0.5)


def random_program(b, seed=0, scale=0.5):
    t = np.random.default_rng(seed).uniform(-scale, scale, (b.config.rows, b.config.cols))
    return b.program(t)


def run_session(b, seed=1, steps=30):
    """Reads and updates of random codes; returns every code the backend produced."""
    rng = np.random.default_rng(seed)
    c = b.config
    out = []
    for k in range(steps):
        x = rng.integers(-c.dac_max, c.dac_max + 1, size=c.rows)
        d = rng.integers(-c.dac_max, c.dac_max + 1, size=c.cols)
        out.append(b.forward(x))
        out.append(b.backward(d))
        b.update(x, d, row_gain=c.count_max, col_gain=c.count_max, dither=k % 2 == 0)
    return np.concatenate(out)


def _one(p, g):
    return DeviceArray.create(p.with_(d2d=0, up_down_d2d=0, bounds_d2d=0, c2c=0), (len(g),),
                              np.random.default_rng(0), g0=np.asarray(g, dtype=float))


def test_linear_step_law():
    g = np.array([0.0, 25.0, 50.0, 100.0])
    u = 2 * g / 100 - 1
    dev = _one(LIN, g)
    np.testing.assert_allclose(dev.step_size(g, np.ones(4, bool)), 1.1 * (1 - 0.4 * u))
    np.testing.assert_allclose(dev.step_size(g, np.zeros(4, bool)), 0.9 * (1 + 0.7 * u))


def test_exp_step_law_is_the_simulators_form():
    g = np.array([0.0, 50.0, 100.0])
    u = 2 * g / 100 - 1
    z = -0.5 * u - 0.5
    dev = _one(EXP, g)
    up = 1.259359 * np.maximum(1 + 1.18445 * np.exp(5 * z), 0)
    down = 0.740641 * np.maximum(1 + 0.081404 * np.exp(-5 * z), 0)
    np.testing.assert_allclose(dev.step_size(g, np.ones(3, bool)), up, rtol=1e-12)
    np.testing.assert_allclose(dev.step_size(g, np.zeros(3, bool)), down, rtol=1e-12)
    # the published shape: potentiation steps shrink towards g_max, depression grows there
    assert up[0] > up[-1] and down[-1] > down[0]


@pytest.mark.parametrize("p", [LIN, EXP, LIN.with_(gamma_up=3.0)], ids=["lin", "exp", "steep"])
def test_n_pulses_equal_n_single_pulses_and_stay_in_bounds(p):
    rng = np.random.default_rng(2)
    g0 = rng.uniform(0, 100, 40)
    n = rng.integers(-30, 31, 40)
    a = _one(p, g0)
    a.apply_pulses(n)
    b = _one(p, g0)
    for k in range(30):
        b.apply_pulse(np.where(np.abs(n) > k, np.sign(n), 0))
    np.testing.assert_allclose(a.g, b.g, rtol=0, atol=1e-12)
    assert np.all((a.g >= 0) & (a.g <= 100))


@pytest.mark.parametrize("device, code", [
    (LIN.with_(c2c=0.3, d2d=0.2, bounds_d2d=0.05), 3), (li_ecram, 3),
    (EXP.with_(c2c=0.3, d2d=0.2, bounds_d2d=0.05), 4), (reram_es, 4),
    (TAB.with_(c2c=0.3, d2d=0.2, bounds_d2d=0.05), 5),
], ids=["lin", "li_ecram", "exp", "reram_es", "table"])
def test_numba_twins_match_numpy(device, code):
    a = GoldenBackend(CFG, device, NOISY, seed=3, engine="numpy")
    b = GoldenBackend(CFG, device, NOISY, seed=3, engine="numba")
    assert b._kernel == code and a._kernel is None
    random_program(a)
    random_program(b)
    ca, cb = run_session(a), run_session(b)
    assert np.max(np.abs(ca - cb)) <= 1
    np.testing.assert_allclose(a.conductances, b.conductances, rtol=0, atol=1e-9)
    assert a.stats == b.stats


@pytest.mark.parametrize("p, q", [(LIN, LIN.with_(gamma_up=0.7, gamma_down=0.4)),
                                  (EXP, EXP.with_(exp_A_down=-0.2)),
                                  (TAB, TAB.with_(table_g=(0.0, 30.0, 62.0, 100.0)))],
                         ids=["lin", "exp", "table"])
def test_a_planted_shape_error_in_the_twin_would_be_seen(p, q):
    """The twin comparison can fail: a device against a slightly different shape."""
    a = GoldenBackend(CFG, p, seed=3, engine="numba")
    b = GoldenBackend(CFG, q, seed=3, engine="numpy")
    random_program(a)
    random_program(b)
    run_session(a), run_session(b)
    assert np.max(np.abs(a.conductances - b.conductances)) > 1e-3


def test_presets_have_sources_and_build():
    assert len(PRESETS) >= 8
    for name, p in PRESETS.items():
        assert p.name == name and len(p.source) > 80, name
        assert get_device(name) is p
        b = GoldenBackend(CFG, p, seed=0)
        b.update(np.full(12, 100), np.full(9, 100), row_gain=7, col_gain=7)
        assert np.all(np.isfinite(b.read_weights()))
    assert {"li_ecram", "ecram_mo", "reram_es", "reram_sb", "taox_memristor",
            "pcm_pair", "capacitor"} <= set(PRESETS)


@pytest.mark.parametrize("truth", [
    LIN.with_(g_min=5.0, g_max=90.0, dw_min=1.5),
    EXP.with_(g_min=5.0, g_max=90.0, dw_min=0.8),
], ids=["linear_step", "exp_step"])
def test_fit_recovers_the_new_families(truth):
    pols = example_pulse_train(cycles=2, per_phase=120)
    g = simulate_curve(truth, pols, truth.g_min)
    g = g + 0.02 * np.random.default_rng(0).standard_normal(g.shape)
    r = fit_curve(pols, g, truth.family, truth.g_min)
    assert r.residual_rms < 0.1
    sim = simulate_curve(r.params, pols, truth.g_min)
    assert np.sqrt(np.mean((sim - g) ** 2)) < 0.1
    assert r.params.family == truth.family
    assert fit_curve(pols, g, "constant", truth.g_min).residual_rms > 5 * r.residual_rms


@pytest.mark.parametrize("kw, needle", [
    (dict(family="exp_step", exp_A_up=11.0), r"exp_A_up must be in \[-10.0, 10.0\]"),
    (dict(family="linear_step", gamma_up=-1.0), r"gamma_up must be in \[0.0, 10.0\]"),
    (dict(family="exp_step", exp_a=float("nan")), "exp_a must be a finite number"),
])
def test_bad_family_parameters(kw, needle):
    with pytest.raises(ValueError, match=needle):
        DeviceParams(**kw)


def test_train_help_lists_every_preset(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in PRESETS:
        assert name in out


def test_cli_bad_preset_is_one_line(capsys):
    assert cli.main(["train", "--device", "reram_xx", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device must be one of" in err[0] and "reram_es" in err[0]


def test_reference_device_variant_has_its_own_reference_spread():
    dev = LIN.with_(ref_d2d=0.05)
    cfg = ControllerConfig(rows=6, cols=5)
    a = GoldenBackend(cfg, dev, seed=1, mapping="reference")
    plain = GoldenBackend(cfg, LIN, seed=1, mapping="reference")
    assert np.ndim(a.g_ref) == 3 and np.ndim(plain.g_ref) == 0
    assert 0.03 < np.std(a.g_ref) / 100 < 0.07
    # same devices, weights offset by the references' spread: w = 2 (g - g_ref) / range
    np.testing.assert_allclose(a.read_weights() - plain.read_weights(),
                               -2 * (a.g_ref - 50.0) / 100, atol=1e-12)
    # updates and write-verify work against the per-device reference (numpy path)
    a.update(np.full(6, 127), np.full(5, 127), row_gain=7, col_gain=7)
    a.program(np.zeros((6, 5)))
    assert np.abs(a.read_weights()).max() < 0.05
    # differential pairs need no reference: the spread is not drawn, the stream is unchanged
    d1 = GoldenBackend(cfg, dev, seed=1)
    d2 = GoldenBackend(cfg, LIN, seed=1)
    assert d1.rng.bit_generator.state == d2.rng.bit_generator.state
    with pytest.raises(ValueError, match=r"ref_d2d must be in \[0.0, 0.5\]"):
        LIN.with_(ref_d2d=0.6)


def test_train_reaches_the_reference_device_variant():
    from insitu.golden.algorithms.runs import RunOptions, build

    for algo in ("pgd", "agad"):
        trainer, _ = build(RunOptions(algo=algo, device="reram_sb", mapping="reference"))
        be = trainer.net.backend
        assert be.mapping == "reference" and be.pairs == 1
        assert np.ndim(be.g_ref) == 3  # reram_sb's reference spread, ref_d2d 0.025
        assert 0.015 < np.std(be.g_ref) / 100 < 0.035
    trainer, _ = build(RunOptions(device="reram_sb"))
    assert trainer.net.backend.mapping == "differential"


def test_cli_trains_the_reference_mapping(tmp_path, capsys):
    import json

    save = tmp_path / "run.json"
    assert cli.main(["train", "--device", "reram_sb", "--mapping", "reference", "--dataset",
                     "iris", "--epochs", "1", "--no-progress", "--save", str(save)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["device"] == "reram_sb" and 0 <= out["test_acc"] <= 100
    assert json.loads(save.read_text())["options"]["mapping"] == "reference"


def _device_curves(base, n=6, seed=0, spread=0.1):
    """Curves of n devices whose asymmetry differs: their symmetry points spread."""
    rng = np.random.default_rng(seed)
    pols = example_pulse_train(cycles=2, per_phase=120)
    curves, sym = [], []
    for _ in range(n):
        p = base.with_(up_down=float(np.clip(rng.normal(0, spread), -0.5, 0.5)))
        from insitu.golden.fit import symmetry_point

        sym.append(symmetry_point(p))
        g = simulate_curve(p, pols, p.g_min) + 0.02 * rng.standard_normal(len(pols))
        curves.append((pols, g, p.g_min))
    return curves, np.array(sym)


def test_fit_of_the_reference_device_variant():
    from insitu.golden.fit import fit_devices, symmetry_point

    sb = DeviceParams(family="soft_bounds", dw_min=1.0)
    assert abs(symmetry_point(sb) - 50.0) < 1e-6  # symmetric soft bounds: mid-range
    assert symmetry_point(sb.with_(up_down=0.2)) > 50.0  # stronger SET: higher
    curves, sym = _device_curves(sb)
    r = fit_devices(curves, "soft_bounds", reference=True)
    assert r.residual_rms < 0.05 and r.params.family == "soft_bounds"
    assert abs(r.params.ref_d2d - np.std(sym) / 100) < 0.005 and r.params.ref_d2d > 0.02
    assert 0.05 < r.params.up_down_d2d < 0.15
    # without variation the reference spread vanishes; a planted spread is what it sees
    flat, _ = _device_curves(sb, spread=0.0)
    assert fit_devices(flat, "soft_bounds", reference=True).params.ref_d2d < 0.002
    with pytest.raises(ValueError, match=r"number of curves must be an integer in \[2"):
        fit_devices(curves[:1], "soft_bounds", reference=True)
    with pytest.raises(ValueError, match="family .reference-device variant. must be one of"):
        fit_devices(curves, "constant", reference=True)


def test_cli_fits_the_reference_variant(tmp_path, capsys):
    from insitu.golden.devices import write_curve_csv

    curves, _ = _device_curves(LIN.with_(dw_min=1.0), n=3)
    paths = []
    for k, (pols, g, g0) in enumerate(curves):
        path = tmp_path / f"dev{k}.csv"
        write_curve_csv(path, np.concatenate([[0], pols]), np.concatenate([[g0], g]))
        paths.append(str(path))
    out = tmp_path / "ref.json"
    assert cli.main(["fit", *paths, "--family", "linear_step", "--reference", "-o",
                     str(out)]) == 0
    text = capsys.readouterr().out
    assert "over 3 devices" in text and "ref_d2d" in text
    dev = get_device(str(out))
    assert dev.family == "linear_step" and dev.ref_d2d > 0
    assert cli.main(["fit", paths[0], "--family", "linear_step", "--reference"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least 2 curve files" in err[0]
