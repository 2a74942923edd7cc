"""The host-link monitor: what the controller is asked to do, for the front-end and the scoreboard.

:class:`CommandMonitor` sits on the co-simulation's transport
(:mod:`insitu.host.cocotb`) and sees every batch of request bytes before the
harness plays it and the response bytes after. It parses the requests exactly
like the controller (it is a :class:`~insitu.golden.protocol.ProtocolReference`
without an array, so it keeps the x/d buffers and the LFSRs in step) and from
them:

* tells the analog front-end which frames reach the controller (their TIA range:
  :meth:`~insitu.sim.frontend.AnalogFrontEnd.set_batch`), and the conversion
  events a read will make (``predict_reads``: one Python wake per read);
* queues in the scoreboard the pulse slots an UPDATE must fire
  (:meth:`~insitu.golden.controller.ControllerReference.plan_update`), and checks
  each write-verify burst fires on its one device;
* checks the UPDATE response (slots, LFSR draws) and the number of write-verify
  bursts against the PROGRAM response.

The host code (:class:`~insitu.host.interface.HostInterface`) knows nothing of it.
"""

from __future__ import annotations

import time

import numpy as np
from cocotb.utils import get_sim_time
from insitu.golden import protocol as P

#: commands that pulse no device (the array stays as the model has it)
_NO_PULSES = frozenset({P.Opcode.LOAD_VECTOR, P.Opcode.READ_VECTOR, P.Opcode.STATUS,
                    P.Opcode.FORWARD, P.Opcode.TRANSPOSE})
_READS = frozenset({P.Opcode.FORWARD, P.Opcode.TRANSPOSE})


class CommandMonitor(P.ProtocolReference):
    """Parameters
    ----------
    config : ControllerConfig
    frontend : AnalogFrontEnd
    scoreboard : SlotScoreboard
    check_slots : queue every update's slot schedule (else accept any burst)
    predict_reads : announce every read's conversion events to the front-end

    Attributes
    ----------
    expecting : set False when another checker (:mod:`insitu.sim.checks`) queues the
        expectations itself; the front-end is still told the frames.
    last_counts : (rows, cols) signed pulse counts of the last burst.
    update_pulses : pulses of all update bursts so far (write-verify steps not counted).
    burst_log : None, or a list that gets the sparse (row, col, count) triples of every burst.
    python_s : CPU time (its thread's) spent in the monitor.
    last_answers : the response frames the reference gives to the last batch of requests.
    traffic : None, or a list that gets every batch as (request bytes, responses expected):
        the host traffic of a run, to replay without Python (``benchmarks/cosim_speed.py``).
    """

    def __init__(self, config, frontend, scoreboard, *, check_slots: bool = True,
                 predict_reads: bool = False):
        super().__init__(config, analog=None)
        self.frontend = frontend
        self.scoreboard = scoreboard
        self.check_slots = check_slots
        self.predict_reads = predict_reads
        self.expecting = True
        self.last_counts = np.zeros((config.rows, config.cols), dtype=np.int64)
        self.update_pulses = 0  # pulses of every update burst so far (not write-verify steps)
        self.burst_log = None
        self.python_s = 0.0
        self.last_answers: list[bytes] = []
        self.batch_cycle = 0
        self.traffic = None
        self._executed: list[int] = []
        self._checks: list = []  # per executed frame: a check of its response, or None
        self._predicted = False
        self._reads: list = []  # the batch's reads: (side, conversion events, levels driven)
        self._read_levels = None
        self._program_cell = None
        self._program_bursts = 0
        frontend.on_burst.append(self._burst)

    # ------------------------------------------------------------------ transport hooks
    def requests(self, data: bytes) -> None:
        t = time.thread_time()
        self._executed, self._checks, self._predicted, self._reads = [], [], False, []
        self.last_answers = self.feed(data)
        if self.traffic is not None:
            self.traffic.append((bytes(data), len(self.last_answers)))
        self.batch_cycle = int(get_sim_time("ns") / self.frontend.clock_ns)
        fe = self.frontend
        fe.set_batch(self._executed)
        if self.predict_reads and self.expecting:
            self._plan_batch()
        self.python_s += time.thread_time() - t

    def _plan_batch(self) -> None:
        """How the front-end meets this batch's reads and burst, with the fewest wakes:

        * a batch of vector loads and one read: the read's conversions are answered now, for
          the levels the reference drives (the harness checks the RTL applies them), so the
          read wakes no Python; any other batch with reads: each read answered at its first
          conversion, the rest from the harness's table (one wake per read);
        * a batch whose one UPDATE is its last analog command: its burst is taken at the
          response, not at its end (no wake).
        """
        fe, ops = self.frontend, self._executed
        plain = all(op in _NO_PULSES for op in ops)
        if len(self._reads) == 1 and plain and fe.neurons is None:
            side, events, levels = self._reads[0]
            fe.preload_read(side, events, levels)
        else:
            for side, events, _ in self._reads:
                fe.expect_read(side, events)
        self._predicted = bool(self._reads)
        n_update = ops.count(P.Opcode.UPDATE)
        last = ops.index(P.Opcode.UPDATE) if n_update == 1 else -1
        fe.set_defer(n_update == 1 and all(op in _NO_PULSES or op == P.Opcode.UPDATE for op in ops)
                     and not any(op in _READS for op in ops[last + 1:]))

    def responses(self, raw: bytes) -> None:
        t = time.thread_time()
        try:
            self.frontend.take_deferred()  # a deferred burst first: it is older than the answer
            if self._predicted:
                self.frontend.verify_reads()
            # the responses are decoded only where one is checked, and only if a checked one
            # differs from the reference's answer byte for byte (then its check says how)
            if any(self._checks) and not self._as_referenced(raw):
                got = P.ResponseDecoder().feed(raw)
                for check, r in zip(self._checks, got):
                    if check is not None and r.ok:
                        check(r)
        finally:
            self._program_cell = None
            self.python_s += time.thread_time() - t

    def _as_referenced(self, raw: bytes) -> bool:
        """Every checked response is the reference's answer, byte for byte, at its place in
        ``raw`` (each frame as long as the reference's; the other frames only by length):
        then every check passes. Only where each check compares with the reference's answer
        (:data:`_BY_ANSWER`), and each frame of the batch was executed (no frame error)."""
        answers = self.last_answers
        if len(answers) != len(self._checks) or sum(map(len, answers)) != len(raw):
            return False
        pos = 0
        for check, want in zip(self._checks, answers):
            end = pos + len(want)
            if check is not None and (getattr(check, "by_answer", False) is False
                                      or raw[pos:end] != want):
                return False
            pos = end
        return True

    def waiting_for(self) -> str:
        """What the last batch of requests asked, for a hang's verdict."""
        names = ", ".join(P.Opcode(op).name if op in P.Opcode._value2member_map_ else hex(op)
                          for op in self._executed) or "no command"
        return (f"the last batch ({names}) was sent at cycle {self.batch_cycle} and not "
                f"answered by cycle {int(get_sim_time('ns') / self.frontend.clock_ns)}")

    # ------------------------------------------------------------------ the commands
    def execute(self, opcode: int, payload: bytes) -> bytes:
        self._executed.append(opcode)
        self._checks.append(None)
        return super().execute(opcode, payload)

    def _read(self, drive_side, levels, sense_side, l0, l1):
        self._read_levels = np.array(levels, dtype=np.int64)  # what the read drives
        return super()._read(drive_side, levels, sense_side, l0, l1)

    def _expect_read(self, side: str, l0: int, l1: int) -> None:
        if self.expecting and self.predict_reads:
            n = self.config.adc_average
            self._reads.append((side, [pos for pos in self.controller.adc_positions(l0, l1)
                                       for _ in range(n)], self._read_levels))

    def _do_forward(self, f, rest):
        r = super()._do_forward(f, rest)
        if r is not None:
            self._expect_read("col", f["col0"], f["col0"] + f["ncols"])
        return r

    def _do_transpose(self, f, rest):
        r = super()._do_transpose(f, rest)
        if r is not None:
            self._expect_read("row", f["row0"], f["row0"] + f["nrows"])
        return r

    def _do_update(self, f, rest):
        r = super()._do_update(f, rest)
        if r is None or not self.expecting:
            return r
        plan = self.last_plan
        if self.check_slots:
            self.scoreboard.expect_update(self.controller, plan, f["row0"], f["col0"])
        else:
            self.scoreboard.expect_any()
        def check(resp):
            got = resp.fields()
            want = P.unpack_fields(P.RESPONSE_FIELDS[P.Opcode.UPDATE], r)
            if got != want:
                raise AssertionError(f"UPDATE answered {got}, reference {want}")

        check.by_answer = True  # it passes iff the answer's fields are the reference's
        self._checks[-1] = check
        return r

    def _do_program(self, f, rest):
        r = super()._do_program(f, rest)
        if r is None or not self.expecting:
            return r
        row, col = f["row"], f["col"]
        self._program_cell, self._program_bursts = (row, col), 0

        def check(resp):
            got = resp.fields()
            steps = got["reads"] - got["converged"]
            if self._program_bursts != steps:
                raise AssertionError(f"PROGRAM ({row}, {col}): {self._program_bursts} pulse bursts "
                                     f"seen, response says {got['reads']} reads, converged "
                                     f"{got['converged']}")

        self._checks[-1] = check
        return r

    # -- the trainer engine: with ``trainer`` and an ``analog`` copy of the array set
    # (:mod:`insitu.sim.onchip`) the monitor is the golden on-chip reference in lockstep: it
    # queues every update a TRAIN makes and checks the TRAIN / INFER answers
    def _check_fields(self, op, r):
        want = P.unpack_fields(P.RESPONSE_FIELDS[op], r)

        def check(resp):
            got = resp.fields()
            if got != want:
                raise AssertionError(f"{op.name} answered {got}, reference {want}")

        check.by_answer = True
        self._checks[-1] = check

    def _do_train(self, f, rest):
        n0 = len(self.trainer_updates)
        r = super()._do_train(f, rest)
        if r is None or not self.expecting:
            return r
        for plan, row0, col0 in self.trainer_updates[n0:]:
            self.scoreboard.expect_update(self.controller, plan, row0, col0)
        self._check_fields(P.Opcode.TRAIN, r)
        return r

    def _do_infer(self, f, rest):
        r = super()._do_infer(f, rest)
        if r is not None and self.expecting:
            self._check_fields(P.Opcode.INFER, r)
        return r

    # ------------------------------------------------------------------ bursts
    def _burst(self, pol, rows, cols, counts):
        self.last_counts = counts
        if self._program_cell is None:
            self.update_pulses += int(np.abs(counts).sum())
        if self.burst_log is not None:
            i, j = np.nonzero(counts)
            self.burst_log.append(np.stack([i, j, counts[i, j]], axis=1).tolist())
        if not self.expecting:
            self.scoreboard.burst(pol, rows, cols, counts)
            return
        if self._program_cell is not None:
            r, c = self._program_cell
            self._program_bursts += 1
            n = len(pol)
            ok = (1 <= n <= self.config.count_max and np.all(pol == pol[0]) and rows[:, r].all()
                  and cols[:, c].all() and rows.sum() == n and cols.sum() == n)
            if not ok:
                self.scoreboard.errors.append(f"write-verify step on ({r}, {c}) fired {n} slots "
                                              f"elsewhere or with mixed polarity")
            return
        self.scoreboard.burst(pol, rows, cols, counts)
