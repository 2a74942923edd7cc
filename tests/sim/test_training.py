"""The unchanged training loop through the generated Verilog: RtlBackend vs GoldenBackend.

Same seed, same CrossbarMLP/Trainer code; the co-simulation must give identical ADC
codes (every read), identical pulse bursts (every update command and write-verify
step, per device) and identical final conductances.
"""

from __future__ import annotations

import pytest
from conftest import EXOTIC, build_for
from insitu.sim import runner, training


def run_both(sim, tmp_path, config=None, **kw):
    params = training.with_data({"model": "iris", "seed": 0, "device": "ecram_organic",
                                 "config": config or {}, **kw})
    bld = build_for(sim, config=config)
    assert bld.design.config == training.controller_config(params)
    rtl = runner.run(bld, {"task": "train", **params}, test_dir=tmp_path)
    gold = training.golden_run(params)
    return gold, rtl


def check_identical(gold, rtl, samples):
    assert training.compare(gold, rtl) == []
    assert len(rtl["reads"]) >= 3 * samples  # 2 forward + 1 transpose read per sample
    updates = rtl["stats"]["updates"]
    assert updates > samples  # two layers, skipped only when the error is exactly zero
    assert rtl["stats"]["program_reads"] > 0
    print({k: rtl[k] for k in ("cycles", "wall_s", "train_cycles", "train_wall_s", "wakes")})


@pytest.mark.slow
def test_training_deterministic_dither(sim, tmp_path):
    gold, rtl = run_both(sim, tmp_path, samples=200, mode="deterministic", dither=True)
    check_identical(gold, rtl, 200)


@pytest.mark.slow
def test_training_stochastic(sim, tmp_path):
    gold, rtl = run_both(sim, tmp_path, samples=200, mode="stochastic", lr=0.2)
    check_identical(gold, rtl, 200)


@pytest.mark.slow
def test_training_pgd(sim, tmp_path):
    """The TU/e progressive gradient descent: each layer updated in situ, then the error
    read back through the updated array."""
    gold, rtl = run_both(sim, tmp_path, samples=200, mode="deterministic", dither=True,
                         algorithm="pgd")
    check_identical(gold, rtl, 200)


def test_training_short(sim, tmp_path):
    """A quick smoke run: 20 samples, deterministic without dither, noisy RRAM devices."""
    gold, rtl = run_both(sim, tmp_path, samples=20, mode="deterministic", dither=False,
                         device="rram_oxide")
    check_identical(gold, rtl, 20)


def test_training_shared_averaging_converters(sim, tmp_path):
    """30 samples, stochastic, on the controller with shared averaging ADCs and tight timing."""
    gold, rtl = run_both(sim, tmp_path, samples=30, mode="stochastic", config=EXOTIC)
    check_identical(gold, rtl, 30)


def test_backend_public_api(sim, tmp_path):
    """forward/backward (full and windowed), both updates, program, read_weights, stats:
    the same answers from RtlBackend as from GoldenBackend."""
    params = training.with_data({"model": "iris", "seed": 4, "device": "ecram_organic"})
    rtl = runner.run(build_for(sim), {"task": "api", **params}, test_dir=tmp_path)
    gold = training.golden_api(params)
    for k, v in gold.items():
        assert rtl[k] == v, k
