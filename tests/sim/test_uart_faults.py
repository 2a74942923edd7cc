"""Faults on the UART pins (framing errors, glitches, baud drift of +-2 %, receive FIFO
overflow, a corrupted SYNC byte, truncated frames): every response as the reference predicts
from the bytes that reach the link, the error count in STATUS as it counts, and the next good
frames answered."""

from __future__ import annotations

import pytest
from conftest import build_for
from insitu.sim import runner

#: a write-verify long enough (up to 1023 steps) to outlast a flood of the receive FIFO
CONFIG = {"max_program_iters": 1023}


def test_uart_faults_recovered_and_counted(tmp_path):
    bld = build_for("verilator", "uart", CONFIG)
    res = runner.run(bld, {"task": "uart_faults", "device": "ecram_organic", "seed": 3,
                           "fault_seed": 4}, test_dir=tmp_path)
    f = res["faults"]
    print(f)
    assert f["framing error inside a frame"] == ["TIMEOUT"]
    assert f["framing error on the SYNC byte"] == []
    assert f["glitches on the idle line"] == ["OK"]
    assert f["glitch across a data bit"] == ["BAD_CRC"]
    assert f["baud +2 %"] == f["baud -2 %"] == ["OK", "OK"]
    assert f["truncated frame, then silence"] == ["TIMEOUT"]
    assert f["receive FIFO overflow"] == ["OK", "TIMEOUT"]
    # the bytes the receiver overwrote while the FIFO was full: counted in STATUS (compared
    # with the reference's count in the good frames after the flood)
    assert res["overruns"] > 0


def test_an_uncounted_overrun_fails_with_the_status_named(tmp_path):
    """Planted: a reference that does not count the lost bytes; STATUS after the flood
    differs in its error count."""
    bld = build_for("verilator", "uart", CONFIG)
    with pytest.raises(runner.CosimFailure,
                       match="the good frames after receive FIFO overflow: chunk "):
        runner.run(bld, {"task": "uart_faults", "device": "ecram_organic", "seed": 3,
                         "fault_seed": 4, "plant": "uncounted_overrun"}, test_dir=tmp_path)


def test_a_wrong_prediction_fails_with_the_fault_named(tmp_path):
    """Planted: the reference is fed the byte the receiver drops; the run fails naming it."""
    bld = build_for("verilator", "uart", CONFIG)
    with pytest.raises(runner.CosimFailure, match="framing error inside a frame: expected "):
        runner.run(bld, {"task": "uart_faults", "device": "ecram_organic", "seed": 3,
                         "fault_seed": 4, "plant": "keep_framing_error"}, test_dir=tmp_path)
