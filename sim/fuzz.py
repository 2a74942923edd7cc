"""Link fuzzing: many random and corrupted frames, every one checked against the reference.

:func:`run_fuzz` runs inside the simulator (task ``fuzz`` of :mod:`insitu.sim.tb_cosim`). It
sends batches of frames back to back (valid frames of every opcode with arguments in and out
of range, frames with a flipped bit, a corrupted SYNC byte, a wrong length, an unknown opcode,
a length above the buffer, loose garbage bytes, and a frame cut off at the end of a batch),
one Python wake per batch, and compares:

* every response byte for byte with :class:`~insitu.golden.protocol.ProtocolReference` over a
  second golden array (:class:`~insitu.sim.checks.Checker`): statuses, the error path, ADC
  codes, UPDATE slot and LFSR draw counts, PROGRAM results;
* after every batch, every conversion the front-end answered against the reference's, and the
  two arrays' conductances;
* every ``state_every`` batches, the state in full: STATUS (LFSR draws, error count) and both
  buffers read back.

A batch that gets fewer responses than the reference gives counts its ``missing_responses``;
if the controller then does not answer a STATUS either, it is a hang (the run stops). Any
other difference counts in ``state_mismatches``; the first few are kept as text.
"""

from __future__ import annotations

import collections
import random

import numpy as np
from insitu.golden import protocol as P
from insitu.rtl.uart import rx_fifo_depth

from .checks import CHECK_BOUND_CYCLES, Checker, random_frame

KINDS = ("valid", "valid", "valid", "corrupt", "bad_sync", "bad_length", "bad_opcode",
         "too_long", "garbage")
#: at most this many differences are kept as text
KEEP = 5


def fuzz_frame(cfg, rng: random.Random, kind: str) -> bytes:
    """One chunk of request bytes of ``kind`` (see the module docstring)."""
    if kind == "valid":
        return random_frame(cfg, rng, valid=0.8)
    if kind == "corrupt":
        b = bytearray(random_frame(cfg, rng))
        k = rng.randrange(1, len(b))
        b[k] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "bad_sync":
        b = bytearray(random_frame(cfg, rng))
        b[0] ^= 1 << rng.randrange(8)  # no SYNC: the whole frame is bytes outside a frame
        return bytes(b)
    if kind == "bad_length":
        op = rng.choice([o for o in P.Opcode if o != P.Opcode.LOAD_VECTOR])
        n = P.fields_size(P.REQUEST_FIELDS[op]) + rng.choice([-1, 1, 2])
        return P.encode_frame(op, bytes(rng.randrange(256) for _ in range(max(0, n))))
    if kind == "bad_opcode":
        return P.encode_frame(rng.choice([0x00, 0x09, 0x40, 0x7F, 0xFF]),
                              bytes(rng.randint(0, 6)))
    if kind == "too_long":
        n = P.max_payload(cfg) + rng.randint(1, 600)
        return bytes([P.SYNC, rng.choice(list(P.Opcode)), n & 0xFF, n >> 8])
    # loose bytes, no SYNC among them (a SYNC would open a frame that swallows the next ones)
    return bytes(rng.choice([b for b in range(256) if b != P.SYNC])
                 for _ in range(rng.randint(1, 8)))


def state_frames(cfg) -> bytes:
    """STATUS and both buffers read back in full."""
    return (P.encode_request(P.Opcode.STATUS)
            + P.encode_request(P.Opcode.READ_VECTOR, side=0, offset=0, count=cfg.rows)
            + P.encode_request(P.Opcode.READ_VECTOR, side=1, offset=0, count=cfg.cols))


class FuzzChecker(Checker):
    """:class:`Checker` that counts differences instead of collecting them, and compares the
    conversions and the arrays after every batch."""

    def __init__(self, session, params):
        super().__init__(session, params)
        self.missing = 0
        self.mismatches = 0
        self.hangs = 0
        self.notes: list[str] = []
        if params.get("plant") == "error_count":  # a planted fault: errors counted twice
            error = self.ref._error

            def twice(opcode, status):
                self.ref.frame_errors += 1
                return error(opcode, status)

            self.ref._error = twice

    def _note(self, text: str) -> None:
        if len(self.notes) < KEEP:
            self.notes.append(text)

    async def batch(self, data: bytes, frames: int, expected: list[bytes]) -> bool:
        """Send one batch, whose responses the reference has given (``expected``, fed chunk by
        chunk while the batch was built); False if the controller hangs."""
        got, expected = await self.send(data, expected)
        want = b"".join(expected)
        self.frames += frames
        rs = P.ResponseDecoder().feed(got)
        self.responses += len(rs)
        for r in rs:
            self.statuses[P.Status(r.status).name] += 1
        if len(rs) < len(expected):
            self.missing += len(expected) - len(rs)
            self._note(f"batch at frame {self.frames}: {len(rs)} of {len(expected)} responses "
                       f"({data[:16].hex()}...)")
            if not await self._answers_status():
                self.hangs += 1
                self._note(f"hang after frame {self.frames}: no answer to STATUS")
                return False
        elif got != want:
            self.mismatches += 1
            k = next(i for i, (a, b) in enumerate(zip(got + b"\0", want + b"\1")) if a != b)
            self._note(f"batch at frame {self.frames}: response byte {k} differs: expected "
                       f"{want[max(0, k - 8):k + 16].hex()} got {got[max(0, k - 8):k + 16].hex()}")
        self._check_arrays()
        return True

    async def _answers_status(self) -> bool:
        t = self.s.transport
        bound = CHECK_BOUND_CYCLES * self.s.clock_ns * 1e-9
        frame = P.encode_request(P.Opcode.STATUS)
        self.ref.feed(frame)
        got = await t.aexchange(frame, 1, bound)
        return len(P.ResponseDecoder().feed(got)) == 1

    def _check_arrays(self) -> None:
        exp = self.ref.analog.events
        if self.events != exp:
            self.mismatches += 1
            k = next((i for i, (x, y) in enumerate(zip(self.events, exp)) if x != y),
                     min(len(self.events), len(exp)))
            self._note(f"after frame {self.frames}: ADC transaction {k} differs")
        self.events.clear()
        exp.clear()
        a, b = self.s.physics.conductances, self.phys_ref.conductances
        if not np.array_equal(a, b):
            self.mismatches += 1
            self._note(f"after frame {self.frames}: conductances differ at "
                       f"{np.argwhere(a != b)[0].tolist()}")
            b[...] = a  # count each divergence once
        sb = self.s.scoreboard
        if sb.errors:
            self.mismatches += len(sb.errors)
            self._note(f"after frame {self.frames}: pulse slots: {sb.errors[0]}")
            sb.errors.clear()


async def run_fuzz(session, params: dict) -> dict:
    """``frames`` fuzz frames in batches (see the module docstring)."""
    rng = random.Random(int(params.get("fuzz_seed", 1)))
    cfg = session.config
    uart = session.host_kind == "uart"
    ck = FuzzChecker(session, params)
    # a batch fits the harness's buffer, and on the UART what the receive FIFO holds while
    # the controller answers (a UART host cannot wait)
    room = rx_fifo_depth(cfg) if uart else session.sizes["RXB"]
    per_batch = int(params.get("batch_frames", 24))
    state_every = int(params.get("state_every", 20))
    kinds = collections.Counter()
    target = int(params["frames"])
    batches = 0
    # the responses of one batch must fit the harness's capture buffer: a chunk may open as
    # many frames as it has SYNC bytes, plus one that an earlier chunk left open
    capture = session.sizes["TXB"] - len(P.encode_response(0, 0))
    biggest = P.max_response_frame(cfg)
    while ck.frames < target:
        data, n, expected = b"", 0, []
        with_state = batches % state_every == state_every - 1
        limit = room - (len(state_frames(cfg)) if with_state else 0)
        reserve = (3 + 1) * biggest if with_state else 0
        while n < min(per_batch, target - ck.frames):
            kind = rng.choice(KINDS)
            chunk = fuzz_frame(cfg, rng, kind)
            out = sum(map(len, expected)) + (chunk.count(P.SYNC) + 1) * biggest + reserve
            if len(data) + len(chunk) > limit or out > capture:
                break
            data += chunk
            expected += ck.ref.feed(chunk)
            n += 1
            kinds[kind] += 1
            if kind == "too_long":
                break  # its payload never comes: what follows would be read as payload
        if with_state:
            data += state_frames(cfg)
            expected += ck.ref.feed(state_frames(cfg))
        elif rng.random() < 0.1:  # a frame cut off at the end: the inter-byte timeout
            f = random_frame(cfg, rng)
            cut = f[:rng.randint(1, len(f) - 1)]
            if (len(data) + len(cut) <= room
                    and sum(map(len, expected)) + 2 * biggest <= capture):
                data += cut
                expected += ck.ref.feed(cut)
                n += 1
                kinds["cut"] += 1
        if not data:
            continue
        batches += 1
        if not await ck.batch(data, n, expected):
            break
    await ck.batch(state_frames(cfg), 0, ck.ref.feed(state_frames(cfg)))
    if uart:
        extra = await session.transport.quiet(2000 * session.clock_ns * 1e-9)
        if extra:
            ck.mismatches += 1
            ck._note(f"unexpected bytes after the last response: {extra.hex()}")
    ck.s.scoreboard.check()
    return {"frames": ck.frames, "batches": batches, "responses": ck.responses,
            "hangs": ck.hangs, "missing_responses": ck.missing,
            "state_mismatches": ck.mismatches, "first_differences": ck.notes,
            "kinds": dict(kinds), "statuses": dict(ck.statuses)}
