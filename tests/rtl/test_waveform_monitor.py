"""The co-simulation's waveform monitor fails the run, with the rule, cycle and signal, when the
controller breaks the analog port's timing: planted RTL faults built and run through
``insitu cosim`` on Verilator (fresh build caches, so the faulty Verilog is really built)."""

from __future__ import annotations

import pytest
from insitu.golden.config import ControllerConfig
from insitu.rtl import drivers
from insitu.sim.harness import MONITOR_RULES, monitor_message
from planted_faults import row_levels_lose_their_lowest_bit, slots_one_tick_too_long

from insitu.cli import main


def failed_cosim_output(capsys, *args):
    """``insitu cosim`` on Verilator with ``args``: it exits 1; its printed lines."""
    assert main(["cosim", "--sim", "verilator", *args]) == 1
    return capsys.readouterr().out.strip().splitlines()


def test_pulse_one_tick_too_long_fails_cosim_with_the_monitor_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("INSITU_SIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(drivers.LineDrivers, "_slots", slots_one_tick_too_long)
    out = failed_cosim_output(capsys, "--samples", "3")
    assert out[-1].startswith("VIOLATION of the contract: waveform monitor: pulse longer than "
                              "pulse_width at cycle "), out[-1]
    assert "(analog__pulse__row[" in out[-1] or "(analog__pulse__col[" in out[-1]
    # the same build with the monitor's verdict ignored: the front-end measures every pulse
    # on the pins (3 ticks, not 2), the devices move 1.5 steps per pulse, and the first
    # write-verify read after a burst differs from the golden model's
    out = failed_cosim_output(capsys, "--samples", "3", "--no-waveform-monitor")
    assert out[-1].startswith("DIFFERENT from the golden model at step "), out[-1]
    assert "VIOLATION" not in "\n".join(out)


def test_monitor_messages_name_rule_cycle_and_signal():
    cfg = ControllerConfig(rows=3, cols=4)
    assert monitor_message(cfg, 1, 99, 4) == ("waveform monitor: pulse longer than pulse_width "
                                              "at cycle 99 (analog__pulse__col[1])")
    assert monitor_message(cfg, 9, 5, 1).endswith("at cycle 5 (analog__adc__col__start)")
    assert monitor_message(cfg, 12, 7, 0).endswith("(the analog port)")
    assert len(MONITOR_RULES) == 13


def test_levels_other_than_the_reads_fail_cosim(monkeypatch, tmp_path, capsys):
    """In training every read's conversions are answered when its request is sent, for the
    levels the reference drives; the harness checks each conversion sees exactly those. Row
    levels driven with their lowest bit cleared fail the run at the first training read."""
    monkeypatch.setenv("INSITU_SIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(drivers.LineDrivers, "_levels_registers", row_levels_lose_their_lowest_bit)
    out = failed_cosim_output(capsys, "--samples", "2")
    assert out[-1].startswith("VIOLATION of the contract: col read: a conversion answered from "
                              "the table saw other DAC levels than the model answered it for"), out[-1]
