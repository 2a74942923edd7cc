"""Command-level and host-link checks of the controller RTL against the protocol reference.

Both run inside the simulator (:mod:`insitu.sim.tb_cosim`). The reference is
:class:`~insitu.golden.protocol.ProtocolReference` with a second golden array
(same seed) behind it (:class:`GoldenAnalog`); the RTL has the first one behind
its analog port. If the RTL answers every frame byte for byte like the
reference, emits the same pulse slots (scoreboard) and ends with the same
conductances, the two arrays saw the same reads and pulses in the same order.
"""

from __future__ import annotations

import collections
import random

import numpy as np
from insitu.golden import protocol as P
from insitu.golden.controller import ControllerReference
from insitu.rtl.uart import rx_fifo_depth

from .session import Session, physics_from

CHECK_BOUND_CYCLES = 400_000  # simulated time a chunk may take to be answered


class GoldenAnalog:
    """The ``analog`` object of ProtocolReference on a GoldenBackend, one conversion event at a
    time exactly like :class:`~insitu.sim.frontend.AnalogFrontEnd` answers them."""

    def __init__(self, physics, config):
        self.physics = physics
        self.config = config
        self.ref = ControllerReference(config)
        self.single = False
        self.bursts: list = []  # counts of every pulse burst, in order
        self.events: list = []  # (side, mux position, raw samples) of every conversion event
        #: a stuck converter, as :meth:`AnalogFrontEnd.arm_hang` plants it: the conversion this
        #: many starts from now converts nothing and times out (``ConverterTimeout``)
        self.hang_at = None

    def arm_hang(self, k: int = 0) -> None:
        self.hang_at = int(k)

    def read(self, drive_side, levels, sense_side, l0, l1):
        cfg = self.config
        transpose = drive_side == P.Side.COLS
        lv = np.asarray(levels, dtype=np.int64)[None, :]
        out = np.zeros(l1 - l0, dtype=np.int64)
        side = "row" if transpose else "col"
        for index, pos in enumerate(self.ref.adc_positions(l0, l1)):
            samples = []
            for _ in range(cfg.adc_average):
                if self.hang_at is not None:
                    self.hang_at -= 1
                    if self.hang_at < 0:  # no conversion after the stuck one
                        self.hang_at = None
                        raise P.ConverterTimeout(index, out)
                a = self.physics.convert_event(lv, transpose, pos, self.single)[0]
                self.events.append((side, pos, tuple(int(v) for v in a)))
                samples.append(a)
            avg = self.ref.average(samples)
            for k in range(cfg.adcs):
                line = pos * cfg.adcs + k
                if l0 <= line < l1:
                    out[line - l0] = avg[k]
        return out

    def pulse(self, counts):
        self.physics.apply_counts(np.asarray(counts, dtype=np.int64)[None], 0, 0)
        self.bursts.append(np.array(counts))


class Reference(P.ProtocolReference):
    """ProtocolReference that tells its analog the TIA range and lists the bursts it expects."""

    def __init__(self, config, analog: GoldenAnalog):
        super().__init__(config, analog)
        self.expect: list = []

    def _do_update(self, f, rest):
        n = len(self.analog.bursts)
        r = super()._do_update(f, rest)
        if r is not None:
            assert len(self.analog.bursts) == n + 1
            self.expect.append(("update", self.last_plan, f["row0"], f["col0"]))
        return r

    def _do_read_device(self, f, rest):
        self.analog.single = True
        try:
            return super()._do_read_device(f, rest)
        finally:
            self.analog.single = False

    def _do_program(self, f, rest):
        self.analog.single = True
        n = len(self.analog.bursts)
        try:
            return super()._do_program(f, rest)
        finally:  # a converter timeout keeps the pulses of the steps before it
            self.analog.single = False
            for counts in self.analog.bursts[n:]:
                self.expect.append(("device", f["row"], f["col"], int(counts[f["row"], f["col"]])))

    def take_expect(self) -> list:
        out, self.expect = self.expect, []
        return out


def random_frame(cfg, rng: random.Random, *, valid: float = 0.85) -> bytes:
    """A well-formed request frame of a random opcode; arguments out of range with 1-valid."""
    m = cfg.dac_max
    good = rng.random() < valid
    ops = [op for op in P.Opcode if op not in P.TRAINER_OPCODES]  # no trainer engine built
    op = rng.choice(ops)

    def window(lines):
        if not good and rng.random() < 0.5:
            return rng.randint(0, lines + 2), rng.randint(0, lines + 2)
        a = rng.randrange(lines)
        return a, rng.randint(1, lines - a)

    def code():
        return rng.choice([0, m, -m, rng.randint(-m, m), rng.randint(-m, m)])

    if op == P.Opcode.STATUS:
        return P.encode_request(op)
    if op == P.Opcode.NEURON_CONTROL:  # flags: reset, neuron reads (no neurons behind the port)
        return P.encode_request(op, flags=rng.randint(0, P.NEURON_FLAGS) if good else 0x84)
    if op == P.Opcode.LOAD_VECTOR:
        side = rng.randint(0, 1) if good else rng.randint(0, 2)
        lines = cfg.rows if side != 1 else cfg.cols
        off, n = window(lines)
        n = max(1, min(n, lines))
        codes = [code() for _ in range(n)]
        if not good and rng.random() < 0.5:
            codes[rng.randrange(n)] = rng.choice([m + 1, -m - 1, 32767])
        return P.encode_request(op, side=side, offset=off, codes=codes)
    if op == P.Opcode.READ_VECTOR:
        side = rng.randint(0, 1) if good else rng.randint(0, 2)
        off, n = window(cfg.rows if side != 1 else cfg.cols)
        return P.encode_request(op, side=side, offset=off, count=n)
    if op in (P.Opcode.FORWARD, P.Opcode.TRANSPOSE):
        r0, nr = window(cfg.rows)
        c0, nc = window(cfg.cols)
        return P.encode_request(op, row0=r0, nrows=nr, col0=c0, ncols=nc)
    if op == P.Opcode.UPDATE:
        mode = rng.randint(0, 1) if good else rng.randint(0, 3)
        gmax = cfg.count_max if mode == 0 else cfg.prob_max
        gain = (lambda: rng.randint(0, gmax)) if good else (lambda: rng.randint(0, gmax + 3))
        flags = rng.choice([0, 1]) if good else rng.choice([0, 1, 2, 0x80])
        r0, nr = window(cfg.rows)
        c0, nc = window(cfg.cols)
        return P.encode_request(op, mode=mode, flags=flags, row_gain=gain(), col_gain=gain(),
                                row0=r0, nrows=nr, col0=c0, ncols=nc)
    row = rng.randrange(cfg.rows) if good else rng.randrange(cfg.rows + 2)
    col = rng.randrange(cfg.cols) if good else rng.randrange(cfg.cols + 2)
    rc = rng.choice([m, m, rng.randint(-m, m)]) if good else rng.choice([m, m + 1, -m - 1])
    if op == P.Opcode.READ_DEVICE:
        return P.encode_request(op, row=row, col=col, read_code=rc)
    return P.encode_request(op, row=row, col=col, target=rng.randint(-cfg.adc_max, cfg.adc_max),
                            tolerance=rng.randint(0, 4), shift=rng.randint(0, 4), read_code=rc)


class Checker:
    """Drives a session and its reference side by side, comparing every response byte."""

    def __init__(self, session: Session, params: dict):
        self.s = session
        session.monitor.expecting = False  # this checker queues the scoreboard itself
        self.cfg = session.config
        self.phys_ref = physics_from(params, self.cfg)
        self.ref = Reference(self.cfg, GoldenAnalog(self.phys_ref, self.cfg))
        self.errors: list[str] = []
        self.frames = 0
        self.responses = 0
        self.statuses = collections.Counter()
        # ADC transaction monitor: every conversion event the front-end answered, in order
        self.events: list = []
        session.frontend.on_conversion.append(
            lambda side, mux, samples: self.events.append(
                (side, int(mux), tuple(int(v) for v in samples))))

    def _queue_expectations(self):
        sb = self.s.scoreboard
        for e in self.ref.take_expect():
            if e[0] == "update":
                sb.expect_update(self.ref.controller, e[1], e[2], e[3])
            else:
                sb.expect_device(e[1], e[2], e[3])

    async def send(self, data: bytes, expected: list[bytes], *, uart_gap: int = 0):
        """Send ``data``, whose responses the reference has given (``expected``), and wait for
        as many. A frame left open at the end times out on both sides (the reference's
        timeout response is added). Returns the bytes received and the responses expected."""
        cut = not self.ref.idle  # the frame stops mid-way: the link times out
        if cut:
            expected = expected + self.ref.timeout()
        self._queue_expectations()
        t = self.s.transport
        bound = CHECK_BOUND_CYCLES * self.s.clock_ns * 1e-9
        if self.s.host_kind == "stream":
            got = await t.aexchange(data, len(expected), bound)
        else:
            await t.write(data, uart_gap)
            got = await t.receive(len(expected), bound)
        if cut:
            self.s.monitor.timeout()
        return got, expected

    async def exchange(self, data: bytes, *, uart_gap: int = 0) -> None:
        """Send ``data``; the reference says how many responses; compare them byte for byte."""
        got, expected = await self.send(data, self.ref.feed(data), uart_gap=uart_gap)
        want = b"".join(expected)
        got_rs = P.ResponseDecoder().feed(got)
        self.frames += 1
        self.responses += len(got_rs)
        for r in got_rs:
            self.statuses[P.Status(r.status).name] += 1
        if got != want:
            self.errors.append(f"chunk {self.frames} ({data[:24].hex()}...): expected "
                               f"{want[:48].hex()} got {got[:48].hex()}")

    def final_checks(self) -> None:
        exp = self.ref.analog.events
        if self.events != exp:
            k = next((i for i, (x, y) in enumerate(zip(self.events, exp)) if x != y),
                     min(len(self.events), len(exp)))
            self.errors.append(f"ADC transaction {k}: expected "
                               f"{exp[k] if k < len(exp) else None}, got "
                               f"{self.events[k] if k < len(self.events) else None} "
                               f"({len(exp)} vs {len(self.events)} events)")
        a, b = self.s.physics.conductances, self.phys_ref.conductances
        if not np.array_equal(a, b):
            self.errors.append(f"conductances differ at {np.argwhere(a != b)[0].tolist()}")
        if self.errors:
            raise AssertionError("; ".join(self.errors[:4]))


async def run_commands(session: Session, params: dict) -> dict:
    """``count`` random commands of every opcode, one frame at a time, with backpressure."""
    rng = random.Random(int(params.get("cmd_seed", 1)))
    ck = Checker(session, params)
    ops = collections.Counter()
    for _ in range(int(params.get("count", 100))):
        frame = random_frame(session.config, rng)
        ops[P.Opcode(frame[P.REQUEST_OPCODE_AT]).name] += 1
        await ck.exchange(frame)
    # state readback at the end
    for side, n in ((0, session.config.rows), (1, session.config.cols)):
        await ck.exchange(P.encode_request(P.Opcode.READ_VECTOR, side=side, offset=0, count=n))
    await ck.exchange(P.encode_request(P.Opcode.STATUS))
    ck.final_checks()
    return {"frames": ck.frames, "responses": ck.responses, "opcodes": dict(ops),
            "adc_transactions": len(ck.events),
            "statuses": dict(ck.statuses)}


def _corrupt(frame: bytes, rng: random.Random) -> bytes:
    b = bytearray(frame)
    k = rng.randrange(1, len(b))
    b[k] ^= 1 << rng.randrange(8)
    return bytes(b)


async def run_robust(session: Session, params: dict) -> dict:
    """Random, corrupted, cut-off and back-to-back frames; every frame answered, state intact."""
    rng = random.Random(int(params.get("cmd_seed", 2)))
    cfg = session.config
    uart = session.host_kind == "uart"
    ck = Checker(session, params)
    kinds = collections.Counter()
    for _ in range(int(params.get("count", 60))):
        kind = rng.choice(["valid", "corrupt", "garbage", "cut", "too_long", "bad_opcode",
                           "back_to_back"])
        kinds[kind] += 1
        if kind == "valid":
            data = random_frame(cfg, rng)
        elif kind == "corrupt":
            data = _corrupt(random_frame(cfg, rng), rng)
        elif kind == "garbage":
            data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        elif kind == "cut":
            f = random_frame(cfg, rng)
            data = f[:rng.randint(1, len(f) - 1)]
        elif kind == "too_long":
            n = P.max_payload(cfg) + rng.randint(1, 300)
            data = bytes([P.SYNC, rng.choice(list(P.Opcode)), n & 0xFF, n >> 8])
        elif kind == "bad_opcode":
            data = P.encode_frame(rng.choice([0x00, 0x09, 0x7F, 0xFF]), bytes(rng.randint(0, 4)))
        else:
            frames = [random_frame(cfg, rng) for _ in range(rng.randint(2, 5))]
            if uart:
                # a UART host may run ahead of the responses by the RX FIFO's depth
                room = rx_fifo_depth(cfg)
                frames = [f for k, f in enumerate(frames)
                          if k == 0 or sum(map(len, frames[:k + 1])) <= room]
            data = b"".join(frames)
        await ck.exchange(data)
        # garbage may end inside a frame header: the reference and the tracker time it out too
    for side, n in ((0, cfg.rows), (1, cfg.cols)):
        await ck.exchange(P.encode_request(P.Opcode.READ_VECTOR, side=side, offset=0, count=n))
    await ck.exchange(P.encode_request(P.Opcode.STATUS))
    if uart:
        extra = await session.transport.quiet(2000 * session.clock_ns * 1e-9)
        if extra:
            ck.errors.append(f"unexpected bytes after the last response: {extra.hex()}")
    ck.final_checks()
    return {"chunks": ck.frames, "responses": ck.responses, "kinds": dict(kinds),
            "statuses": dict(ck.statuses)}


async def run_uart_burst(session: Session, params: dict) -> dict:
    """A host that runs ahead on the UART: a FORWARD (long response) and, without waiting,
    a full-length LOAD_VECTOR and a STATUS. All three are answered: the RX FIFO holds two
    largest requests while the host link executes and answers (see docs/protocol.md)."""
    cfg = session.config
    ck = Checker(session, params)
    data = (P.encode_request(P.Opcode.FORWARD, row0=0, nrows=cfg.rows, col0=0, ncols=cfg.cols)
            + P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0,
                               codes=[1] * cfg.rows)
            + P.encode_request(P.Opcode.STATUS))
    await ck.exchange(data)
    ck.final_checks()
    return {"chunks": ck.frames, "responses": ck.responses}
