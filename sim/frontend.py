"""Analog front-end model: the golden physics behind the controller's analog port, in cocotb.

:class:`AnalogFrontEnd` stands in for the chip and its converters. It is
event-driven; Python wakes only on

* ``analog__adc__row__start`` / ``analog__adc__col__start`` (rising): one
  conversion event. If the harness's ``dac_seq`` says ``dac.strobe`` has
  fired since the last event, the latched read levels of both sides are
  re-read first (the strobe itself needs no wake-up); the converters of that
  side answer
  ``GoldenBackend.convert_event(levels of the driving side, transpose, mux)``,
  with the TIA range of single-device reads for write-verify and read-device
  commands (see :attr:`ops`);
* the harness's ``slot_full`` (rising, at most every ``SLOT_DEPTH`` slots) and
  ``analog__update_done`` (rising): drain the pulse-slot recorder of
  :mod:`insitu.sim.harness`; at ``update_done`` the pulse counts the burst
  accumulated are applied at once with ``GoldenBackend.apply_counts`` (the
  unit of physics, DESIGN.md) and the burst's slots go to the monitor
  callbacks (the scoreboard). Each slot's pulse width as driven on the pins (the
  harness counts the ticks a row and a column enable are high together) scales the
  physics: nominal pulses (``pulse_width`` ticks) are applied exactly as the golden
  model applies them; pulses of another width by groups of equal width, each with
  ``apply_counts(width=ticks / pulse_width)`` (:meth:`AnalogFrontEnd.burst_widths`);
* ``analog__cmd_done`` (rising), only with ``track_commands``: the command in
  flight has finished (pops :attr:`ops`).

Every slot is recorded (polarity, row enables, column enables), so the slot
scoreboard sees the exact schedule the RTL emitted, while Python never
wakes per clock.

Which TIA range a conversion uses is not an output of the analog port; the
front-end learns it from the host driver, which queues the opcode of every
frame that reaches the controller (:attr:`ops`, popped at ``cmd_done``):
``PROGRAM`` and ``READ_DEVICE`` read one device at ``program_bound``,
``FORWARD`` and ``TRANSPOSE`` read the array at ``out_bound``. The port alone
cannot tell them apart (a one-row one-column ``FORWARD`` drives the same
levels as ``READ_DEVICE``). With ``track_commands=False`` (training, where a
batch never mixes the two kinds) the front-end skips the ``cmd_done`` wake-ups
and takes the range from the batch: single-device iff any queued opcode is.
"""

from __future__ import annotations

import collections
import random
import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge, Timer
from insitu.golden import protocol as P
from insitu.host.cocotb import read_unsigned

SINGLE_DEVICE_OPS = (P.Opcode.PROGRAM, P.Opcode.READ_DEVICE)


def _bits(value: int, nbits: int) -> np.ndarray:
    """LSB-first bit vector (uint8) of a non-negative integer."""
    nbytes = (nbits + 7) // 8
    raw = np.frombuffer(value.to_bytes(nbytes, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:nbits]


def decode_signed(value: int, count: int, width: int) -> np.ndarray:
    """``count`` packed two's-complement fields of ``width`` bits (field 0 in the low bits)."""
    if width in (8, 16, 32) :
        dt = {8: "<i1", 16: "<i2", 32: "<i4"}[width]
        return np.frombuffer(value.to_bytes(count * width // 8, "little"), dtype=dt).astype(np.int64)
    b = _bits(value, count * width).reshape(count, width).astype(np.int64)
    u = b @ (1 << np.arange(width, dtype=np.int64))
    return np.where(u >= 1 << (width - 1), u - (1 << width), u)


_BYTE_FIELDS = {8: "<i1", 16: "<i2", 32: "<i4"}


def encode_signed(codes, width: int) -> int:
    """``codes`` packed as two's-complement fields of ``width`` bits (field 0 in the low bits),
    without a Python loop per code."""
    c = np.asarray(codes, dtype=np.int64).reshape(-1)
    if c.size == 0:
        return 0
    if width in _BYTE_FIELDS:  # whole bytes: numpy's cast wraps to two's complement
        return int.from_bytes(c.astype(_BYTE_FIELDS[width]).tobytes(), "little")
    if c.size <= 32:  # a short vector: shifting Python ints costs less than the bit arrays
        mask, out = (1 << width) - 1, 0
        for code in reversed(c.tolist()):
            out = (out << width) | (code & mask)
        return out
    bits = ((c[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
    return int.from_bytes(np.packbits(bits.reshape(-1), bitorder="little").tobytes(), "little")


def value(handle) -> int:
    """A port's value, unsigned (ValueError on X or Z)."""
    return read_unsigned(handle)


class AnalogFrontEnd:
    """The chip behind the analog port of the harness ``dut``.

    Parameters
    ----------
    dut : the ``insitu_tb`` harness handle.
    config : ControllerConfig of the design.
    physics : GoldenBackend holding the array (conductances, periphery, random stream).
    slot_depth : the harness's ``SLOT_DEPTH``.
    mux_bits : the harness's ``MUXW`` (bits per mux position in ``*_mux_log``).
    width_bits : the harness's ``WIDTH_BITS`` (bits of a slot's measured width).
    busy_rng : optional ``random.Random``: converters then hold ``busy`` for a random
        extra 0..``busy_max`` ticks after ``convert_ticks`` (backpressure on the readout).
    clock_ns : clock period, for the busy stretch.

    Attributes
    ----------
    ops : deque of opcodes of the frames the controller will execute, in order.
    bursts : pulse bursts completed (update commands and write-verify steps).
    conversions : conversion events answered.
    on_burst : callbacks ``f(pol, rows, cols, counts)`` per completed burst
        (``pol`` (n,) in {+1, -1}, ``rows`` (n, R) / ``cols`` (n, C) bool, ``counts`` (R, C)).
    on_conversion : callbacks ``f(side, mux, samples)`` per conversion event.
    """

    def __init__(self, dut, config, physics, *, slot_depth: int, mux_bits: int, width_bits: int,
                 busy_rng: random.Random | None = None,
                 busy_max: int = 3, clock_ns: float = 10.0, track_commands: bool = True):
        self.dut = dut
        self.config = config
        self.physics = physics
        self.slot_depth = slot_depth
        self.mux_bits = mux_bits
        self.width_bits = width_bits
        self.slot_w = 1 + config.rows + config.cols + width_bits
        #: bursts with a pulse of other than the nominal width (their physics was scaled)
        self.off_width_bursts = 0
        self.busy_rng = busy_rng
        self.busy_max = busy_max
        self.clock_ns = clock_ns
        self.ops: collections.deque = collections.deque()
        self.track_commands = track_commands
        self._dac_seq = 0
        self.row_levels = np.zeros((1, config.rows), dtype=np.int64)
        self.col_levels = np.zeros((1, config.cols), dtype=np.int64)
        self._slots: list[np.ndarray] = []
        self._slot_clear = 0
        self.bursts = 0
        self.slots = 0
        self.conversions = 0
        self.wakes = 0
        self.busy_s = 0.0  # CPU time of the handlers (Python, not the simulator)
        self.on_burst: list = []
        self.on_conversion: list = []
        self._tasks = []
        self._expect: dict = {}   # side -> conversion events (mux positions) a read will make
        self._served: dict = {}   # side -> events loaded into the harness table, to verify
        self._tab_seq = {"row": 0, "col": 0}
        self._dac_raw = (0, 0)  # the port's dac.row and dac.col as last read
        self._deferred = False  # bursts are taken at the batch's response (set_defer)
        self._update_seq = 0  # update_done strobes taken so far (the harness's update_seq)
        #: a converter fault the test plants: the conversion ``_hang_at`` starts from now holds
        #: its busy high (converting nothing) until the next conversion of its side starts
        self._hang_at = None
        self._hung = {"row": False, "col": False}
        #: per planted stuck conversion: (side, its start cycle, port idle (levels 0, enables
        #: off) ``TIMEOUT_IDLE_TICKS`` ticks after the controller's timeout tick)
        self.hang_log: list = []
        self.adcw = config.adcs * config.adc_bits
        #: how a check fails the run (the session records the verdict first); raises
        self.fail = self._raise
        #: the chip's neurons between the columns and the converters, or None
        #: (:class:`~insitu.sim.neuron_frontend.NeuronFrontEnd`)
        self.neurons = None

    @staticmethod
    def _raise(message: str):
        raise AssertionError(message)

    def start(self, watch: bool = True) -> None:
        """Idle values on the converter inputs; with ``watch`` the watcher coroutines."""
        d = self.dut
        # the harness ports the model reads and writes per read and per burst, looked up once
        self._tab = {side: (getattr(d, f"{side}_tab_load"), getattr(d, f"{side}_tab_status"))
                     for side in ("row", "col")}
        # bits of a table's answers in ``*_tab_load`` = {seq, n, levels, answers}
        self._tab_bits = len(self._tab["row"][0]) - 32 - (
            (self.config.rows + self.config.cols) * self.config.dac_bits)
        self._slot_status, self._slot_log, self._slot_clear_h = (
            d.slot_status, d.slot_log, d.slot_clear)
        self._defer_h = d.defer_bursts
        d.analog__adc__row__busy.value = 0
        d.analog__adc__col__busy.value = 0
        d.analog__adc__row__data.value = 0
        d.analog__adc__col__data.value = 0
        d.slot_clear.value = 0
        d.defer_bursts.value = 0
        for side in ("row", "col"):
            getattr(d, f"{side}_tab_load").value = 0
        if not watch:
            return
        self._tasks = [
            cocotb.start_soon(self._adc_watch("row")),
            cocotb.start_soon(self._adc_watch("col")),
            cocotb.start_soon(self._slot_watch()),
            cocotb.start_soon(self._full_watch()),
        ]
        if self.track_commands:
            self._tasks.append(cocotb.start_soon(self._cmd_watch()))

    def stop(self) -> None:
        """Nothing to do: cocotb ends the watcher tasks with the test."""

    @property
    def single_device(self) -> bool:
        if self.track_commands:
            return bool(self.ops) and self.ops[0] in SINGLE_DEVICE_OPS
        return any(op in SINGLE_DEVICE_OPS for op in self.ops)

    def set_batch(self, ops) -> None:
        """The opcodes of the frames just sent (in order) that reach the controller."""
        if self.track_commands:
            self.ops.extend(ops)
        else:
            self.ops = collections.deque(ops)

    def expect_read(self, side: str, events: list[int]) -> None:
        """Announce the conversion events (mux positions, in order) of the next read on ``side``.

        At the first event the model answers all of them (same levels, same random draws in
        the same order) and loads the rest into the harness's table, so Python wakes once per
        read; :meth:`verify_reads` then checks that the RTL made exactly those conversions.
        """
        self._expect[side] = list(events)

    def preload_read(self, side: str, events: list[int], levels: np.ndarray) -> None:
        """Answer every conversion event of the next read on ``side`` now, for the DAC
        ``levels`` (the driving side's full vector) the read will apply, and load them all into
        the harness's table: the read then wakes no Python at all. The harness checks that
        every conversion it answers sees exactly these levels (and nothing on the other side),
        :meth:`verify_reads` the count, the mux positions and that check. Only for a read that
        no pulse command precedes in its batch (the array is as the model has it)."""
        cfg = self.config
        transpose = side == "row"
        lv = np.asarray(levels, dtype=np.int64).reshape(1, -1)
        answers = [a[0] for a in self.physics.convert_events(lv, transpose, events,
                                                              self.single_device)]
        raw = encode_signed(lv[0], cfg.dac_bits)
        port = raw << (cfg.rows * cfg.dac_bits) if transpose else raw
        self._load_table(side, answers, events, port)
        self._expect.pop(side, None)

    def _load_table(self, side: str, answers, events: list[int], levels_port: int) -> None:
        tw = self._tab_bits
        data = encode_signed(np.concatenate(answers), self.config.adc_bits)
        if data.bit_length() > tw:
            raise ValueError(f"{len(answers)} conversion events do not fit the harness's "
                             f"conversion table ({tw} bits)")
        self._tab_seq[side] = (self._tab_seq[side] + 1) & 0xFFFF
        levw = (self.config.rows + self.config.cols) * self.config.dac_bits
        self._tab[side][0].value = ((((self._tab_seq[side] << 16) | len(answers)) << (levw + tw))
                                    | (levels_port << tw) | data)
        self._served[side] = list(events)
        self.conversions += len(answers)
        for f in self.on_conversion:
            for pos, a in zip(events, answers):
                f(side, pos, a)

    def verify_reads(self) -> None:
        mb = self.mux_bits
        for side, events in list(self._served.items()):
            status = value(self._tab[side][1])
            bad = status & 1
            served = (status >> 1) & 0xFFFF
            left = (status >> 17) & 0xFFFF
            log = status >> 33
            got = [(log >> ((served - 1 - j) * mb)) & ((1 << mb) - 1) for j in range(served)]
            if served != len(events) or left != 0 or got != events:
                self.fail(f"{side} read: predicted conversions at mux {events}, the "
                                     f"RTL made {got} (left {left})")
            if bad:
                self.fail(f"{side} read: a conversion answered from the table saw other DAC "
                          f"levels than the model answered it for")
        self._served.clear()

    # ------------------------------------------------------------------ watchers
    def _levels(self) -> None:
        d, cfg = self.dut, self.config
        seq = value(d.dac_seq)
        if seq != self._dac_seq:
            self._dac_seq = seq
            row, col = value(d.analog__dac__row), value(d.analog__dac__col)
            self._dac_raw = (row, col)
            self.row_levels[0] = decode_signed(row, cfg.rows, cfg.dac_bits)
            self.col_levels[0] = decode_signed(col, cfg.cols, cfg.dac_bits)

    async def _adc_watch(self, side: str):
        d, cfg = self.dut, self.config
        start = getattr(d, f"{side}_adc_miss")
        mux_h = getattr(d, f"analog__adc__{side}__mux")
        data_h = getattr(d, f"analog__adc__{side}__data")
        busy_h = getattr(d, f"analog__adc__{side}__busy")
        transpose = side == "row"  # the row converters sense a transpose read
        all_busy = (1 << cfg.adcs) - 1
        while True:
            await RisingEdge(start)
            t0 = time.thread_time()
            self.wakes += 1
            if self._hung[side]:  # a new conversion resets the stuck converter
                self._hung[side] = False
                busy_h.value = 0
            mux = value(mux_h)
            self._levels()
            if self._hang_at is not None:
                self._hang_at -= 1
                if self._hang_at < 0:  # this conversion converts nothing, busy stays high
                    self._hang_at = None
                    self._hung[side] = True
                    busy_h.value = all_busy
                    self._expect.pop(side, None)
                    cocotb.start_soon(self._after_timeout(side))
                    self.busy_s += time.thread_time() - t0
                    continue
            levels = self.col_levels if transpose else self.row_levels
            single = self.single_device
            events = self._expect.pop(side, None)
            if events and events[0] != mux:
                self.fail(f"{side} read: first conversion at mux {mux}, predicted "
                                     f"{events[0]}")
            if not events:
                events = [mux]
            answers = None
            if self.neurons is not None and not transpose and not single:
                answers = self.neurons.answer(levels, events)  # membranes and spike flags
            if answers is None:
                answers = [a[0] for a in self.physics.convert_events(levels, transpose, events,
                                                                      single)]
            data_h.value = encode_signed(answers[0], cfg.adc_bits)
            self.conversions += 1
            for f in self.on_conversion:
                f(side, events[0], answers[0])
            if len(events) > 1:  # the rest from the table, for the levels seen now
                row, col = self._dac_raw
                self._load_table(side, answers[1:], events[1:],
                                 (col << (cfg.rows * cfg.dac_bits)) | row)
            self.busy_s += time.thread_time() - t0
            if self.busy_rng is not None:
                extra = self.busy_rng.randint(0, self.busy_max)
                if extra:
                    busy_h.value = all_busy
                    await Timer((cfg.convert_ticks + extra) * self.clock_ns, "ns")
                    busy_h.value = 0

    def _drain(self, status: int | None = None) -> None:
        """Take the recorder's slots; ``status``: ``slot_status`` as read in this tick."""
        if status is None:
            status = value(self._slot_status)
        n = status & 0xFFFF
        if n == 0:
            return
        if n > self.slot_depth:
            self.fail(f"pulse-slot recorder overflow: {n} > {self.slot_depth}")
        # the n newest entries are the log's top n * slot_w bits: the head of the simulator's
        # bit string (MSB first), reversed to LSB first; oldest of them first
        top = self._slot_log._handle.get_signal_val_binstr()[:n * self.slot_w]
        bits = np.frombuffer(top.encode("ascii"), dtype=np.uint8)[::-1] - ord("0")
        if bits.max() > 1:
            self.fail("pulse-slot recorder: X or Z bits in slot_log")
        self._slots.append(bits.reshape(n, self.slot_w))
        self._slot_clear = (self._slot_clear + 1) & 0xFFFF
        self._slot_clear_h.value = self._slot_clear

    async def _full_watch(self):
        """Drain the slot recorder when it fills up (a long burst)."""
        full = RisingEdge(self.dut.slot_full)
        while True:
            await full
            t0 = time.thread_time()
            self.wakes += 1
            self._drain()
            self.busy_s += time.thread_time() - t0

    async def _slot_watch(self):
        # two plain edge waits rather than one First(full, done): a First costs a task per
        # trigger on every wait, twice per training sample
        done = RisingEdge(self.dut.update_done_ev)
        while True:
            await done
            t0 = time.thread_time()
            self.wakes += 1
            self._update_seq = (self._update_seq + 1) & 0xFFFF
            self._end_burst()
            self.busy_s += time.thread_time() - t0

    def _end_burst(self, status: int | None = None) -> None:
        """A burst has ended: drain the recorder, move the devices, tell the callbacks
        (``status``: ``slot_status`` as read in this tick)."""
        if status is None:
            status = value(self._slot_status)
        self._drain(status)
        slots = np.concatenate(self._slots) if self._slots else np.zeros((0, self.slot_w), np.uint8)
        self._slots = []
        pol, rows, cols, counts = self.apply_burst(slots, status >> 32)
        self.bursts += 1
        self.slots += len(slots)
        for f in self.on_burst:
            f(pol, rows, cols, counts)

    def set_defer(self, defer: bool) -> None:
        """Take the bursts of the next batches at their response (:meth:`take_deferred`) instead
        of waking at each burst's end: for batches whose last analog command is their one
        UPDATE (nothing reads the array between the burst and the response)."""
        if defer != self._deferred:
            self._deferred = defer
            self._defer_h.value = int(defer)

    def take_deferred(self) -> None:
        """At a deferred batch's response: the burst its UPDATE made, if the harness counted
        one (``update_seq``); more than one cannot be told apart in the recorder."""
        if not self._deferred:
            return
        status = value(self._slot_status)
        seq = (status >> 16) & 0xFFFF
        new = (seq - self._update_seq) & 0xFFFF
        self._update_seq = seq
        if new > 1:
            self.fail(f"{new} pulse bursts in one batch whose bursts were deferred to its "
                      f"response")
        if new == 1:
            self._end_burst(status)  # its time is the host-link monitor's, which calls this

    def arm_hang(self, k: int = 0) -> None:
        """Plant a stuck converter: the ``k``-th conversion started from now (0: the next, on
        either side) holds its side's ``busy`` high and converts nothing, until the next
        conversion of that side starts. Needs one wake per conversion (no read predicted)."""
        self._hang_at = int(k)

    async def _after_timeout(self, side: str) -> None:
        """Record whether the port is idle ``TIMEOUT_IDLE_TICKS`` ticks after the tick in which
        the controller must give up on the stuck conversion started in this tick."""
        from cocotb.triggers import ClockCycles, ReadOnly
        from cocotb.utils import get_sim_time
        from insitu.rtl.formal import TIMEOUT_IDLE_TICKS

        cfg, d = self.config, self.dut
        start = int(get_sim_time("ns") / self.clock_ns)
        # this wake is at the falling edge of the start tick; the timeout tick is
        # convert_ticks + adc_timeout - 1 ticks after it
        await ClockCycles(d.clk, cfg.convert_ticks + cfg.adc_timeout - 1 + TIMEOUT_IDLE_TICKS)
        await ReadOnly()
        idle = (value(d.analog__dac__row) == 0 and value(d.analog__dac__col) == 0
                and value(d.analog__pulse__row) == 0 and value(d.analog__pulse__col) == 0)
        self.hang_log.append((side, start, idle))

    def apply_burst(self, slots: np.ndarray, last_width: int):
        """Move the devices by one burst's recorded slots (``(n, slot_w)`` bits, oldest first)
        and the newest slot's width ``last_width``; returns ``pol`` (n,), ``rows`` (n, R),
        ``cols`` (n, C) and the signed counts (R, C)."""
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        # the recorder's bits are 0/1 (checked at the drain): viewed as bools, not copied
        rows = slots[:, :R].view(bool)
        cols = slots[:, R:R + C].view(bool)
        pol = 1 - 2 * slots[:, R + C].astype(np.int64)
        signed_rows = rows.T * pol  # int64
        counts = signed_rows @ cols.astype(np.int64)
        widths = self.burst_widths(slots, last_width)
        coincide = rows.any(axis=1) & cols.any(axis=1)
        if not (coincide & (widths != cfg.pulse_width)).any():
            # every pulse nominal: the golden model's call, bit for bit
            self.physics.apply_counts(counts[None], 0, 0)
        else:
            self.off_width_bursts += 1
            for w in dict.fromkeys(widths[coincide].tolist()):  # in order of appearance
                sel = coincide & (widths == w)
                part = signed_rows[:, sel] @ cols[sel].astype(np.int64)
                self.physics.apply_counts(part[None], 0, 0, width=w / cfg.pulse_width)
        return pol, rows, cols, counts

    def burst_widths(self, slots: np.ndarray, last_width: int) -> np.ndarray:
        """Pulse width (ticks) of every slot of a burst: each log entry carries the width of
        the slot before it (the harness knows a width only once its slot is over), the
        last slot's is ``slot_width`` at the burst's end."""
        if len(slots) == 0:
            return np.zeros(0, dtype=np.int64)
        at = 1 + self.config.rows + self.config.cols
        weights = 1 << np.arange(self.width_bits, dtype=np.int64)
        before = slots[:, at:at + self.width_bits].astype(np.int64) @ weights
        return np.append(before[1:], last_width).astype(np.int64)

    async def _cmd_watch(self):
        d = self.dut
        while True:
            await RisingEdge(d.cmd_done_ev)
            self.wakes += 1
            if self.ops:
                self.ops.popleft()
