"""Every rule of the co-simulation's waveform monitor, seen failing: a legal analog-port
sequence (a read, then a two-slot update) passes, and one planted change per rule makes the
monitor report exactly that rule, at the cycle and on the line or side where it happens.
The monitor module is simulated alone on Icarus from a plain Verilog stimulus."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
from insitu.golden.config import ControllerConfig
from insitu.rtl.verilog import write_verilog
from insitu.sim.harness import MONITOR_MODULE, MONITOR_RULES, monitor_verilog

CFG = ControllerConfig(rows=2, cols=2, dac_bits=4, adc_bits=4, pulse_width=2, pulse_gap=1,
                       settle_ticks=2, convert_ticks=3)
CYCLES = 32


def legal() -> list[dict]:
    """Per cycle, the monitored signals that are not 0 (cycle numbers as the monitor counts
    them: 0 is the first tick after reset)."""
    t = [dict() for _ in range(CYCLES)]
    for c in range(5, 13):  # a forward read: row 0 at code 3
        t[c]["analog__dac__row"] = 3
    t[6]["analog__dac__strobe"] = 1  # latched
    t[9]["analog__adc__col__start"] = 1  # settle_ticks + 1 after the strobe; done at 12
    t[14]["analog__dac__strobe"] = 1  # levels back to 0
    t[16]["analog__cmd_done"] = 1
    for c in range(18, 28):
        t[c]["analog__update_active"] = 1
    for c, row, col, pol in ((20, 1, 1, 0), (21, 1, 1, 0), (23, 1, 2, 1), (24, 1, 2, 1)):
        t[c].update(analog__pulse__row=row, analog__pulse__col=col, analog__pulse__pol=pol)
    t[20]["analog__pulse__slot"] = t[23]["analog__pulse__slot"] = 1
    t[25]["analog__pulse__pol"] = 1  # polarity may stay where it was between pulses
    t[27]["analog__update_done"] = 1
    t[29]["analog__cmd_done"] = 1
    return t


R, C, POL, SLOT = ("analog__pulse__row", "analog__pulse__col", "analog__pulse__pol",
                   "analog__pulse__slot")
#: one planted change per rule: fault -> {cycle: {signal: value}} over the legal sequence
FAULTS = {
    "long": {22: {R: 1, C: 1}},  # the first pulse lasts 3 ticks
    "short": {21: {R: 0, C: 0}},
    # the second slot starts right after the first: no gap on row 0
    "gap": {22: {R: 1, C: 2, POL: 1, SLOT: 1}, 23: {R: 1, C: 2, POL: 1, SLOT: 0},
            24: {R: 0, C: 0, POL: 0}},
    "no slot": {20: {SLOT: 0}},
    "no update": {20: {"analog__update_active": 0}},
    "polarity": {21: {POL: 1}},
    "pulse in read": {10: {R: 1, C: 1, SLOT: 1, "analog__update_active": 1},
                      11: {R: 1, C: 1, "analog__update_active": 1}},
    "settle after strobe": {9: {"analog__adc__col__start": 0}, 8: {"analog__adc__col__start": 1}},
    "settle after mux": {c: {"analog__adc__col__mux": 1} for c in range(8, 13)},
    "levels in conversion": {11: {"analog__dac__row": 5}},
    "mux in conversion": {10: {"analog__adc__col__mux": 1}},
    "not idle": {12: {"analog__cmd_done": 1}},
    # a second conversion while the first still runs (its data taken before it was done)
    "start in conversion": {11: {"analog__adc__col__start": 1}},
}


def fault(name: str) -> list[dict]:
    t = legal()
    for cycle, values in FAULTS[name].items():
        t[cycle].update(values)
    return t


EXPECTED = {  # fault -> (rule, cycle, index)
    "long": (1, 22, 0), "short": (2, 21, 0), "gap": (3, 22, 0), "no slot": (4, 20, 0),
    "no update": (5, 20, 0), "polarity": (6, 21, 0), "pulse in read": (7, 10, 0),
    "settle after strobe": (8, 8, 1), "settle after mux": (9, 9, 1),
    "levels in conversion": (10, 11, 1), "mux in conversion": (11, 10, 1), "not idle": (12, 12, 0),
    "start in conversion": (13, 11, 1),
}


@pytest.fixture(scope="module")
def ports(tmp_path_factory):
    side = write_verilog(CFG, tmp_path_factory.mktemp("v") / "c.v")
    return [p for p in side["ports"] if p["name"].startswith("analog__")]


def run_monitor(ports, cycles, tmp_path, cfg=CFG) -> tuple[int, int, int]:
    names = [p["name"] for p in ports if p["direction"] == "output" or p["name"].endswith("__busy")]
    width = {p["name"]: p["width"] for p in ports}
    tb = ["`timescale 1ns/1ps", "module tb;", "    reg clk = 0; reg rst = 1;"]
    tb += [f"    reg [{width[n] - 1}:0] {n} = 0;" for n in names]
    tb += ["    wire mon_fault; wire [7:0] mon_rule; wire [31:0] mon_cycle; wire [15:0] mon_index;",
           f"    {MONITOR_MODULE} m (.clk(clk), .rst(rst), "
           + "".join(f".{n}({n}), " for n in names)
           + ".mon_fault(mon_fault), .mon_rule(mon_rule), .mon_cycle(mon_cycle), "
             ".mon_index(mon_index));",
           "    always #5 clk = !clk;",
           "    initial begin",
           "        @(negedge clk); @(negedge clk); rst = 0;"]
    for vals in cycles:
        tb.append("        " + " ".join(f"{n} = {vals.get(n, 0)};" for n in names) + " @(negedge clk);")
    tb += ['        $display("%0d %0d %0d", mon_rule, mon_cycle, mon_index);', "        $finish;",
           "    end", "endmodule"]
    (tmp_path / "tb.v").write_text("\n".join(tb) + "\n")
    (tmp_path / "mon.v").write_text("`timescale 1ns/1ps\n" + monitor_verilog(cfg, ports))
    subprocess.run(["iverilog", "-g2005", "-s", "tb", "-o", "sim.vvp", "tb.v", "mon.v"],
                   cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, check=True, capture_output=True,
                         text=True).stdout.split()
    rule, cycle, index = (int(v) for v in out[-3:])
    return rule, cycle, index


@pytest.mark.icarus
def test_legal_sequence_passes(ports, tmp_path):
    assert run_monitor(ports, legal(), tmp_path) == (0, 0, 0)


@pytest.mark.icarus
@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_rule_fails_on_its_planted_fault(ports, tmp_path, name):
    rule, cycle, index = run_monitor(ports, fault(name), tmp_path)
    assert (rule, cycle, index) == EXPECTED[name], (MONITOR_RULES.get(rule), cycle, index)


def test_every_rule_has_a_planted_fault():
    assert sorted(r for r, _, _ in EXPECTED.values()) == sorted(MONITOR_RULES)
    assert set(FAULTS) == set(EXPECTED)


def two_pulses(gap: int, cycles: int) -> list[dict]:
    """An update with two 2-tick pulses on row line 0, ``gap`` ticks apart."""
    t = [{} for _ in range(cycles)]
    for c in range(1, cycles - 1):
        t[c]["analog__update_active"] = 1
    for start in (2, 4 + gap):
        t[start].update({R: 1, C: 1, SLOT: 1})
        t[start + 1].update({R: 1, C: 1})
    return t


@pytest.mark.icarus
@pytest.mark.parametrize("gap, expected", [(600, (0, 0, 0)), (599, (3, 603, 0))])
def test_gap_longer_than_the_counter_of_old(ports, tmp_path, gap, expected):
    # board configs reach pulse_gap 304 and more: a 9-bit gap counter saturated at 511 and
    # flagged every legal gap above it as too short
    cfg = dataclasses.replace(CFG, pulse_gap=600)
    assert run_monitor(ports, two_pulses(gap, 610), tmp_path, cfg) == expected


#: a converter stuck busy: convert_ticks 3 + adc_timeout 4, so the controller gives up in the
#: conversion's 6th tick after its start and may release the port from the 7th
STUCK = dataclasses.replace(CFG, adc_timeout=4)


def stuck_conversion(release: int, mux_at: int | None = None, restart: int | None = None):
    """A read whose column conversion starts at cycle 9 and whose busy never falls; the levels
    are released (0, strobe) at ``release``; optionally the mux moves at ``mux_at`` and the
    next conversion starts at ``restart``."""
    t = [{} for _ in range(CYCLES)]
    for c in range(5, release):
        t[c]["analog__dac__row"] = 3
    t[6]["analog__dac__strobe"] = 1
    t[9]["analog__adc__col__start"] = 1
    for c in range(10, CYCLES):
        t[c]["analog__adc__col__busy"] = 1
    t[release]["analog__dac__strobe"] = 1
    if mux_at is not None:
        for c in range(mux_at, CYCLES):
            t[c]["analog__adc__col__mux"] = 1
    if restart is not None:
        t[restart]["analog__adc__col__start"] = 1
    return t


@pytest.mark.icarus
@pytest.mark.parametrize("kw, expected", [
    ({"release": 16}, (0, 0, 0)),  # released when the controller has given up: legal
    ({"release": 15}, (10, 15, 1)),  # one tick before: the levels changed during a conversion
    ({"release": 20, "mux_at": 15}, (11, 15, 1)),
    ({"release": 20, "mux_at": 16}, (0, 0, 0)),
    ({"release": 20, "restart": 15}, (13, 15, 1)),  # data taken while busy was high
    ({"release": 16, "restart": 20}, (0, 0, 0)),  # a new conversion once given up
])
def test_a_stuck_converter_is_given_up_when_the_spec_says(ports, tmp_path, kw, expected):
    assert run_monitor(ports, stuck_conversion(**kw), tmp_path, STUCK) == expected
