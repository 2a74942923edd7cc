"""The controller's host API, one method per command, over any transport.

:class:`HostInterface` packs requests with :mod:`insitu.golden.protocol`, sends
them through a :class:`~insitu.host.transport.Transport` and checks the
answers. Several requests may go out in one batch (a vector load and the read or
update that uses it): one write, one response each, in order. On a link without
flow control (a UART; a transport's ``flow_control`` attribute says) a batch is
at most :func:`~insitu.golden.protocol.run_ahead_bytes` long, what the
controller's receive FIFO buffers.

Retries: a request the controller rejected as corrupted (``BAD_CRC``) or cut off
(``TIMEOUT``) had no effect, and a lost or corrupted response of a command that
changes nothing (:data:`IDEMPOTENT`) costs nothing to repeat, so the batch is sent
again, up to ``retries`` times, when every request that may have executed is
idempotent. Otherwise (an ``UPDATE`` or ``PROGRAM`` whose answer was lost, or that
ran after a vector load failed) :class:`~insitu.host.errors.LinkError` is raised:
the array may have moved. Any other error status raises
:class:`~insitu.host.errors.CommandError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from ..golden.validate import check_choice, check_int
from .errors import CommandError, LinkError, opcode_name
from .transport import SerialTransport, Transport

Op = proto.Opcode
IDEMPOTENT = frozenset({Op.STATUS, Op.READ_VECTOR, Op.LOAD_VECTOR, Op.FORWARD, Op.TRANSPOSE,
                        Op.READ_DEVICE, Op.INFER, Op.NEURON_CONTROL})
#: statuses that say the request was damaged on the way (no effect; worth a retry)
LINK_FAULTS = frozenset({proto.Status.BAD_CRC, proto.Status.TIMEOUT})


@dataclass(frozen=True)
class Request:
    """One request: opcode, fixed fields, and the codes of a LOAD_VECTOR."""

    opcode: Op
    fields: dict = field(default_factory=dict)
    codes: tuple | None = None

    def frame(self) -> bytes:
        return self._frame

    @cached_property
    def _frame(self) -> bytes:  # packed once: a batch is sized, then sent
        return proto.encode_request(self.opcode, self.codes, **self.fields)


@dataclass(frozen=True)
class _RawRequest:
    """A request whose payload is packed already (a TRAIN / INFER sample: u8 codes)."""

    opcode: Op
    payload: bytes

    def frame(self) -> bytes:
        return proto.encode_frame(self.opcode, self.payload)


class HostInterface:
    """The controller behind ``transport``, command by command.

    Parameters
    ----------
    transport : Transport or str
        A transport, or a serial port name (opened with :class:`SerialTransport`).
    config : ControllerConfig, optional
        The controller's array size and converter widths; default: from STATUS.
    baud : int
        Serial port rate (only with a port name).
    timeout : float
        Seconds to wait for the responses of one batch (simulated seconds in a simulation).
    program_timeout : float, optional
        The same for a PROGRAM (write-verify loop); default ``10 * timeout``.
    retries : int
        Batches sent again after a link fault (see the module docstring).
    """

    def __init__(self, transport: Transport | str, *, config: ControllerConfig | None = None,
                 baud: int = 115200, timeout: float = 1.0, program_timeout: float | None = None,
                 retries: int = 3):
        self.transport = SerialTransport(transport, baud) if isinstance(transport, str) else transport
        self.timeout = float(timeout)
        self.program_timeout = 10 * self.timeout if program_timeout is None else float(program_timeout)
        self.retries = int(retries)
        self.retried = 0
        self._config = config
        #: NEURON_CONTROL's read mode as last set: a FORWARD then steps the chip's neurons,
        #: so it is not repeated after a lost answer
        self.neuron_reads = False
        self._held: list = []  # (requests, on_answer) sent ahead of the next batch

    # ------------------------------------------------------------------ batches
    def batch(self, requests: list[Request], *, timeout: float | None = None) -> list[proto.Response]:
        """Send ``requests`` in one write; return their OK responses, in order (requests held
        by :meth:`send_ahead` go out first, in a batch of their own)."""
        if self._held:
            self.flush()
        if timeout is None:
            long = any(r.opcode == Op.PROGRAM for r in requests)
            timeout = self.program_timeout if long else self.timeout
        data = b"".join(r.frame() for r in requests)
        for attempt in range(self.retries + 1):
            raw = self.transport.exchange(data, len(requests), timeout)
            decoder = proto.ResponseDecoder()
            got = decoder.feed(raw)
            if len(got) == len(requests) and all(
                    g.ok and g.opcode == r.opcode for g, r in zip(got, requests)):
                return got
            fault = self._fault(requests, got, decoder, timeout)
            if fault is None and attempt < self.retries:
                self.retried += 1
                continue
            if fault is None:  # out of retries
                bad = next((g for g in got if g.status in LINK_FAULTS), None)
                fault = (CommandError(bad.opcode, bad.status) if bad is not None
                         else self._lost(requests, got, decoder, timeout))
            raise fault
        raise AssertionError("unreachable")

    def _fault(self, requests, got, decoder, timeout) -> Exception | None:
        """None if the batch may be sent again, else the exception to raise."""
        damaged = False  # an earlier request failed, or its answer is unknown
        for k, r in enumerate(requests):
            g = got[k] if k < len(got) else None
            if g is not None and not g.ok and g.status not in LINK_FAULTS:
                return CommandError(r.opcode, g.status)
            clean = g is not None and g.ok and g.opcode == r.opcode
            rejected = g is not None and g.status in LINK_FAULTS  # certainly had no effect
            if not self._idempotent(r.opcode) and not rejected and (damaged or not clean):
                return self._lost(requests, got, decoder, timeout)
            damaged = damaged or not clean
        return None

    def _lost(self, requests, got, decoder, timeout) -> LinkError:
        names = "+".join(opcode_name(r.opcode) for r in requests)
        if got:
            answers = ", ".join(f"{opcode_name(g.opcode)} {g.status.name}" for g in got)
            what = f"{names}: answered {answers} ({len(got)} of {len(requests)} responses)"
        else:
            what = (f"no response within {timeout:g} s to {names} "
                    f"({decoder.dropped} stray bytes dropped)")
        if any(not self._idempotent(r.opcode) for r in requests):
            what += "; not repeated, the array may have changed"
        return LinkError(what)

    def _idempotent(self, opcode) -> bool:
        return opcode in IDEMPOTENT and not (opcode == Op.FORWARD and self.neuron_reads)

    def command(self, opcode: Op, codes=None, *, timeout: float | None = None,
                **fields) -> proto.Response:
        """One request; its OK response."""
        codes = None if codes is None else tuple(int(c) for c in codes)
        return self.batch([Request(Op(opcode), fields, codes)], timeout=timeout)[0]

    # ------------------------------------------------------------------ config
    @property
    def config(self) -> ControllerConfig:
        """The controller's array size and converter widths (from STATUS unless given;
        timing fields then are defaults)."""
        if self._config is None:
            self.status()
        return self._config

    def _learn(self, s: dict) -> None:
        if s["version"] != proto.VERSION:
            raise LinkError(f"protocol version {s['version']}, this host speaks {proto.VERSION}")
        if self._config is None:
            self._config = ControllerConfig(
                rows=s["rows"], cols=s["cols"], dac_bits=s["dac_bits"], adc_bits=s["adc_bits"],
                count_bits=s["count_bits"], prob_bits=s["prob_bits"], bl=s["bl"], adcs=s["adcs"],
                adc_average=s["adc_average"])

    def _window(self, row0, nrows, col0, ncols) -> dict:
        c = self.config
        return {"row0": row0, "nrows": c.rows - row0 if nrows is None else nrows,
                "col0": col0, "ncols": c.cols - col0 if ncols is None else ncols}

    @staticmethod
    def _load(side, codes, offset) -> Request:
        return Request(Op.LOAD_VECTOR, {"side": int(side), "offset": int(offset)},
                       tuple(map(int, codes)))

    def send_ahead(self, requests: list[Request], on_answer) -> None:
        """Hold ``requests`` to go out in front of the next command's batch, in the same write
        (one exchange for both: the controller executes the frames in order, so nothing
        changes but the round trip); ``on_answer(response)`` gets the last one's OK response
        then. An error answer raises there, from the call that sent them, as
        :meth:`batch` raises it. :meth:`flush` sends what is held on its own."""
        self._held.append((list(requests), on_answer))

    def flush(self) -> None:
        """Send the requests held by :meth:`send_ahead` now (nothing if none)."""
        if self._held:
            self._run([])

    def _run(self, requests: list[Request]) -> list[proto.Response]:
        """The requests held by :meth:`send_ahead`, then ``requests``, as :meth:`_run_split`
        sends them; the responses to ``requests``."""
        held, self._held = self._held, []
        if not held:
            return self._run_split(requests)
        front = [r for group, _ in held for r in group]
        got = self._run_split(front + list(requests))
        k = 0
        for group, on_answer in held:
            k += len(group)
            on_answer(got[k - 1])
        return got[len(front):]

    def _run_split(self, requests: list[Request]) -> list[proto.Response]:
        """A batch, split where it would run further ahead than the controller buffers
        (on a link without flow control), or where it would not fit the transport's own
        buffers (``max_batch_bytes`` of requests, ``max_answer_bytes`` of answers: the
        co-simulation's stream transactor)."""
        t = self.transport
        if getattr(t, "flow_control", False):
            limit = getattr(t, "max_batch_bytes", None)
            answers = getattr(t, "max_answer_bytes", None)
            if limit is None and answers is None:
                return self.batch(requests)
        else:
            limit, answers = proto.run_ahead_bytes(self.config), None
        out, part, size, back = [], [], 0, 0
        for r in requests:
            n, a = len(r.frame()), self._answer_bytes(r)
            if part and ((limit is not None and size + n > limit)
                         or (answers is not None and back + a > answers)):
                out += self.batch(part)
                part, size, back = [], 0, 0
            part.append(r)
            size += n
            back += a
        return out + self.batch(part)

    @staticmethod
    def _answer_bytes(r) -> int:
        """Bytes of the OK answer to request ``r`` (an error answer is shorter)."""
        op = r.opcode
        if op == Op.FORWARD:
            n = r.fields["ncols"] * proto.ADC_CODE_BYTES
        elif op == Op.TRANSPOSE:
            n = r.fields["nrows"] * proto.ADC_CODE_BYTES
        elif op == Op.READ_DEVICE:
            n = proto.ADC_CODE_BYTES
        elif op == Op.READ_VECTOR:
            n = r.fields["count"] * proto.VECTOR_CODE_BYTES
        else:
            n = proto.fields_size(proto.RESPONSE_FIELDS[op])
        return proto.RESPONSE_OVERHEAD + n

    # ------------------------------------------------------------------ commands
    def status(self) -> dict:
        """The STATUS fields (version, array size, widths, LFSR draws, frame errors)."""
        s = self.command(Op.STATUS).fields()
        self._learn(s)
        return s

    def load_vector(self, side: proto.Side, codes, offset: int = 0) -> None:
        self.batch([self._load(side, codes, offset)])

    def read_vector(self, side: proto.Side, offset: int = 0, count: int | None = None) -> np.ndarray:
        if count is None:
            count = (self.config.rows if side == proto.Side.ROWS else self.config.cols) - offset
        return self.command(Op.READ_VECTOR, side=int(side), offset=offset, count=count).codes()

    def forward(self, row0: int = 0, nrows: int | None = None, col0: int = 0,
                ncols: int | None = None, *, load=None) -> np.ndarray:
        """Rows drive their buffered codes (``load``: codes loaded at ``row0`` first, in the same
        batch), the columns' ADC codes of [col0, col0 + ncols)."""
        if load is not None:
            nrows = len(load)
        req = Request(Op.FORWARD, self._window(row0, nrows, col0, ncols))
        pre = [] if load is None else [self._load(proto.Side.ROWS, load, row0)]
        return self._converted(Op.FORWARD, self._run(pre + [req])[-1].codes())

    def transpose(self, row0: int = 0, nrows: int | None = None, col0: int = 0,
                  ncols: int | None = None, *, load=None) -> np.ndarray:
        """Columns drive (``load``: codes loaded at ``col0`` first), the rows' ADC codes."""
        if load is not None:
            ncols = len(load)
        req = Request(Op.TRANSPOSE, self._window(row0, nrows, col0, ncols))
        pre = [] if load is None else [self._load(proto.Side.COLS, load, col0)]
        return self._converted(Op.TRANSPOSE, self._run(pre + [req])[-1].codes())

    def _converted(self, opcode, codes: np.ndarray) -> np.ndarray:
        """``codes``, or CommandError(ADC_TIMEOUT) if a converter timed out part-way through
        the read (its header had left: the lines not converted came back as ``no_code``)."""
        if np.any(codes == proto.no_code(self.config)):
            raise CommandError(opcode, proto.Status.ADC_TIMEOUT)
        return codes

    def update(self, mode: str, row_gain: int, col_gain: int, *, dither: bool = False,
               row0: int = 0, nrows: int | None = None, col0: int = 0, ncols: int | None = None,
               x=None, d=None) -> dict:
        """A rank-1 update (``x``/``d``: row and column codes loaded first, same batch);
        the response's ``slots`` and ``lfsr_draws``."""
        return self._run(self.update_requests(mode, row_gain, col_gain, dither=dither, row0=row0,
                                              nrows=nrows, col0=col0, ncols=ncols, x=x,
                                              d=d))[-1].fields()

    def update_requests(self, mode: str, row_gain: int, col_gain: int, *, dither: bool = False,
                        row0: int = 0, nrows: int | None = None, col0: int = 0,
                        ncols: int | None = None, x=None, d=None) -> list[Request]:
        """The requests of :meth:`update` (the vector loads, then the UPDATE), not sent."""
        if x is not None:
            nrows = len(x)
        if d is not None:
            ncols = len(d)
        m = proto.Mode.DETERMINISTIC if mode == "deterministic" else proto.Mode.STOCHASTIC
        req = Request(Op.UPDATE, {"mode": int(m), "flags": proto.UPDATE_FLAG_DITHER if dither else 0,
                                  "row_gain": int(row_gain), "col_gain": int(col_gain),
                                  **self._window(row0, nrows, col0, ncols)})
        pre = [] if x is None else [self._load(proto.Side.ROWS, x, row0)]
        pre += [] if d is None else [self._load(proto.Side.COLS, d, col0)]
        return pre + [req]

    def program(self, row: int, col: int, target: int, *, read_code: int, tolerance: int = 0,
                shift: int = 0) -> dict:
        """Write-verify of one device: ``converged``, ``reads``, ``pulses``, last ``code``."""
        return self.command(Op.PROGRAM, row=row, col=col, target=int(target), tolerance=tolerance,
                            shift=shift, read_code=read_code).fields()

    def read_device(self, row: int, col: int, *, read_code: int) -> int:
        return int(self.command(Op.READ_DEVICE, row=row, col=col, read_code=read_code).codes()[0])

    def neuron_control(self, *, reset: bool = False, read: bool = False) -> None:
        """The chip's neurons (NEURON_CONTROL): ``reset`` strobes their reset line (every
        neuron to rest); ``read`` sets the neuron-read mode, in which every FORWARD samples
        the neurons (stepped once by its column currents) instead of the column currents."""
        flags = (proto.NEURON_FLAG_RESET if reset else 0) | (proto.NEURON_FLAG_READ if read else 0)
        self.command(Op.NEURON_CONTROL, flags=flags)
        self.neuron_reads = bool(read)

    # ------------------------------------------------------------------ the trainer engine
    def configure_network(self, sizes, zm, r, *, shift: int, activation: str = "sigmoid",
                          algorithm: str = "pgd") -> None:
        """Configure the trainer engine: layer ``sizes`` (inputs, ..., classes), laid out side
        by side from row 0 and column 0; per layer the table multiplier ``zm[l]`` and the
        update-management pair ``r[l] = (r_even, r_odd)``; the multipliers' fraction bits
        ``shift`` (``OnChipTrainer.constants`` computes all three)."""
        c = self.config
        sizes = [int(v) for v in sizes]
        L = len(sizes) - 1
        check_int("number of layers", L, 2, proto.TRAINER_MAX_LAYERS)
        for k, v in enumerate(sizes):
            check_int(f"sizes[{k}]", v, 1, c.rows - 1 if k < L else 255)
        if sum(sizes[1:]) > c.cols:
            raise ValueError(f"sizes: the layers need {sum(sizes[1:])} columns, the array has "
                             f"{c.cols}")
        check_int("shift", shift, *proto.TRAINER_SHIFTS)
        check_choice("activation", activation, proto.TRAINER_ACTIVATIONS)
        check_choice("algorithm", algorithm, proto.TRAINER_ALGORITHMS)
        if len(zm) != L or len(r) != L:
            raise ValueError(f"zm and r need one entry per layer ({L}), got {len(zm)} and {len(r)}")
        top = (1 << proto.TRAINER_CONST_BITS) - 1
        reqs = [Request(Op.CONFIGURE, {
            "layers": L, "activation": proto.TRAINER_ACTIVATIONS.index(activation),
            "algorithm": proto.TRAINER_ALGORITHMS.index(algorithm), "shift": int(shift)})]
        for k in range(L):
            reqs.append(Request(Op.CONFIGURE_LAYER, {
                "layer": k, "fan_in": sizes[k], "fan_out": sizes[k + 1],
                "zm": check_int(f"zm[{k}]", int(zm[k]), 1, top),
                "r_even": check_int(f"r[{k}][0]", int(r[k][0]), 0, top),
                "r_odd": check_int(f"r[{k}][1]", int(r[k][1]), 0, top)}))
        self._run(reqs)
        self.network_sizes = tuple(sizes)

    def _sample(self, codes) -> tuple:
        sizes = getattr(self, "network_sizes", None)
        if sizes is None:
            raise ValueError("no network configured: call configure_network first")
        codes = tuple(int(v) for v in np.asarray(codes).reshape(-1))
        if len(codes) != sizes[0]:
            raise ValueError(f"sample must have {sizes[0]} codes, got {len(codes)}")
        D = self.config.dac_max
        if any(not 0 <= v <= D for v in codes):
            raise ValueError(f"sample codes must be in [0, {D}]")
        return codes

    def train_sample(self, codes, label: int) -> dict:
        """One training step on the controller (TRAIN): its ``prediction`` (before the
        update), integer ``loss`` and ``capped`` updates."""
        codes = self._sample(codes)
        check_int("label", label, 0, self.network_sizes[-1] - 1)
        payload = bytes([int(label)]) + bytes(codes)
        return self._trainer_command(Op.TRAIN, payload).fields()

    def infer(self, codes) -> int:
        """The predicted class of one sample (INFER)."""
        payload = bytes(self._sample(codes))
        return int(self._trainer_command(Op.INFER, payload).fields()["prediction"])

    def train_samples(self, samples, labels) -> list[dict]:
        """Many TRAIN steps, sent ahead of their answers: as many requests at once as the
        controller buffers (:func:`~insitu.golden.protocol.run_ahead_bytes` on a link without
        flow control; with it, all of them, or as many as the transport's buffers hold), so
        the next samples arrive while the current one trains: on a UART into the receive
        FIFO, on the stream port into the host link's second payload bank (its run-ahead of
        one frame; the stream's flow control holds the rest). Same answers, in order, as
        :meth:`train_sample` one by one; a bad sample or label is one line before anything
        is sent."""
        labels = list(labels)
        samples = list(samples)
        if len(samples) != len(labels):
            raise ValueError(f"labels must match samples: {len(samples)} samples, "
                             f"{len(labels)} labels")
        reqs = []
        for codes, label in zip(samples, labels):
            codes = self._sample(codes)
            check_int("label", label, 0, self.network_sizes[-1] - 1)
            reqs.append(_RawRequest(Op.TRAIN, bytes([int(label)]) + bytes(codes)))
        return [r.fields() for r in self._run(reqs)]

    def infer_samples(self, samples) -> list[int]:
        """The predicted classes of many samples (INFER), sent ahead of their answers as
        :meth:`train_samples` sends its TRAINs; the same classes as :meth:`infer` one by one.
        A bad sample is one line before anything is sent."""
        reqs = [_RawRequest(Op.INFER, bytes(self._sample(codes))) for codes in samples]
        return [int(r.fields()["prediction"]) for r in self._run(reqs)]

    def _trainer_command(self, op: Op, payload: bytes) -> proto.Response:
        return self.batch([_RawRequest(op, payload)])[0]

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()
