"""A converter whose busy never falls, co-simulated on both simulators: the controller answers
the converter-timeout status ProtocolReference predicts after ``adc_timeout`` ticks, returns to
the safe idle state and serves the frames after it, with the waveform monitor on; and a
controller that ignores its configured timeout fails the run."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import build_for
from insitu.rtl import adc
from insitu.sim import runner

BASE = {"device": "ecram_organic", "seed": 3, "cmd_seed": 4, "tb_seed": 5}

FAULTS = {  # planted fault -> the statuses of its answer (the reference's)
    "first conversion of a FORWARD": ["ADC_TIMEOUT"],
    "second mux position of a TRANSPOSE": ["OK"],  # the header had left: no_code from there
    "READ_DEVICE": ["ADC_TIMEOUT"],
    "second read of a PROGRAM": ["ADC_TIMEOUT"],
}


def test_stuck_converter_answered_then_served(sim, tmp_path):
    bld = build_for(sim)
    cfg = bld.design.config
    res = runner.run(bld, {"task": "converter_faults", **BASE}, test_dir=tmp_path)
    print(res)
    assert res["statuses"] == FAULTS
    assert res["idle_after_timeout"] == [True] * len(FAULTS)
    give_up = cfg.convert_ticks + cfg.adc_timeout
    assert all(give_up <= t < give_up + 200 for t in res["ticks_to_answer"].values()), res
    assert res["frame_errors"] == 3  # each ADC_TIMEOUT answer is counted (STATUS compared)


def ignore_the_timeout(monkeypatch):
    """Plant: the readout waits far longer than the configured ``adc_timeout`` (a controller
    that does not give up when the spec says it must)."""
    original = adc.AdcReadout.elaborate

    def elaborate(self, platform):
        configured = self.config
        self.config = dataclasses.replace(configured, adc_timeout=60000)
        try:
            return original(self, platform)
        finally:
            self.config = configured

    monkeypatch.setattr(adc.AdcReadout, "elaborate", elaborate)


def test_a_controller_that_ignores_the_timeout_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("INSITU_SIM_CACHE", str(tmp_path / "cache"))  # really build the fault
    ignore_the_timeout(monkeypatch)
    bld = build_for("verilator")
    with pytest.raises(runner.ContractViolation, match="first conversion of a FORWARD: port "
                                                       "not idle"):
        runner.run(bld, {"task": "converter_faults", **BASE}, test_dir=tmp_path / "run")
