"""Host driver: the controller's protocol over a serial port, and a crossbar backend on top.

:class:`Controller` speaks :mod:`insitu.golden.protocol` through a
*transport*: any object with ``write(data: bytes)`` and
``read(n: int, timeout: float) -> bytes`` (at most ``n`` bytes, fewer on
timeout) and ``reset_input()``. :class:`SerialTransport` is pyserial; tests
hand in a transport that moves the bytes through the UART pins of the
simulated Verilog (``tests/boards``), so the code here runs unchanged against
the RTL.

Errors:

* :class:`LinkError` - no (complete, well-formed) response in time;
* :class:`CommandError` - the controller answered with an error status
  (``status`` holds it). ``BAD_CRC`` (the request was corrupted on the way;
  the command had no effect) is retried up to ``retries`` times; so is a lost
  or corrupted response for commands that change nothing (STATUS,
  READ_VECTOR, LOAD_VECTOR, FORWARD, TRANSPOSE, READ_DEVICE). A lost answer to
  UPDATE or PROGRAM is not retried: the array may have moved.

:class:`BoardBackend` implements the backend interface of
:mod:`insitu.golden.backends` (forward, backward, update, program,
read_weights and the ``_read``/``_update`` that
:class:`insitu.golden.nn.CrossbarMLP` calls) with these commands.
"""

from __future__ import annotations

import time

import numpy as np

from ..golden import protocol as proto
from ..golden.backends import Backend, BackendStats
from ..golden.config import ControllerConfig
from ..golden.devices import DeviceParams
from ..golden.periphery import PeripheryParams

Op = proto.Opcode
IDEMPOTENT = {Op.STATUS, Op.READ_VECTOR, Op.LOAD_VECTOR, Op.FORWARD, Op.TRANSPOSE, Op.READ_DEVICE}


class LinkError(IOError):
    """No well-formed response from the controller."""


class CommandError(RuntimeError):
    """The controller rejected a command."""

    def __init__(self, opcode: int, status: proto.Status):
        self.opcode = opcode
        self.status = status
        name = Op(opcode).name if opcode in Op._value2member_map_ else f"{opcode:#04x}"
        super().__init__(f"controller answered {status.name} to {name}")


class SerialTransport:
    """A serial port (pyserial) as a transport. ``port`` is e.g. ``/dev/ttyUSB0`` or ``COM3``."""

    def __init__(self, port: str, baud: int = 115200):
        import serial

        try:
            self.serial = serial.Serial(port, baud, timeout=0.05)
        except (serial.SerialException, OSError) as e:
            raise ValueError(f"cannot open serial port {port}: {e}") from None

    def write(self, data: bytes) -> None:
        self.serial.write(data)
        self.serial.flush()

    def read(self, n: int, timeout: float) -> bytes:
        self.serial.timeout = timeout
        return self.serial.read(n)

    def reset_input(self) -> None:
        self.serial.reset_input_buffer()

    def close(self) -> None:
        self.serial.close()


class Controller:
    """The controller on a board, command by command.

    Parameters
    ----------
    port : str or transport
        A serial port name (opened with :class:`SerialTransport`) or a transport object.
    baud : int
    timeout : float
        Seconds to wait for a response (per response; long commands such as
        PROGRAM scale it, see :meth:`command`).
    retries : int
        Retries after BAD_CRC, and after a lost response of an idempotent command.
    """

    def __init__(self, port, *, baud: int = 115200, timeout: float = 1.0, retries: int = 3):
        self.transport = SerialTransport(port, baud) if isinstance(port, str) else port
        self.timeout = timeout
        self.retries = retries
        self.decoder = proto.ResponseDecoder()
        self.retried = 0
        self._config: ControllerConfig | None = None

    # ------------------------------------------------------------------ framing
    def _receive(self, timeout: float) -> proto.Response:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkError(f"no response within {timeout:g} s "
                                f"({self.decoder.dropped} stray bytes dropped)")
            chunk = self.transport.read(256, min(left, 0.2))
            if chunk:
                got = self.decoder.feed(chunk)
                if got:
                    return got[0]

    def command(self, opcode: Op, codes=None, *, timeout: float | None = None, **fields) -> proto.Response:
        """Send one request, return its OK response; retry as described in the module docstring."""
        frame = proto.encode_request(opcode, codes, **fields)
        timeout = self.timeout if timeout is None else timeout
        last = None
        for attempt in range(self.retries + 1):
            self.decoder = proto.ResponseDecoder()
            self.transport.reset_input()
            self.transport.write(frame)
            try:
                r = self._receive(timeout)
            except LinkError as e:
                last = e
                if opcode in IDEMPOTENT and attempt < self.retries:
                    self.retried += 1
                    continue
                raise
            if r.opcode != int(opcode):
                last = LinkError(f"response to opcode {r.opcode:#04x}, expected {int(opcode):#04x}")
                if opcode in IDEMPOTENT and attempt < self.retries:
                    self.retried += 1
                    continue
                raise last
            if r.status == proto.Status.BAD_CRC and attempt < self.retries:
                self.retried += 1
                continue
            if not r.ok:
                raise CommandError(opcode, r.status)
            return r
        raise last or LinkError("no response")

    # ------------------------------------------------------------------ commands
    def status(self) -> dict:
        return self.command(Op.STATUS).fields()

    @property
    def config(self) -> ControllerConfig:
        """The board's array size and converter widths (from STATUS); timing fields are defaults."""
        if self._config is None:
            s = self.status()
            if s["version"] != proto.VERSION:
                raise LinkError(f"protocol version {s['version']}, this driver speaks {proto.VERSION}")
            self._config = ControllerConfig(
                rows=s["rows"], cols=s["cols"], dac_bits=s["dac_bits"], adc_bits=s["adc_bits"],
                count_bits=s["count_bits"], prob_bits=s["prob_bits"], bl=s["bl"], adcs=s["adcs"],
                adc_average=s["adc_average"])
        return self._config

    def load_vector(self, side: int, offset: int, codes) -> None:
        self.command(Op.LOAD_VECTOR, [int(c) for c in codes], side=side, offset=offset)

    def read_vector(self, side: int, offset: int, count: int) -> np.ndarray:
        return self.command(Op.READ_VECTOR, side=side, offset=offset, count=count).codes()

    def forward(self, row0: int, nrows: int, col0: int, ncols: int) -> np.ndarray:
        return self.command(Op.FORWARD, row0=row0, nrows=nrows, col0=col0, ncols=ncols).codes()

    def transpose(self, row0: int, nrows: int, col0: int, ncols: int) -> np.ndarray:
        return self.command(Op.TRANSPOSE, row0=row0, nrows=nrows, col0=col0, ncols=ncols).codes()

    def update(self, *, mode: str, row_gain: int, col_gain: int, dither: bool,
               row0: int, nrows: int, col0: int, ncols: int) -> dict:
        m = proto.Mode.DETERMINISTIC if mode == "deterministic" else proto.Mode.STOCHASTIC
        return self.command(
            Op.UPDATE, mode=m, flags=proto.UPDATE_FLAG_DITHER if dither else 0,
            row_gain=row_gain, col_gain=col_gain, row0=row0, nrows=nrows, col0=col0, ncols=ncols,
        ).fields()

    def read_device(self, row: int, col: int, read_code: int) -> int:
        return int(self.command(Op.READ_DEVICE, row=row, col=col, read_code=read_code).codes()[0])

    def program(self, row: int, col: int, target: int, tolerance: int, shift: int,
                read_code: int) -> dict:
        return self.command(Op.PROGRAM, row=row, col=col, target=target, tolerance=tolerance,
                            shift=shift, read_code=read_code, timeout=10 * self.timeout).fields()

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close:
            close()


class BoardBackend(Backend):
    """The crossbar backend of a real array behind a board (one instance, K = 1).

    Parameters
    ----------
    controller : Controller
    device, periphery :
        What the array is made of, for the weight units (``pulse_dw``, read
        scaling, ``program_bound``), exactly as for :class:`GoldenBackend`.
    config : ControllerConfig or None
        Default: the board's STATUS (array size, widths).
    """

    def __init__(self, controller: Controller, device: DeviceParams,
                 periphery: PeripheryParams | None = None, *, config: ControllerConfig | None = None,
                 mapping: str = "differential"):
        super().__init__(config or controller.config, device, periphery, instances=1, mapping=mapping)
        self.controller = controller

    # -- the two calls CrossbarMLP makes -----------------------------------------
    def _read(self, x, l0, o0, n, transpose):
        x = np.asarray(x, dtype=np.int64).reshape(1, -1)
        c = self.controller
        if transpose:
            c.load_vector(proto.Side.COLS, l0, x[0])
            out = c.transpose(o0, n, l0, x.shape[1])
            self.stats.backward_reads += 1
        else:
            c.load_vector(proto.Side.ROWS, l0, x[0])
            out = c.forward(l0, x.shape[1], o0, n)
            self.stats.forward_reads += 1
        self.stats.conversions += -(-n // self.config.adcs) * self.config.adc_average
        return out.reshape(1, -1)

    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        x = np.asarray(x, dtype=np.int64).reshape(1, -1)
        d = np.asarray(d, dtype=np.int64).reshape(1, -1)
        c = self.controller
        c.load_vector(proto.Side.ROWS, row0, x[0])
        c.load_vector(proto.Side.COLS, col0, d[0])
        r = c.update(mode=mode, row_gain=int(row_gain), col_gain=int(col_gain), dither=bool(dither),
                     row0=row0, nrows=x.shape[1], col0=col0, ncols=d.shape[1])
        self.stats.updates += 1
        self.stats.update_slots += r["slots"]
        return r["slots"]

    # -- write-verify and direct readout -----------------------------------------------
    def _program(self, t, row0, col0, tolerance, shift):
        pp = self.periphery
        target = np.clip(np.floor(t / pp.program_bound * self.adc_max + 0.5),
                         -self.adc_max, self.adc_max).astype(np.int64)
        reads = pulses = unconverged = iters = 0
        for i in range(t.shape[1]):
            for j in range(t.shape[2]):
                r = self.controller.program(row0 + i, col0 + j, int(target[0, i, j]), tolerance,
                                            shift, self.dac_max)
                reads += r["reads"]
                pulses += r["pulses"]
                unconverged += 0 if r["converged"] else 1
                iters = max(iters, r["reads"])
        self.stats.program_reads += reads
        self.stats.program_pulses += pulses
        return {"reads": reads, "pulses": pulses, "iterations": iters, "unconverged": unconverged}

    def read_codes(self) -> np.ndarray:
        """Single-device read codes (rows, cols) at full read level."""
        c = self.config
        return np.array([[self.controller.read_device(i, j, self.dac_max) for j in range(c.cols)]
                         for i in range(c.rows)], dtype=np.int64)

    def read_weights(self) -> np.ndarray:
        """Weights (1, rows, cols) in weight units from single-device reads (program_bound scale)."""
        return (self.read_codes() * (self.periphery.program_bound / self.adc_max))[None]

    def state_dict(self) -> dict:
        return {"stats": self.stats.to_dict()}

    def load_state_dict(self, d: dict) -> None:
        self.stats = BackendStats(**d["stats"])
