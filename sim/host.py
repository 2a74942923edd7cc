"""Host-link drivers: the protocol of :mod:`insitu.golden.protocol` into the simulated controller.

* :class:`StreamHost` speaks to the byte-stream port through the harness's
  transactor: a batch of request frames is written in one go, the harness
  plays it byte by byte (with random ``valid`` pauses) and captures the
  response bytes (with random ``ready`` drops); Python wakes once per batch.
* :class:`UartHost` bit-bangs 8N1 frames on ``uart_rx`` and samples
  ``uart_tx`` with timers, one wake per bit (robustness tests only).

Both feed a :class:`FrameTracker` with every byte they send: a copy of the
reference frame parser that records which frames reach the controller, so
the analog front-end knows each command's TIA range (:attr:`AnalogFrontEnd.ops`).
Every wait is bounded in simulated time (``with_timeout``): a controller that
stops answering fails the test instead of hanging it.
"""

from __future__ import annotations

import binascii
import struct
import time

import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, SimTimeoutError, Timer, with_timeout
from insitu.golden import protocol as P


def request(opcode: P.Opcode, codes=None, **fields) -> bytes:
    """``protocol.encode_request`` with a C CRC (``binascii.crc_hqx`` is CRC-16/CCITT-FALSE
    with init 0xFFFF): the per-command host cost of a training run."""
    payload = P.pack_fields(P.REQUEST_FIELDS[opcode], fields)
    if codes is not None:
        payload += struct.pack(f"<{len(codes)}h", *codes)
    body = bytes([opcode]) + len(payload).to_bytes(2, "little") + payload
    return bytes([P.SYNC]) + body + binascii.crc_hqx(body, P.CRC_INIT).to_bytes(2, "big")


def decode_responses(raw: bytes) -> list[P.Response]:
    """Split captured bytes into response frames (C CRC); AssertionError on anything else."""
    out, pos = [], 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos + 3:pos + 5], "little")
        end = pos + 7 + n
        if raw[pos] != P.SYNC or end > len(raw) or binascii.crc_hqx(raw[pos + 1:end], P.CRC_INIT):
            raise AssertionError(f"malformed response bytes at {pos}: {raw.hex()}")
        out.append(P.Response(raw[pos + 1], P.Status(raw[pos + 2]), raw[pos + 5:pos + 5 + n]))
        pos = end
    return out


class FrameTracker(P.ProtocolReference):
    """The reference frame parser without an array: records the opcodes the controller executes."""

    def __init__(self, config):
        super().__init__(config, analog=None)
        self.executed: list[int] = []

    def execute(self, opcode: int, payload: bytes) -> bytes:
        self.executed.append(opcode)
        return super().execute(opcode, payload)

    def take(self) -> list[int]:
        out, self.executed = self.executed, []
        return out


class StreamHost:
    """Batches of frames over the harness's byte-stream transactor.

    Parameters
    ----------
    dut : harness handle; frontend : AnalogFrontEnd (its ``ops`` queue is fed);
    sizes : harness capacities (``RXB``, ``TXB``); clock_ns : clock period.
    """

    def __init__(self, dut, config, frontend, sizes: dict, clock_ns: float = 10.0):
        self.dut = dut
        self.config = config
        self.frontend = frontend
        self.rxb = sizes["RXB"]
        self.txb = sizes["TXB"]
        self.clock_ns = clock_ns
        self.tracker = FrameTracker(config)
        self._rx_seq = 0
        self._tx_clear = 0
        self.batches = 0
        self.bytes_sent = 0
        self.io_s = 0.0  # Python time of the batch writes and capture reads
        # per-command time bound; off in training runs, whose whole test is bounded instead
        # (one with_timeout per command costs a Timer and a First per batch)
        self.bound_commands = True

    def init(self, rx_pause: int = 0, tx_pause: int = 0) -> None:
        d = self.dut
        d.rx_data.value = 0
        d.rx_len.value = 0
        d.rx_seq.value = 0
        d.tx_want.value = 0
        d.tx_clear.value = 0
        self.set_pauses(rx_pause, tx_pause)

    def set_pauses(self, rx_pause: int, tx_pause: int) -> None:
        """Random stalls: ``valid`` (requests) and ``ready`` (responses) drop with probability n/256."""
        self.dut.rx_pause.value = int(rx_pause)
        self.dut.tx_pause.value = int(tx_pause)

    async def send(self, data: bytes, responses: int, timeout_cycles: int = 200_000,
                   opcodes: list | None = None) -> list[P.Response]:
        """Send ``data`` (any bytes) and wait for ``responses`` response frames.

        ``opcodes``: the opcodes of ``data`` when it is a run of well-formed frames (skips
        the reference parser that finds out which frames reach the controller).
        """
        d = self.dut
        if len(data) > self.rxb:
            raise ValueError(f"batch of {len(data)} bytes exceeds the harness buffer ({self.rxb})")
        if int(d.rx_busy.value):
            await with_timeout(FallingEdge(d.rx_busy), timeout_cycles * self.clock_ns, "ns")
        t0 = time.perf_counter()
        if opcodes is None:
            self.tracker.feed(data)
            opcodes = self.tracker.take()
        self.frontend.set_batch(opcodes)
        d.tx_want.value = responses
        d.rx_data.value = int.from_bytes(data, "little")
        d.rx_len.value = len(data)
        self._rx_seq = (self._rx_seq + 1) & 0xFFFF
        d.rx_seq.value = self._rx_seq
        self.batches += 1
        self.bytes_sent += len(data)
        self.io_s += time.perf_counter() - t0
        if responses == 0:
            return []
        try:
            if self.bound_commands:
                await with_timeout(RisingEdge(d.tx_done), timeout_cycles * self.clock_ns, "ns")
            else:
                await RisingEdge(d.tx_done)
        except SimTimeoutError:
            raise AssertionError(
                f"no answer within {timeout_cycles} cycles to {data[:32].hex()}: "
                f"{d.tx_frames.value} of {responses} frames, {d.tx_count.value} bytes, "
                f"rx_busy={d.rx_busy.value}") from None
        return self.collect(responses)

    def collect(self, responses: int | None = None) -> list[P.Response]:
        """Take the captured response bytes (and clear the capture)."""
        t0 = time.perf_counter()
        d = self.dut
        n = int(d.tx_count.value.to_unsigned())
        if n > self.txb:
            raise AssertionError(f"response capture overflow: {n} > {self.txb} bytes")
        raw = d.tx_data.value.to_unsigned().to_bytes(self.txb, "little")[self.txb - n:]
        self._tx_clear = (self._tx_clear + 1) & 0xFFFF
        d.tx_clear.value = self._tx_clear
        d.tx_want.value = 0
        out = decode_responses(raw)
        if responses is not None and len(out) != responses:
            raise AssertionError(f"expected {responses} responses, got {len(out)}")
        self.last_raw = raw
        self.io_s += time.perf_counter() - t0
        return out

    async def idle(self, cycles: int) -> None:
        await Timer(cycles * self.clock_ns, "ns")

    def timeout(self) -> None:
        """Tell the tracker that the link's inter-byte timeout has passed."""
        self.tracker.timeout()

    async def transact(self, frames: list[bytes], timeout_cycles: int = 200_000) -> list[P.Response]:
        """Send well-formed frames back to back; return their responses (one each)."""
        return await self.send(b"".join(frames), len(frames), timeout_cycles,
                               opcodes=[f[1] for f in frames])


class UartHost:
    """8N1 on the UART pins, ``divisor`` clock ticks per bit."""

    def __init__(self, dut, config, frontend, divisor: int, clock_ns: float = 10.0):
        self.dut = dut
        self.config = config
        self.frontend = frontend
        self.bit_ns = divisor * clock_ns
        self.clock_ns = clock_ns
        self.tracker = FrameTracker(config)
        self.received = bytearray()
        self._rx_task = None

    def init(self) -> None:
        import cocotb

        self.dut.uart_rx.value = 1
        self._rx_task = cocotb.start_soon(self._receive())

    async def _receive(self):
        d = self.dut
        while True:
            await FallingEdge(d.uart_tx)
            await Timer(self.bit_ns * 1.5, "ns")
            byte = 0
            for k in range(8):
                byte |= int(d.uart_tx.value) << k
                await Timer(self.bit_ns, "ns")
            if int(d.uart_tx.value) != 1:
                raise AssertionError("UART stop bit missing on uart_tx")
            self.received.append(byte)

    async def write(self, data: bytes, gap_bits: int = 0) -> None:
        self.tracker.feed(data)
        self.frontend.set_batch(self.tracker.take())
        d = self.dut
        for b in data:
            for bit in [0] + [(b >> k) & 1 for k in range(8)] + [1]:
                d.uart_rx.value = bit
                await Timer(self.bit_ns, "ns")
            if gap_bits:
                await Timer(self.bit_ns * gap_bits, "ns")

    async def read_responses(self, count: int, timeout_cycles: int = 400_000) -> list[P.Response]:
        """Wait for ``count`` complete response frames (bounded), return and consume them."""
        async def wait():
            while True:
                dec = P.ResponseDecoder()
                got = dec.feed(bytes(self.received))
                if len(got) >= count and not dec._buf:
                    return
                await Timer(self.bit_ns * 10, "ns")

        try:
            await with_timeout(wait(), timeout_cycles * self.clock_ns, "ns")
        except SimTimeoutError:
            got = P.ResponseDecoder().feed(bytes(self.received))
            raise AssertionError(
                f"UART: {len(got)} of {count} responses within {timeout_cycles} cycles: "
                f"{[(P.Opcode(r.opcode).name if r.opcode in set(P.Opcode) else r.opcode, r.status.name) for r in got]}"
            ) from None
        dec = P.ResponseDecoder()
        out = dec.feed(bytes(self.received))
        if dec.dropped:
            raise AssertionError(f"malformed response bytes on uart_tx: {bytes(self.received).hex()}")
        self.received.clear()
        return out

    async def quiet(self, cycles: int) -> bytes:
        """Wait ``cycles`` and return whatever arrived meanwhile (should be nothing)."""
        await Timer(cycles * self.clock_ns, "ns")
        extra = bytes(self.received)
        self.received.clear()
        return extra


def check_ok(resp: P.Response) -> P.Response:
    if not resp.ok:
        raise AssertionError(f"controller answered {resp.status.name} to opcode {resp.opcode:#x}")
    return resp


def codes_of(resp: P.Response) -> np.ndarray:
    return check_ok(resp).codes()
