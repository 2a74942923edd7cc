"""The simulated controller as transports (inside a cocotb test).

* :class:`StreamTransport`: the byte-stream port through the co-simulation
  harness's transactor (:mod:`insitu.sim.harness`): a batch of request bytes is
  written into ``rx_data`` in one go, the harness plays it byte by byte and
  captures the response bytes into ``tx_data`` until ``tx_want`` frames are
  complete (``tx_done``); Python wakes once per batch. It has flow control.
* :class:`UartTransport`: 8N1 on the ``uart_rx``/``uart_tx`` pins, one timer
  wake per bit (robustness tests, the board core).

Both are blocking :class:`~insitu.host.transport.Transport` s for code running in
a thread started with ``cocotb.task.bridge`` (the training loop, a board
session): :meth:`exchange` hands the coroutine to the simulator with
``cocotb.task.resume`` and blocks until it is done. Testbench coroutines await
the ``async`` methods directly. Time is simulated time. An optional ``monitor``
sees every batch of request bytes before it is sent (``monitor.requests(data)``)
and the response bytes after (``monitor.responses(raw)``).
"""

from __future__ import annotations

import time

from cocotb.task import resume
from cocotb.triggers import FallingEdge, RisingEdge, SimTimeoutError, Timer, with_timeout

from ..golden import protocol as proto


def read_unsigned(handle) -> int:
    """A logic vector's value as an unsigned int, parsed from the simulator's bit string in
    one ``int(s, 2)``: ``handle.value.to_unsigned()`` builds a ``LogicArray`` first, which for a
    capture thousands of bits wide costs several times the VPI access itself. ValueError,
    as ``to_unsigned`` raises, if a bit is X or Z. The bit string comes from the handle's
    simulator object, a cocotb internal: where a cocotb release lacks it, the public (slower)
    ``to_unsigned`` answers instead."""
    raw = getattr(handle, "_handle", None)
    if raw is None or not hasattr(raw, "get_signal_val_binstr"):
        return int(handle.value.to_unsigned())
    return int(raw.get_signal_val_binstr(), 2)


class _Bridged:
    """Blocking ``exchange`` over the ``async`` one, with its wall-time counters."""

    def __init__(self, monitor=None):
        self.monitor = monitor
        self.exchanges = 0
        self.waiting_s = 0.0  # wall time the calling thread was blocked in the simulator
        self._blocking = resume(self.aexchange)

    def exchange(self, data: bytes, responses: int, timeout: float) -> bytes:
        t = time.perf_counter()
        try:
            return self._blocking(data, responses, timeout)
        finally:
            self.waiting_s += time.perf_counter() - t
            self.exchanges += 1

    async def aexchange(self, data: bytes, responses: int, timeout: float | None) -> bytes:
        raise NotImplementedError


class StreamTransport(_Bridged):
    """The harness's byte-stream transactor.

    Parameters
    ----------
    dut : the harness handle.
    rx_bytes, tx_bytes : capacities of the batch and capture buffers (harness sizes ``RXB``,
        ``TXB``).
    monitor : optional observer (see the module docstring).
    """

    flow_control = True

    def __init__(self, dut, *, rx_bytes: int, tx_bytes: int, monitor=None):
        super().__init__(monitor)
        self.dut = dut
        self.rxb = rx_bytes
        self.txb = tx_bytes
        #: what one batch may hold (``HostInterface`` splits longer runs of requests)
        self.max_batch_bytes = rx_bytes
        self.max_answer_bytes = tx_bytes
        self._rx_seq = 0
        self._tx_clear = 0
        self.batches = 0
        self.bytes_sent = 0
        self.io_s = 0.0  # CPU time of the batch writes and capture reads
        # per-batch time bound; off in training runs, whose whole test is bounded instead
        # (one with_timeout per batch costs a Timer and a First)
        self.bounded = True
        self.last_raw = b""
        # the handles a batch touches, looked up once (a lookup by name costs a few us each)
        self._rx_busy, self._rx_data, self._rx_len, self._rx_seq_h = (
            dut.rx_busy, dut.rx_data, dut.rx_len, dut.rx_seq)
        self._tx_want, self._tx_done, self._tx_clear_h, self._tx_count, self._tx_data = (
            dut.tx_want, dut.tx_done, dut.tx_clear, dut.tx_count, dut.tx_data)

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

    async def aexchange(self, data: bytes, responses: int, timeout: float | None) -> bytes:
        """Send ``data`` (any bytes), wait for ``responses`` frames (``timeout`` simulated
        seconds; None: unbounded); the captured bytes."""
        if len(data) > self.rxb:
            raise ValueError(f"batch of {len(data)} bytes exceeds the harness buffer ({self.rxb})")
        bound = timeout is not None and self.bounded
        if read_unsigned(self._rx_busy):
            await self._wait(FallingEdge(self._rx_busy), timeout if bound else None)
        if self.monitor is not None:
            self.monitor.requests(data)
        t0 = time.thread_time()
        self._tx_want.value = responses
        self._rx_data.value = int.from_bytes(data, "little")
        self._rx_len.value = len(data)
        self._rx_seq = (self._rx_seq + 1) & 0xFFFF
        self._rx_seq_h.value = self._rx_seq
        self.batches += 1
        self.bytes_sent += len(data)
        self.io_s += time.thread_time() - t0
        if responses == 0:
            return b""
        if bound:
            await self._wait(RisingEdge(self._tx_done), timeout)
        else:
            await RisingEdge(self._tx_done)
        raw = self.collect()
        if self.monitor is not None:
            self.monitor.responses(raw)
        return raw

    @staticmethod
    async def _wait(trigger, timeout):
        if timeout is None:
            await trigger
            return
        try:
            await with_timeout(trigger, timeout * 1e9, "ns")
        except SimTimeoutError:
            pass  # the caller sees the bytes that came (fewer frames than it asked for)

    def collect(self) -> bytes:
        """Take the captured response bytes (and clear the capture)."""
        t0 = time.thread_time()
        n = read_unsigned(self._tx_count)
        if n > self.txb:
            raise AssertionError(f"response capture overflow: {n} > {self.txb} bytes")
        raw = read_unsigned(self._tx_data).to_bytes(self.txb, "little")[self.txb - n:]
        self._tx_clear = (self._tx_clear + 1) & 0xFFFF
        self._tx_clear_h.value = self._tx_clear
        self._tx_want.value = 0
        self.last_raw = raw
        self.io_s += time.thread_time() - t0
        return raw


class UartTransport(_Bridged):
    """8N1 on the design's ``uart_rx`` (in) and ``uart_tx`` (out) pins, ``bit_ns`` per bit.

    A receiver coroutine (started by :meth:`init`) samples ``uart_tx`` into
    :attr:`received`.
    """

    def __init__(self, dut, bit_ns: float, *, monitor=None):
        super().__init__(monitor)
        self.dut = dut
        self.bit_ns = float(bit_ns)
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
        """Send ``data`` bit by bit (``gap_bits`` idle bits after each byte)."""
        if self.monitor is not None:
            self.monitor.requests(data)
        d = self.dut
        for b in data:
            for bit in [0] + [(b >> k) & 1 for k in range(8)] + [1]:
                d.uart_rx.value = bit
                await Timer(self.bit_ns, "ns")
            if gap_bits:
                await Timer(self.bit_ns * gap_bits, "ns")

    async def receive(self, count: int, timeout: float | None) -> bytes:
        """Wait until ``count`` complete response frames have arrived (at most ``timeout``
        simulated seconds); take and return the bytes received."""
        async def wait():
            while True:
                dec = proto.ResponseDecoder()
                if len(dec.feed(bytes(self.received))) >= count and not dec.pending:
                    return
                await Timer(self.bit_ns * 10, "ns")

        if timeout is None:
            await wait()
        else:
            try:
                await with_timeout(wait(), timeout * 1e9, "ns")
            except SimTimeoutError:
                pass
        raw = bytes(self.received)
        self.received.clear()
        if self.monitor is not None:
            self.monitor.responses(raw)
        return raw

    async def aexchange(self, data: bytes, responses: int, timeout: float | None) -> bytes:
        self.received.clear()
        await self.write(data)
        return await self.receive(responses, timeout)

    async def quiet(self, seconds: float) -> bytes:
        """Wait ``seconds`` and return whatever arrived meanwhile (should be nothing)."""
        await Timer(seconds * 1e9, "ns")
        extra = bytes(self.received)
        self.received.clear()
        return extra
