"""Fast checks of the co-simulation's host-side pieces (no simulator) and of the CLI's options."""

from __future__ import annotations


import pytest
from insitu.golden.config import ControllerConfig
from insitu.sim import runner, training
from insitu.sim.frontend import decode_signed, encode_signed

from insitu.cli import main


@pytest.mark.parametrize("width", [5, 8, 10, 16])
def test_packed_codes_roundtrip(width):
    m = (1 << (width - 1)) - 1
    codes = [0, m, -m, 1, -1, 3]
    assert decode_signed(encode_signed(codes, width), len(codes), width).tolist() == codes


@pytest.mark.parametrize("width", [5, 8, 10, 16, 32])
@pytest.mark.parametrize("n", [1, 7, 32, 33, 80])
def test_packed_codes_equal_the_field_sum(width, n):
    # every packing path (whole bytes, short vectors, bit arrays) against the definition
    import numpy as np

    m = (1 << (width - 1)) - 1
    codes = np.random.default_rng(width * 100 + n).integers(-m, m + 1, n)
    codes[0] = -m
    want = sum((int(c) & ((1 << width) - 1)) << (k * width) for k, c in enumerate(codes))
    assert encode_signed(codes, width) == want


def test_training_params_are_checked():
    with pytest.raises(ValueError, match="model"):
        training.check_params({"model": "mnist"})
    with pytest.raises(ValueError, match="samples"):
        training.check_params({"samples": 0})
    with pytest.raises(ValueError, match="algorithm must be one of backprop, pgd"):
        training.check_params({"algorithm": "tiki-taka"})
    with pytest.raises(ValueError, match="smaller"):
        training.controller_config({"model": "iris", "array": [4, 4]})
    with pytest.raises(ValueError, match="simulator"):
        runner.check_sim("modelsim")


@pytest.mark.parametrize("bad", [["--sim", "vcs"], ["--model", "mnist"], ["--samples", "0"],
                                 ["--samples", "x"], ["--seed", "-1"], ["--mode", "fast"],
                                 ["--device", "nope"], ["--algorithm", "sgd"]])
def test_cosim_cli_rejects_bad_options(bad, capsys):
    assert main(["cosim", *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err


def test_cosim_cli_help_names_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["cosim", "--help"])
    out = capsys.readouterr().out
    for opt in ("--sim", "--model", "--samples", "--seed", "--mode", "--algorithm", "--device",
                "--waves", "--rebuild"):
        assert opt in out


@pytest.mark.parametrize("mode", ["deterministic", "stochastic"])
def test_scoreboard_schedule_equals_slot_schedule(mode):
    import numpy as np
    from insitu.golden.controller import ControllerReference
    from insitu.sim.scoreboard import schedule_arrays

    cfg = ControllerConfig(rows=7, cols=5, bl=9)
    ref = ControllerReference(cfg)
    rng = np.random.default_rng(1)
    for _ in range(40):
        x = rng.integers(-cfg.dac_max, cfg.dac_max + 1, size=rng.integers(1, 8))
        d = rng.integers(-cfg.dac_max, cfg.dac_max + 1, size=rng.integers(1, 6))
        x[rng.random(x.size) < 0.3] = 0
        gmax = cfg.count_max if mode == "deterministic" else cfg.prob_max
        plan = ref.plan_update(x, d, mode=mode, row_gain=int(rng.integers(0, gmax + 1)),
                               col_gain=int(rng.integers(0, gmax + 1)), dither=bool(rng.random() < .5))
        slots = list(ref.slot_schedule(plan))
        pol, rows, cols = schedule_arrays(ref, plan)
        assert len(slots) == len(pol) == plan.slots
        for k, (p, rm, cm) in enumerate(slots):
            assert p == pol[k] and (rm == rows[k]).all() and (cm == cols[k]).all()


def test_missing_simulator_raises(monkeypatch, tmp_path):
    """No Icarus on PATH: building raises SimulatorMissing (the Icarus tests then skip, or fail
    under INSITU_REQUIRE_ICARUS=1: tests/conftest.py)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("INSITU_SIM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(runner.SimulatorMissing):
        runner.build(runner.Design(ControllerConfig(rows=2, cols=2)), "icarus")


def test_build_cache_lives_in_the_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("INSITU_SIM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = runner.cache_root()
    assert root == tmp_path / "xdg" / "insitu" / "sim"
    from pathlib import Path

    import insitu.sim

    assert Path(insitu.sim.__file__).resolve().parents[1] not in root.resolve().parents


def test_clear_cache_removes_every_build(monkeypatch, tmp_path):
    monkeypatch.setenv("INSITU_SIM_CACHE", str(tmp_path / "cache"))
    for name in ("icarus-a", "verilator-b"):
        (tmp_path / "cache" / name).mkdir(parents=True)
        (tmp_path / "cache" / name / "built.json").write_text("{}")
    assert runner.clear_cache() == 2
    assert not (tmp_path / "cache").exists()


def test_build_and_run_leave_os_environ_alone(monkeypatch, tmp_path):
    """The simulator's environment goes to cocotb's runner, never into os.environ."""
    import os

    monkeypatch.setenv("INSITU_SIM_CACHE", str(tmp_path / "cache"))
    before = dict(os.environ)
    bld = runner.build(runner.Design(ControllerConfig(rows=2, cols=2)), "icarus")
    assert dict(os.environ) == before
    res = runner.run(bld, {"task": "idle", "cycles": 100})
    assert dict(os.environ) == before and res["cycles"] >= 100
