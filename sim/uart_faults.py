"""Faults on the UART pins: the controller recovers and counts them as the reference predicts.

:func:`run_uart_faults` runs inside the simulator (task ``uart_faults`` of
:mod:`insitu.sim.tb_cosim`) on a UART build. It drives the ``uart_rx`` line itself, segment
by segment (level, duration), so that a byte can carry a fault the transport's clean 8N1
writer cannot: a stop bit low (framing error), a short low pulse on the idle line or across
a data bit's sampling point (glitch), every bit 2 % long or short (baud drift), a flood of
bytes while a long write-verify runs (receive FIFO overflow), a SYNC byte with a flipped bit,
a frame cut off (then silence, or at once the next frame).

For every fault the test knows which bytes reach the host link (the receiver drops a byte
with a bad stop bit and ignores a glitch shorter than half a bit; on overflow the FIFO keeps
the first bytes and the receiver's register the last one), feeds exactly those to
:class:`~insitu.golden.protocol.ProtocolReference` (over a second golden array), and compares
the responses byte for byte; then the next good frames (a vector load, its read-back and
STATUS: the error count and LFSR draws) must be answered as the reference says.
"""

from __future__ import annotations

import random

from cocotb.triggers import Timer
from insitu.golden import protocol as P
from insitu.rtl.uart import rx_fifo_depth

from .checks import CHECK_BOUND_CYCLES, Checker

#: a framing error: the stop bit is low for this share of a bit, then the line idles high
STOP_LOW = 0.75
#: a glitch: the line is inverted from 1/4 to 3/4 of a bit (across a data bit's sampling
#: point it flips the bit; on the idle line it is shorter than the receiver's half-bit check)
GLITCH = (0.25, 0.5, 0.25)


def byte_segments(b: int, bit: float, *, framing_error: bool = False,
                  flip_bit: int | None = None) -> list[tuple[int, float]]:
    """(level, ns) segments of one 8N1 byte on the line."""
    seg = [(0, bit)]
    for k in range(8):
        v = (b >> k) & 1
        if k == flip_bit:
            seg += [(v, GLITCH[0] * bit), (1 - v, GLITCH[1] * bit), (v, GLITCH[2] * bit)]
        else:
            seg.append((v, bit))
    seg += [(0, STOP_LOW * bit), (1, (1 - STOP_LOW) * bit)] if framing_error else [(1, bit)]
    return seg


def frame_segments(data: bytes, bit: float) -> list[tuple[int, float]]:
    return [s for b in data for s in byte_segments(b, bit)]


def idle_glitch(bit: float) -> list[tuple[int, float]]:
    """A low pulse of a quarter bit on the idle line, then a bit of idle."""
    return [(1, GLITCH[0] * bit), (0, GLITCH[0] * bit), (1, bit)]


class UartFaults(Checker):
    def __init__(self, session, params):
        super().__init__(session, params)
        self.bit = session.transport.bit_ns
        self.rng = random.Random(int(params.get("fault_seed", 1)))
        self.log: dict = {}

    async def play(self, segments) -> None:
        d = self.s.dut
        for level, ns in segments:
            d.uart_rx.value = level
            await Timer(round(ns * 1000), "ps")  # drifted bits: whole picoseconds
        d.uart_rx.value = 1

    async def fault(self, name: str, segments, arrived: bytes, overruns: int = 0) -> None:
        """Play ``segments``; the link receives ``arrived`` and loses ``overruns`` bytes to a
        full receive FIFO: compare the responses with the reference's to those bytes (and
        its inter-byte timeout if they end inside a frame)."""
        expected = self.ref.feed(arrived)
        self.ref.rx_overrun(overruns)  # counted at once: the next STATUS shows them
        cut = not self.ref.idle
        if cut:
            expected += self.ref.timeout()
        self._queue_expectations()
        t = self.s.transport
        t.received.clear()
        self.s.monitor.requests(arrived)
        await self.play(segments)
        got = await t.receive(len(expected), CHECK_BOUND_CYCLES * self.s.clock_ns * 1e-9)
        if cut:
            self.s.monitor.timeout()
        # nothing more may come: wait out the inter-byte timeout twice
        await Timer(round(2 * self.s.params["sidecar_timeout"] * self.s.clock_ns), "ns")
        got += bytes(t.received)
        t.received.clear()
        want = b"".join(expected)
        rs = P.ResponseDecoder().feed(got)
        self.log[name] = [P.Status(r.status).name for r in rs]
        if got != want:
            self.errors.append(f"{name}: expected {want.hex() or 'no response'}, got "
                               f"{got.hex() or 'no response'}")
        await self.good(name)

    async def good(self, name: str) -> None:
        """The next good frames: a vector load, its read-back, STATUS (error count, draws)."""
        cfg = self.cfg
        codes = [self.rng.randint(-cfg.dac_max, cfg.dac_max) for _ in range(cfg.cols)]
        before = len(self.errors)
        await self.exchange(P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0, codes=codes)
                            + P.encode_request(P.Opcode.READ_VECTOR, side=1, offset=0,
                                               count=cfg.cols)
                            + P.encode_request(P.Opcode.STATUS))
        if len(self.errors) > before:
            self.errors[-1] = f"the good frames after {name}: {self.errors[-1]}"


def _without(data: bytes, k: int) -> bytes:
    return data[:k] + data[k + 1:]


async def run_uart_faults(session, params: dict) -> dict:
    cfg = session.config
    ck = UartFaults(session, params)
    rng, bit = ck.rng, ck.bit

    def load(side=1):
        n = cfg.cols if side else cfg.rows
        return P.encode_request(P.Opcode.LOAD_VECTOR, side=side, offset=0,
                                codes=[rng.randint(-cfg.dac_max, cfg.dac_max) for _ in range(n)])

    await ck.good("reset")
    # framing errors: a byte with its stop bit low is dropped
    f = load()
    k = rng.randrange(1, len(f))
    seg = [s for i, b in enumerate(f) for s in byte_segments(b, bit, framing_error=i == k)]
    # (planted fault: a reference that thinks the receiver keeps a byte with a bad stop bit)
    kept = f if params.get("plant") == "keep_framing_error" else _without(f, k)
    await ck.fault("framing error inside a frame", seg, kept)
    f = P.encode_request(P.Opcode.STATUS)
    seg = [s for i, b in enumerate(f) for s in byte_segments(b, bit, framing_error=i == 0)]
    await ck.fault("framing error on the SYNC byte", seg, f[1:])
    # glitches: ignored on the idle line, a flipped bit across a sampling point
    f = load()
    seg = idle_glitch(bit) + [s for b in f for s in byte_segments(b, bit) + idle_glitch(bit)]
    await ck.fault("glitches on the idle line", seg, f)
    f = load()
    k, j = rng.randrange(4, len(f)), rng.randrange(8)
    seg = [s for i, b in enumerate(f) for s in byte_segments(b, bit, flip_bit=j if i == k else None)]
    await ck.fault("glitch across a data bit", seg, f[:k] + bytes([f[k] ^ (1 << j)]) + f[k + 1:])
    # baud drift: every bit 2 % long, then 2 % short
    for name, scale in (("baud +2 %", 1.02), ("baud -2 %", 0.98)):
        f = load() + P.encode_request(P.Opcode.READ_VECTOR, side=1, offset=0, count=cfg.cols)
        await ck.fault(name, frame_segments(f, bit * scale), f)
    # a corrupted SYNC: the frame is bytes outside a frame
    f = bytearray(load())
    f[0] ^= 1 << rng.randrange(8)
    await ck.fault("corrupted SYNC byte", frame_segments(bytes(f), bit), bytes(f))
    # truncated frames: silence (inter-byte timeout), or at once the next frame
    f = load()
    cut = f[:rng.randint(1, len(f) - 1)]
    await ck.fault("truncated frame, then silence", frame_segments(cut, bit), cut)
    f, g = load(), P.encode_request(P.Opcode.STATUS)
    cut = f[:rng.randint(1, len(f) - 1)] + g
    await ck.fault("truncated frame, then a frame at once", frame_segments(cut, bit), cut)
    # receive FIFO overflow: while a write-verify runs the link reads nothing; the host sends
    # more than the FIFO holds: a vector load across the FIFO's end is lost (inter-byte
    # timeout), the last byte stays in the receiver's register; every byte it overwrote there
    # is an overrun, counted in STATUS's frame_errors
    depth = rx_fifo_depth(cfg)
    prog = P.encode_request(P.Opcode.PROGRAM, row=0, col=0, target=16 * cfg.adc_max,
                            tolerance=0, shift=3, read_code=cfg.dac_max)
    f = load()
    flood = bytes(depth - len(f) // 2) + f + bytes(24)
    arrived = prog + flood[:depth] + flood[-1:]
    lost = len(flood) - depth - 1
    if params.get("plant") == "uncounted_overrun":  # planted: a reference that counts none
        lost = 0
    await ck.fault("receive FIFO overflow", frame_segments(prog + flood, bit), arrived, lost)
    ck.final_checks()
    return {"faults": ck.log, "overruns": lost, "frames": ck.frames, "responses": ck.responses,
            "statuses": dict(ck.statuses)}
