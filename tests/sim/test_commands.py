"""Every controller command through the generated Verilog against the protocol reference
over a golden array, with random stream backpressure and converter busy stretches; and
host-link robustness (random, corrupted, cut-off, back-to-back frames) on the stream port
and on the UART pins."""

from __future__ import annotations

from conftest import EXOTIC, build_for
from insitu.sim import runner

BASE = {"device": "ecram_organic", "seed": 3}


def test_commands_against_reference(sim, tmp_path):
    bld = build_for(sim)
    res = runner.run(bld, {"task": "commands", **BASE, "count": 120, "cmd_seed": 11,
                           "rx_pause": 90, "tx_pause": 90, "busy_seed": 5, "tb_seed": 7},
                     test_dir=tmp_path)
    print(res)
    assert res["responses"] == res["frames"]
    assert set(res["opcodes"]) == {"STATUS", "LOAD_VECTOR", "READ_VECTOR", "FORWARD", "TRANSPOSE",
                                   "UPDATE", "PROGRAM", "READ_DEVICE", "NEURON_CONTROL"}
    assert res["statuses"].get("OK", 0) > 60 and res["statuses"].get("BAD_ARG", 0) > 3
    assert res["slots"] > 0 and res["conversions"] > 0


def test_commands_shared_averaging_converters(sim, tmp_path):
    """Three ADCs over the lines, averaging, one-tick pulses back to back, no settling."""
    bld = build_for(sim, config=EXOTIC)
    res = runner.run(bld, {"task": "commands", **BASE, "count": 80, "cmd_seed": 12,
                           "rx_pause": 60, "tx_pause": 60, "busy_seed": 6, "tb_seed": 9},
                     test_dir=tmp_path)
    print(res)
    assert res["responses"] == res["frames"] and res["adc_transactions"] > 50


def test_hostlink_robust_stream(sim, tmp_path):
    bld = build_for(sim)
    res = runner.run(bld, {"task": "robust", **BASE, "count": 80, "cmd_seed": 23,
                           "rx_pause": 60, "tx_pause": 60, "tb_seed": 3}, test_dir=tmp_path)
    print(res)
    assert res["responses"] >= res["chunks"] - res["kinds"].get("garbage", 0)
    assert {"BAD_CRC", "TIMEOUT", "BAD_LENGTH", "BAD_OPCODE"} <= set(res["statuses"])


def test_hostlink_robust_uart(sim, tmp_path):
    bld = build_for(sim, "uart")
    res = runner.run(bld, {"task": "robust", **BASE, "count": 25, "cmd_seed": 5},
                     test_dir=tmp_path)
    print(res)
    assert {"TIMEOUT", "OK"} <= set(res["statuses"])


def test_uart_host_running_ahead(sim, tmp_path):
    """FORWARD, then at once a full LOAD_VECTOR and a STATUS: all three answered in order."""
    bld = build_for(sim, "uart")
    res = runner.run(bld, {"task": "uart_burst", **BASE}, test_dir=tmp_path)
    assert res["responses"] == 3, res
