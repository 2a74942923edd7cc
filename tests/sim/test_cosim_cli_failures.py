"""``insitu cosim`` fails cleanly: a mismatch or a hang is one line and exit 1, a failed build or
simulator run one line and exit 2 (real runs on Verilator; the golden side or the time bound is changed)."""

from __future__ import annotations

import pytest
from insitu.sim import training

from insitu.cli import main


def test_mismatch_is_one_line_naming_the_first_step(monkeypatch, capsys):
    golden_run = training.golden_run
    # the golden run on other devices (seed + 1) than the Verilog's: the very first step (a
    # write-verify pulse burst of the initial programming) differs
    monkeypatch.setattr(training, "golden_run", lambda p: golden_run({**p, "seed": p["seed"] + 1}))
    assert main(["cosim", "--sim", "verilator", "--samples", "3"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    verdict = [line for line in out if "golden model" in line]
    assert len(verdict) == 1 and verdict[0] == out[-1]
    assert verdict[0].startswith("DIFFERENT from the golden model at step 0: pulse burst 0, "
                                 "device (0, 0): golden "), verdict
    assert " pulses, rtl " in verdict[0]


def test_hang_is_one_line_naming_what_was_awaited(monkeypatch, capsys):
    with_data = training.with_data
    # a simulated-time bound far too short for the run: the first PROGRAM is never answered
    monkeypatch.setattr(training, "with_data", lambda p: {**with_data(p), "max_cycles": 50})
    assert main(["cosim", "--sim", "verilator", "--samples", "2"]) == 1
    out = [line for line in capsys.readouterr().out.splitlines() if "VIOLATION" in line]
    assert len(out) == 1 and out[0].startswith(
        "VIOLATION of the contract: hang: the run did not end within max_cycles = 50 cycles; "
        "the last batch (PROGRAM) was sent at cycle "), out


def test_simulator_failure_is_one_line(monkeypatch, capsys):
    with_data = training.with_data
    # a parameter the training code inside the simulator cannot use: the cocotb test errors
    monkeypatch.setattr(training, "with_data", lambda p: {**with_data(p), "lr": "fast"})
    assert main(["cosim", "--sim", "verilator", "--samples", "2"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("insitu cosim: error: verilator co-simulation "
                                               "failed ("), err


@pytest.mark.icarus
def test_missing_simulator_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no iverilog here
    assert main(["cosim", "--sim", "icarus", "--samples", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = ("insitu cosim: error: icarus build failed: Icarus Verilog is not installed "
                "(apt-get install iverilog)")
    assert err == [expected], err
