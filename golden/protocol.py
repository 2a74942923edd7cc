"""The host protocol of the controller, defined once.

Pure Python (no Amaranth): the RTL (:mod:`insitu.rtl.hostlink`,
:mod:`insitu.rtl.controller`) builds its field layouts from the tables here,
and host-side code (co-simulation driver, board driver) packs and parses
frames with the same functions. ``docs/protocol.md`` describes it for people.

Frames
------
Request::

    SYNC | opcode | length (u16 LE) | payload (length bytes) | CRC (u16, MSB first)

Response::

    SYNC | opcode | status | length (u16 LE) | payload | CRC (u16, MSB first)

The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no
reflection, no final XOR) over every byte after SYNC up to the payload's end.
Sent MSB first, so the CRC over a whole frame including its CRC is zero.
All multi-byte fields are little endian; signed fields are two's complement.

Every request frame (a SYNC byte followed by anything) gets exactly one
response. Error checks, in order, and the first failing one answers:
``BAD_LENGTH`` (length above :func:`max_payload`: answered at once, before
the payload), ``TIMEOUT`` (no byte for the inter-byte timeout inside a frame),
``BAD_CRC``, ``BAD_OPCODE``, ``BAD_LENGTH`` (length wrong for the opcode),
``BAD_ARG`` (index, window, gain or code out of range). An error response
has no payload and the command has no effect: buffers, array and LFSRs are
untouched. Bytes outside a frame that are not SYNC are dropped.

A converter that keeps ``busy`` high for ``adc_timeout`` ticks past its
conversion time is given up on (:class:`ConverterTimeout`): if the response
header has not left yet (the read's first mux position, any read of PROGRAM,
READ_DEVICE) the answer is ``ADC_TIMEOUT`` with no payload (a PROGRAM keeps
the pulses of its earlier steps); a read whose header has left ends its body
with :func:`no_code` for every line not converted. Either way the levels are
released at once (safe idle) and the next frame is served.
"""

from __future__ import annotations

import binascii
import enum
import functools
import struct
from dataclasses import dataclass

import numpy as np

from .config import ControllerConfig

SYNC = 0xA5
VERSION = 1
CRC_INIT = 0xFFFF
CRC_POLY = 0x1021
CRC_BYTES = 2

# The header fields after SYNC, (name, bytes, signed) like the payload tables below.
REQUEST_HEADER = (("opcode", 1, False), ("length", 2, False))
RESPONSE_HEADER = (("opcode", 1, False), ("status", 1, False), ("length", 2, False))


class Opcode(enum.IntEnum):
    STATUS = 0x01
    LOAD_VECTOR = 0x02
    READ_VECTOR = 0x03
    FORWARD = 0x04
    TRANSPOSE = 0x05
    UPDATE = 0x06
    PROGRAM = 0x07
    READ_DEVICE = 0x08
    # the trainer engine (answered BAD_OPCODE by a controller built without one)
    CONFIGURE = 0x09
    CONFIGURE_LAYER = 0x0A
    TRAIN = 0x0B
    INFER = 0x0C
    # the chip's neurons between the columns and the converters (BrainScaleS-2's position)
    NEURON_CONTROL = 0x0D


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    BAD_OPCODE = 2
    BAD_LENGTH = 3
    BAD_ARG = 4
    TIMEOUT = 5
    ADC_TIMEOUT = 0x10  # a converter's busy stayed high (converter faults from 0x10 on)


class Side(enum.IntEnum):
    ROWS = 0  # the x buffer, row DACs, row ADCs
    COLS = 1  # the d buffer, column DACs, column ADCs


class Mode(enum.IntEnum):
    DETERMINISTIC = 0
    STOCHASTIC = 1


UPDATE_FLAG_DITHER = 0x01
#: NEURON_CONTROL flags: strobe the neurons' reset line (every neuron to rest); neuron reads
#: on (the FORWARD reads that follow sample the neurons, not the plain column currents)
NEURON_FLAG_RESET = 0x01
NEURON_FLAG_READ = 0x02
NEURON_FLAGS = NEURON_FLAG_RESET | NEURON_FLAG_READ

#: the trainer engine's commands (:mod:`insitu.golden.onchip` is their arithmetic)
TRAINER_OPCODES = frozenset({Opcode.CONFIGURE, Opcode.CONFIGURE_LAYER, Opcode.TRAIN,
                             Opcode.INFER})
#: hidden activations and step orders of CONFIGURE, by their code
TRAINER_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "relu")
TRAINER_ALGORITHMS = ("pgd", "backprop")
TRAINER_MAX_LAYERS = 4
TRAINER_SHIFTS = (8, 24)  # the multipliers' fraction bits (OnChipConfig.mult_bits)
TRAINER_CONST_BITS = 24  # zm_l and r_l are below 2**TRAINER_CONST_BITS
SAMPLE_CODE_BYTES = 1  # TRAIN / INFER input codes: u8 in [0, dac_max]

# Fixed request fields per opcode: (name, bytes, signed). LOAD_VECTOR is followed
# by its codes (i16 each); the count is (length - 3) / 2.
REQUEST_FIELDS: dict[Opcode, tuple[tuple[str, int, bool], ...]] = {
    Opcode.STATUS: (),
    Opcode.LOAD_VECTOR: (("side", 1, False), ("offset", 2, False)),
    Opcode.READ_VECTOR: (("side", 1, False), ("offset", 2, False), ("count", 2, False)),
    Opcode.FORWARD: (("row0", 2, False), ("nrows", 2, False), ("col0", 2, False), ("ncols", 2, False)),
    Opcode.TRANSPOSE: (("row0", 2, False), ("nrows", 2, False), ("col0", 2, False), ("ncols", 2, False)),
    Opcode.UPDATE: (
        ("mode", 1, False), ("flags", 1, False), ("row_gain", 2, False), ("col_gain", 2, False),
        ("row0", 2, False), ("nrows", 2, False), ("col0", 2, False), ("ncols", 2, False),
    ),
    Opcode.PROGRAM: (
        ("row", 2, False), ("col", 2, False), ("target", 4, True), ("tolerance", 2, False),
        ("shift", 1, False), ("read_code", 2, True),
    ),
    Opcode.READ_DEVICE: (("row", 2, False), ("col", 2, False), ("read_code", 2, True)),
    Opcode.CONFIGURE: (("layers", 1, False), ("activation", 1, False), ("algorithm", 1, False),
                       ("shift", 1, False)),
    Opcode.CONFIGURE_LAYER: (("layer", 1, False), ("fan_in", 1, False), ("fan_out", 1, False),
                             ("zm", 4, False), ("r_even", 4, False), ("r_odd", 4, False)),
    Opcode.TRAIN: (("label", 1, False),),  # then the sample's codes (u8 each)
    Opcode.INFER: (),  # the sample's codes (u8 each)
    Opcode.NEURON_CONTROL: (("flags", 1, False),),
}

# Fixed response fields per opcode. READ_VECTOR answers count i16 codes;
# FORWARD / TRANSPOSE / READ_DEVICE answer i32 ADC codes in ascending line order.
RESPONSE_FIELDS: dict[Opcode, tuple[tuple[str, int, bool], ...]] = {
    Opcode.STATUS: (
        ("version", 1, False), ("rows", 2, False), ("cols", 2, False), ("dac_bits", 1, False),
        ("adc_bits", 1, False), ("count_bits", 1, False), ("prob_bits", 1, False), ("bl", 1, False),
        ("adcs", 2, False), ("adc_average", 1, False), ("lfsr_draws", 4, False),
        ("frame_errors", 2, False),
    ),
    Opcode.LOAD_VECTOR: (),
    Opcode.READ_VECTOR: (),
    Opcode.FORWARD: (),
    Opcode.TRANSPOSE: (),
    Opcode.UPDATE: (("slots", 4, False), ("lfsr_draws", 4, False)),
    Opcode.PROGRAM: (("converged", 1, False), ("reads", 2, False), ("pulses", 4, False), ("code", 4, True)),
    Opcode.READ_DEVICE: (),
    Opcode.CONFIGURE: (),
    Opcode.CONFIGURE_LAYER: (),
    Opcode.TRAIN: (("prediction", 1, False), ("loss", 4, False), ("capped", 1, False)),
    Opcode.INFER: (("prediction", 1, False),),
    Opcode.NEURON_CONTROL: (),
}

VECTOR_CODE_BYTES = 2  # LOAD_VECTOR / READ_VECTOR codes: i16
ADC_CODE_BYTES = 4  # read results: i32


def no_code(config: ControllerConfig) -> int:
    """The ADC code of a line a timed-out read never converted: ``-2**(adc_bits - 1)``,
    outside the symmetric range every conversion returns."""
    return -(1 << (config.adc_bits - 1))


class ConverterTimeout(Exception):
    """Raised by a ``ProtocolReference`` analog's ``read``: the converters stopped answering.

    Parameters
    ----------
    position : int
        Index of the mux position, within the read (0 = the read's first), whose
        conversion timed out; the codes of lines at earlier positions are valid.
    codes : array or None
        The read's codes as the earlier positions converted them (window order).
    """

    def __init__(self, position: int = 0, codes=None):
        super().__init__(f"converter timed out at mux position {position} of the read")
        self.position = int(position)
        self.codes = codes


class _HeaderTimeout(Exception):
    """A converter timed out before the response header left: answer ADC_TIMEOUT."""


@functools.cache
def fields_size(fields) -> int:
    return sum(n for _, n, _ in fields)


@functools.cache
def _fields_struct(fields) -> struct.Struct:
    """The fields of a table as one little-endian ``struct`` (packed and unpacked in C: the
    co-simulation's host-link monitor parses every frame of a training run)."""
    code = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
            (4, False): "I", (4, True): "i"}
    return struct.Struct("<" + "".join(code[n, signed] for _, n, signed in fields))


@functools.cache
def _field_names(fields) -> tuple:
    return tuple(name for name, _, _ in fields)


def field_offset(fields, name: str) -> int:
    """Byte offset of field ``name`` within a field table."""
    pos = 0
    for f, n, _ in fields:
        if f == name:
            return pos
        pos += n
    raise KeyError(name)


#: request frame bytes around the payload: SYNC, header, CRC
FRAME_OVERHEAD = 1 + fields_size(REQUEST_HEADER) + CRC_BYTES
#: response frame bytes around the payload: SYNC, header, CRC
RESPONSE_OVERHEAD = 1 + fields_size(RESPONSE_HEADER) + CRC_BYTES
#: offset of the response's payload length (u16 LE) in a frame, and of its payload
RESPONSE_LENGTH_AT = 1 + field_offset(RESPONSE_HEADER, "length")
RESPONSE_PAYLOAD_AT = 1 + fields_size(RESPONSE_HEADER)
REQUEST_PAYLOAD_AT = 1 + fields_size(REQUEST_HEADER)
#: offsets of a request's opcode and payload length (u16 LE) in a frame
REQUEST_OPCODE_AT = 1 + field_offset(REQUEST_HEADER, "opcode")
REQUEST_LENGTH_AT = 1 + field_offset(REQUEST_HEADER, "length")


def max_payload(config: ControllerConfig) -> int:
    """Largest request payload: a LOAD_VECTOR of the longer side, or the largest fixed request."""
    vector = fields_size(REQUEST_FIELDS[Opcode.LOAD_VECTOR]) + VECTOR_CODE_BYTES * max(config.rows, config.cols)
    return max(vector, max(fields_size(f) for f in REQUEST_FIELDS.values()))


def max_request_frame(config: ControllerConfig) -> int:
    """Bytes of the longest request frame."""
    return max_payload(config) + FRAME_OVERHEAD


def max_response_payload(config: ControllerConfig) -> int:
    """Largest response payload: a read of the longer side, a READ_VECTOR of it, or the
    largest fixed response."""
    lines = max(config.rows, config.cols)
    return max(ADC_CODE_BYTES * lines, VECTOR_CODE_BYTES * lines,
               max(fields_size(f) for f in RESPONSE_FIELDS.values()))


def max_response_frame(config: ControllerConfig) -> int:
    """Bytes of the longest response frame."""
    return max_response_payload(config) + RESPONSE_OVERHEAD


def run_ahead_bytes(config: ControllerConfig) -> int:
    """How many request bytes a host may send ahead of the responses on a link that cannot
    wait (the UART): two longest request frames (the controller's receive FIFO holds them)."""
    return 2 * max_request_frame(config)


def request_length_ok(opcode: Opcode, length: int, config: ControllerConfig) -> bool:
    """Whether ``length`` is a valid payload length for ``opcode`` (ranges checked later)."""
    fixed = fields_size(REQUEST_FIELDS[opcode])
    if opcode == Opcode.LOAD_VECTOR:
        extra = length - fixed
        return extra >= VECTOR_CODE_BYTES and extra % VECTOR_CODE_BYTES == 0
    if opcode in (Opcode.TRAIN, Opcode.INFER):  # at least one code (the count is checked later)
        return length >= fixed + SAMPLE_CODE_BYTES
    return length == fixed


# ---------------------------------------------------------------------- CRC
def crc16_update(crc: int, byte: int) -> int:
    """CRC-16/CCITT-FALSE over one byte (MSB first)."""
    crc ^= (byte & 0xFF) << 8
    for _ in range(8):
        crc = ((crc << 1) ^ CRC_POLY) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE over ``data`` (``binascii.crc_hqx`` is this CRC, in C)."""
    return binascii.crc_hqx(bytes(data), crc)


# ---------------------------------------------------------------------- packing
def pack_fields(fields, values: dict) -> bytes:
    """``values`` (by field name) packed as the table ``fields`` says; OverflowError for a
    value that does not fit its field."""
    try:
        return _fields_struct(fields).pack(*[int(values[name]) for name in _field_names(fields)])
    except struct.error as e:
        raise OverflowError(f"a field value does not fit its field: {e}") from None


def unpack_fields(fields, data: bytes) -> dict:
    """The fields of table ``fields`` from the start of ``data`` (missing bytes read as 0)."""
    st = _fields_struct(fields)
    if len(data) >= st.size:
        return dict(zip(_field_names(fields), st.unpack_from(data)))
    out, pos = {}, 0  # a short payload: what there is, field by field
    for name, n, signed in fields:
        out[name] = int.from_bytes(data[pos:pos + n], "little", signed=signed)
        pos += n
    return out


def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A request frame (opcode may be any byte, to build malformed frames in tests)."""
    try:
        body = _fields_struct(REQUEST_HEADER).pack(opcode & 0xFF, len(payload))
    except struct.error as e:
        raise OverflowError(f"a field value does not fit its field: {e}") from None
    body += bytes(payload)
    return bytes([SYNC]) + body + crc16(body).to_bytes(CRC_BYTES, "big")


def encode_response(opcode: int, status: int, payload: bytes = b"") -> bytes:
    """A response frame (the controller's answer)."""
    try:
        body = _fields_struct(RESPONSE_HEADER).pack(opcode & 0xFF, status & 0xFF, len(payload))
    except struct.error as e:
        raise OverflowError(f"a field value does not fit its field: {e}") from None
    body += bytes(payload)
    return bytes([SYNC]) + body + crc16(body).to_bytes(CRC_BYTES, "big")


def encode_request(opcode: Opcode, codes=None, **fields) -> bytes:
    """Pack a request: fixed fields by name, plus ``codes`` for LOAD_VECTOR."""
    opcode = Opcode(opcode)
    payload = pack_fields(REQUEST_FIELDS[opcode], fields)
    if codes is not None:
        codes = [int(c) for c in codes]
        payload += struct.pack(f"<{len(codes)}{_CODE_FORMAT[VECTOR_CODE_BYTES]}", *codes)
    return encode_frame(opcode, payload)


_CODE_FORMAT = {2: "h", 4: "i"}


@dataclass
class Response:
    opcode: int
    status: Status
    payload: bytes

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def fields(self) -> dict:
        return unpack_fields(RESPONSE_FIELDS[Opcode(self.opcode)], self.payload)

    def codes(self) -> np.ndarray:
        """Codes of a READ_VECTOR (i16) or read (i32) response."""
        size = VECTOR_CODE_BYTES if self.opcode == Opcode.READ_VECTOR else ADC_CODE_BYTES
        fmt = "<%d%s" % (len(self.payload) // size, _CODE_FORMAT[size])
        return np.array(struct.unpack(fmt, self.payload), dtype=np.int64)


_STATUSES = {int(v): v for v in Status}


def _status(code: int) -> Status:
    """The Status of a status byte (ValueError for an unknown one, as ``Status(code)``)."""
    found = _STATUSES.get(code)
    return Status(code) if found is None else found


class ResponseDecoder:
    """Incremental parser of the response byte stream (host side).

    ``feed(data)`` returns the complete responses found; bytes that do not
    form a frame with a good CRC are skipped and counted in ``dropped``.
    """

    def __init__(self):
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[Response]:
        buf = self._buf
        buf += bytes(data)
        out = []
        pos, end = 0, len(buf)
        try:
            while True:
                k = buf.find(SYNC, pos)  # bytes before a SYNC are dropped
                k = end if k < 0 else k
                self.dropped += k - pos
                pos = k
                if end - pos < RESPONSE_PAYLOAD_AT:
                    return out
                n = int.from_bytes(buf[pos + RESPONSE_LENGTH_AT:pos + RESPONSE_LENGTH_AT + 2],
                                   "little")
                total = RESPONSE_OVERHEAD + n
                if end - pos < total:
                    return out
                frame = bytes(buf[pos:pos + total])
                if crc16(frame[1:]) != 0:  # not a frame: drop the SYNC, hunt again
                    pos += 1
                    self.dropped += 1
                    continue
                pos += total
                out.append(Response(frame[1], _status(frame[2]),
                                    frame[RESPONSE_PAYLOAD_AT:RESPONSE_PAYLOAD_AT + n]))
        finally:
            del buf[:pos]

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a frame not complete yet."""
        return len(self._buf)


def decode_response(frame: bytes) -> Response:
    """Decode exactly one response frame; ValueError if it is not one."""
    dec = ResponseDecoder()
    rs = dec.feed(frame)
    if len(rs) != 1 or dec.dropped or dec.pending:
        raise ValueError("not exactly one well-formed response frame")
    return rs[0]


#: opcode byte -> Opcode; per opcode its request's fixed fields, their size, its handler
_OPCODES = {int(op): op for op in Opcode}
_COMMANDS = {op: (REQUEST_FIELDS[op], fields_size(REQUEST_FIELDS[op]), "_do_" + op.name.lower())
             for op in Opcode if op in REQUEST_FIELDS}
_REQUEST_HEADER_BYTES = fields_size(REQUEST_HEADER)
_REQUEST_LENGTH_AT = field_offset(REQUEST_HEADER, "length")


# ---------------------------------------------------------------------- golden reference
class ProtocolReference:
    """What the controller answers to a byte stream, in pure Python.

    It mirrors the RTL's frame parser (hunt for SYNC, header, payload, CRC,
    timeout) and the command checks, keeps the x and d buffers, and delegates
    what needs the analog array to ``analog``: an object with
    ``read(drive_side, levels, sense_side, l0, l1) -> codes`` (``levels`` is the
    full DAC level vector of the driven side) and ``pulse(counts)`` (signed
    (rows, cols) pulse counts of one update command or program step). With
    ``analog=None`` reads return zeros and pulses are ignored.

    ``trainer``: the :class:`~insitu.golden.onchip.OnChipConfig` of the controller's trainer
    engine (its ``table_bits`` and ``z_range`` are the tables built in; activation, order and
    shift come with CONFIGURE), or None for a controller without one (the trainer's opcodes
    are then unknown). TRAIN and INFER run :class:`~insitu.golden.onchip.OnChipTrainer`'s
    integer step on this reference's own reads, updates and LFSRs (:class:`_TrainerArray`),
    so the reference *is* the spec; they leave the x and d buffers untouched.

    Run-ahead (the stream port takes the next frame while a command executes): the frames
    are still executed one at a time in order, so :meth:`feed` of the bytes in order is the
    prediction; :meth:`queued_frame_bytes` says how far the port reads ahead.

    NEURON_CONTROL: the reset strobe and the neuron-read mode it sets are what the
    controller's ``analog.neuron`` lines do; the reference logs them in ``neuron_log``
    (``"reset"`` per reset strobe, ``("read", col0, ncols)`` per FORWARD taken in neuron-read
    mode) and tells an ``analog`` that has ``neuron_control(reset, read)``.
    """

    def __init__(self, config: ControllerConfig, analog=None, trainer=None):
        from .controller import ControllerReference

        self.config = config
        self.controller = ControllerReference(config)
        self.analog = analog
        if trainer is not None and config.dac_max >= 1 << (8 * SAMPLE_CODE_BYTES):
            raise ValueError(f"dac_bits must be at most {8 * SAMPLE_CODE_BYTES + 1} for the "
                             f"trainer engine (u8 sample codes), got {config.dac_bits}")
        self.trainer = trainer
        self.network = None  # CONFIGURE's settings and the layers configured so far
        self.neuron_read = False  # NEURON_CONTROL's read mode: FORWARD samples the neurons
        self.neuron_log: list = []
        self.trainer_updates: list = []  # (plan, row0, col0) of every update TRAIN made
        self.x = np.zeros(config.rows, dtype=np.int64)
        self.d = np.zeros(config.cols, dtype=np.int64)
        self.frame_errors = 0
        self.max_payload = max_payload(config)
        self._state = "hunt"
        self._frame = bytearray()
        self._need = 0

    # -- byte-level parser, the RTL's states
    def feed(self, data: bytes) -> list[bytes]:
        """Feed request bytes; return the response frames they cause, in order.

        Whole frames are cut out of ``data`` at once (what the byte-by-byte parser below does
        with them, in one slice); a frame that continues in a later call goes byte by byte.
        """
        data = bytes(data)
        out = []
        pos, end = 0, len(data)
        head = _REQUEST_HEADER_BYTES
        while pos < end and self._state == "hunt":
            k = data.find(SYNC, pos)
            if k < 0:
                return out
            h = k + 1
            if end - h < head:
                break
            n = int.from_bytes(data[h + _REQUEST_LENGTH_AT:h + _REQUEST_LENGTH_AT + 2], "little")
            if n > self.max_payload:
                out.append(self._error(data[h], Status.BAD_LENGTH))
                pos = h + head
                continue
            stop = h + head + n + CRC_BYTES
            if stop > end:
                break
            out.append(self._frame_done(data[h:stop]))
            pos = stop
        return out + self._feed_bytes(data[pos:])

    def _feed_bytes(self, data: bytes) -> list[bytes]:
        out = []
        for b in data:
            if self._state == "hunt":
                if b == SYNC:
                    self._state, self._frame = "header", bytearray()
                continue
            self._frame.append(b)
            if self._state == "header" and len(self._frame) == _REQUEST_HEADER_BYTES:
                n = int.from_bytes(self._frame[_REQUEST_LENGTH_AT:_REQUEST_LENGTH_AT + 2], "little")
                if n > self.max_payload:
                    out.append(self._error(self._frame[0], Status.BAD_LENGTH))
                    self._state = "hunt"
                    continue
                self._state, self._need = "body", n + CRC_BYTES
            elif self._state == "body":
                self._need -= 1
                if self._need == 0:
                    self._state = "hunt"
                    out.append(self._frame_done(bytes(self._frame)))
        return out

    def queued_frame_bytes(self, data: bytes) -> int:
        """How many bytes of ``data`` (what follows a frame that is executing) the stream port
        takes before that command is answered: its run-ahead of one frame. Bytes outside a
        frame that are not SYNC (dropped), then one frame: up to its CRC's last byte, or up to
        its length's high byte if the length is above ``max_payload`` (the link's verdict is
        known there); all of ``data`` if it ends first. The frame then waits, and is answered
        after the running command, as :meth:`feed` predicts for the bytes in order."""
        data = bytes(data)
        start = data.find(bytes([SYNC]))
        if start < 0:
            return len(data)
        header_end = start + 1 + _REQUEST_HEADER_BYTES
        if len(data) < header_end:
            return len(data)
        n = int.from_bytes(data[start + 1 + _REQUEST_LENGTH_AT:start + 3 + _REQUEST_LENGTH_AT],
                           "little")
        if n > self.max_payload:
            return header_end
        return min(len(data), header_end + n + CRC_BYTES)

    def timeout(self) -> list[bytes]:
        """The inter-byte timeout elapsed: a frame in progress is answered TIMEOUT."""
        if self._state == "hunt":
            return []
        opcode = self._frame[0] if self._frame else 0
        self._state = "hunt"
        return [self._error(opcode, Status.TIMEOUT)]

    def rx_overrun(self, count: int = 1) -> None:
        """``count`` received bytes were lost before the link saw them (the UART receive
        FIFO was full): the controller counts them with the frame errors (STATUS)."""
        self.frame_errors = (self.frame_errors + int(count)) & 0xFFFF

    def _error(self, opcode: int, status: Status) -> bytes:
        self.frame_errors = (self.frame_errors + 1) & 0xFFFF
        return encode_response(opcode, status)

    def _frame_done(self, frame: bytes) -> bytes:
        if crc16(frame) != 0:
            return self._error(frame[0], Status.BAD_CRC)
        return self.execute(frame[0], frame[_REQUEST_HEADER_BYTES:-CRC_BYTES])

    @property
    def idle(self) -> bool:
        """No frame in progress (hunting for SYNC)."""
        return self._state == "hunt"

    # -- command level
    def execute(self, opcode: int, payload: bytes) -> bytes:
        """Response frame to one well-formed (CRC-checked) request."""
        op = _OPCODES.get(opcode)
        if op is None:
            return self._error(opcode, Status.BAD_OPCODE)
        if op in TRAINER_OPCODES and self.trainer is None:
            return self._error(opcode, Status.BAD_OPCODE)
        if not request_length_ok(op, len(payload), self.config):
            return self._error(op, Status.BAD_LENGTH)
        fields, nfix, handler = _COMMANDS[op]
        f = unpack_fields(fields, payload[:nfix])
        try:
            result = getattr(self, handler)(f, payload[nfix:])
        except _HeaderTimeout:
            return self._error(op, Status.ADC_TIMEOUT)
        if result is None:
            return self._error(op, Status.BAD_ARG)
        return encode_response(op, Status.OK, result)

    def _lines(self, side: int) -> int:
        return self.config.rows if side == Side.ROWS else self.config.cols

    @staticmethod
    def _window_ok(l0: int, n: int, lines: int) -> bool:
        return n >= 1 and l0 < lines and l0 + n <= lines

    def _read(self, drive_side, levels, sense_side, l0, l1) -> np.ndarray:
        if self.analog is None:
            return np.zeros(l1 - l0, dtype=np.int64)
        try:
            return np.asarray(self.analog.read(drive_side, levels, sense_side, l0, l1), dtype=np.int64)
        except ConverterTimeout as t:
            if t.position == 0 or l1 - l0 == 1:  # the header is held until position 0 is done
                raise _HeaderTimeout() from t
            adcs = self.config.adcs
            codes = np.asarray(t.codes, dtype=np.int64).copy()
            lost = np.arange(l0, l1) // adcs - l0 // adcs >= t.position
            codes[lost] = no_code(self.config)
            return codes

    def _do_status(self, f, rest):
        c = self.config
        return pack_fields(RESPONSE_FIELDS[Opcode.STATUS], dict(
            version=VERSION, rows=c.rows, cols=c.cols, dac_bits=c.dac_bits, adc_bits=c.adc_bits,
            count_bits=c.count_bits, prob_bits=c.prob_bits, bl=c.bl, adcs=c.adcs,
            adc_average=c.adc_average, lfsr_draws=self.controller.lfsr.draws & 0xFFFFFFFF,
            frame_errors=self.frame_errors,
        ))

    def _do_load_vector(self, f, rest):
        if f["side"] > 1:
            return None
        codes = np.frombuffer(rest, dtype="<i2")
        lines = self._lines(f["side"])
        if f["offset"] >= lines or f["offset"] + codes.size > lines:
            return None
        m = self.config.dac_max
        if codes.min() < -m or codes.max() > m:
            return None
        buf = self.x if f["side"] == Side.ROWS else self.d
        buf[f["offset"]:f["offset"] + codes.size] = codes
        return b""

    def _do_read_vector(self, f, rest):
        if f["side"] > 1 or not self._window_ok(f["offset"], f["count"], self._lines(f["side"])):
            return None
        buf = self.x if f["side"] == Side.ROWS else self.d
        return buf[f["offset"]:f["offset"] + f["count"]].astype("<i2").tobytes()

    def _windows_ok(self, f) -> bool:
        c = self.config
        return self._window_ok(f["row0"], f["nrows"], c.rows) and self._window_ok(f["col0"], f["ncols"], c.cols)

    def _do_forward(self, f, rest):
        if not self._windows_ok(f):
            return None
        levels = np.zeros(self.config.rows, dtype=np.int64)
        s = slice(f["row0"], f["row0"] + f["nrows"])
        levels[s] = self.x[s]
        if self.neuron_read:
            self.neuron_log.append(("read", f["col0"], f["ncols"]))
        codes = self._read(Side.ROWS, levels, Side.COLS, f["col0"], f["col0"] + f["ncols"])
        return codes.astype("<i4").tobytes()

    def _do_transpose(self, f, rest):
        if not self._windows_ok(f):
            return None
        levels = np.zeros(self.config.cols, dtype=np.int64)
        s = slice(f["col0"], f["col0"] + f["ncols"])
        levels[s] = self.d[s]
        codes = self._read(Side.COLS, levels, Side.ROWS, f["row0"], f["row0"] + f["nrows"])
        return codes.astype("<i4").tobytes()

    def _do_update(self, f, rest):
        c = self.config
        if f["mode"] > 1 or f["flags"] & ~UPDATE_FLAG_DITHER or not self._windows_ok(f):
            return None
        mode = "deterministic" if f["mode"] == Mode.DETERMINISTIC else "stochastic"
        gmax = c.count_max if mode == "deterministic" else c.prob_max
        if f["row_gain"] > gmax or f["col_gain"] > gmax:
            return None
        r0, c0 = f["row0"], f["col0"]
        plan = self.controller.plan_update(
            self.x[r0:r0 + f["nrows"]], self.d[c0:c0 + f["ncols"]], mode=mode,
            row_gain=f["row_gain"], col_gain=f["col_gain"],
            dither=bool(f["flags"] & UPDATE_FLAG_DITHER), row0=r0, col0=c0,
        )
        if self.analog is not None:
            counts = np.zeros((c.rows, c.cols), dtype=np.int64)
            counts[r0:r0 + f["nrows"], c0:c0 + f["ncols"]] = plan.counts
            self.analog.pulse(counts)
        self.last_plan = plan
        return pack_fields(RESPONSE_FIELDS[Opcode.UPDATE], dict(
            slots=plan.slots, lfsr_draws=self.controller.lfsr.draws & 0xFFFFFFFF))

    def _read_device(self, row, col, read_code) -> int:
        levels = np.zeros(self.config.rows, dtype=np.int64)
        levels[row] = read_code
        return int(self._read(Side.ROWS, levels, Side.COLS, col, col + 1)[0])

    def _device_ok(self, f) -> bool:
        c = self.config
        return f["row"] < c.rows and f["col"] < c.cols and abs(f["read_code"]) <= c.dac_max

    def _do_read_device(self, f, rest):
        if not self._device_ok(f):
            return None
        code = self._read_device(f["row"], f["col"], f["read_code"])
        return code.to_bytes(ADC_CODE_BYTES, "little", signed=True)

    def _do_program(self, f, rest):
        c = self.config
        if not self._device_ok(f):
            return None
        reads = pulses = 0
        converged = 0
        code = 0
        for _ in range(c.max_program_iters):
            code = self._read_device(f["row"], f["col"], f["read_code"])
            reads += 1
            n = self.controller.program_step(f["target"], code, tolerance=f["tolerance"], shift=f["shift"])
            if n == 0:
                converged = 1
                break
            pulses += abs(n)
            if self.analog is not None:
                counts = np.zeros((c.rows, c.cols), dtype=np.int64)
                counts[f["row"], f["col"]] = n
                self.analog.pulse(counts)
        return pack_fields(RESPONSE_FIELDS[Opcode.PROGRAM], dict(
            converged=converged, reads=reads, pulses=pulses, code=code))

    def _do_neuron_control(self, f, rest):
        if f["flags"] & ~NEURON_FLAGS:
            return None
        reset, read = bool(f["flags"] & NEURON_FLAG_RESET), bool(f["flags"] & NEURON_FLAG_READ)
        if reset:
            self.neuron_log.append("reset")
        self.neuron_read = read
        control = getattr(self.analog, "neuron_control", None)
        if control is not None:
            control(reset=reset, read=read)
        return b""

    # -- the trainer engine (insitu.golden.onchip)
    def _do_configure(self, f, rest):
        lo, hi = TRAINER_SHIFTS
        if (not 2 <= f["layers"] <= TRAINER_MAX_LAYERS or f["activation"] >= len(TRAINER_ACTIVATIONS)
                or f["algorithm"] >= len(TRAINER_ALGORITHMS) or not lo <= f["shift"] <= hi):
            return None
        self.network = {**f, "windows": [], "zm": [], "r": []}
        return b""

    def _do_configure_layer(self, f, rest):
        from .nn import LayerWindow

        net, c = self.network, self.config
        if net is None or f["layer"] != len(net["windows"]) or f["layer"] >= net["layers"]:
            return None
        wins = net["windows"]
        col0 = wins[-1].col0 + wins[-1].fan_out if wins else 0
        limit = 1 << TRAINER_CONST_BITS
        if (f["fan_in"] < 1 or f["fan_out"] < 1 or f["fan_in"] + 1 > c.rows
                or col0 + f["fan_out"] > c.cols or (wins and f["fan_in"] != wins[-1].fan_out)
                or not 1 <= f["zm"] < limit or f["r_even"] >= limit or f["r_odd"] >= limit):
            return None
        wins.append(LayerWindow(f["fan_in"], f["fan_out"], col0))
        net["zm"].append(f["zm"])
        net["r"].append((f["r_even"], f["r_odd"]))
        return b""

    def _sample(self, rest):
        """The configured network and the sample's codes (1, features), or None if either is bad."""
        net = self.network
        if net is None or len(net["windows"]) != net["layers"]:
            return None
        X = np.frombuffer(rest, dtype=np.uint8).astype(np.int64)
        if X.size != net["windows"][0].fan_in or np.any(X > self.config.dac_max):
            return None
        return net, X.reshape(1, -1)

    def _onchip(self, net):
        """The integer step, the array it drives and its constants for the configured network."""
        from dataclasses import replace

        from .onchip import OnChipTrainer, make_tables

        conf = replace(self.trainer, activation=TRAINER_ACTIVATIONS[net["activation"]],
                       algorithm=TRAINER_ALGORITHMS[net["algorithm"]], mult_bits=net["shift"])
        D = self.config.dac_max
        k = {"D": D, "C": self.config.count_max, "T": 1 << conf.table_bits, "zs": net["shift"],
             "zm": net["zm"], "r": net["r"], "width": D.bit_length(),
             **make_tables(conf.activation, conf.table_bits, conf.z_range, D)}
        wins = net["windows"]
        view = _TrainerArray(self, wins, [w.fan_in for w in wins] + [wins[-1].fan_out])
        return OnChipTrainer(conf), view, k

    def _do_train(self, f, rest):
        got = self._sample(rest)
        if got is None or f["label"] >= got[0]["windows"][-1].fan_out:
            return None
        net, X = got
        step, view, k = self._onchip(net)
        t = np.zeros((1, view.sizes[-1]), dtype=np.int64)
        t[0, f["label"]] = 1
        out = step.step_codes(view, X, t, k)
        return pack_fields(RESPONSE_FIELDS[Opcode.TRAIN], dict(
            prediction=int(out["prediction"][0]), loss=int(out["loss"][0]),
            capped=step.capped_updates))

    def _do_infer(self, f, rest):
        got = self._sample(rest)
        if got is None:
            return None
        step, view, k = self._onchip(got[0])
        return pack_fields(RESPONSE_FIELDS[Opcode.INFER],
                           dict(prediction=int(step.infer(view, got[1], k)[0])))


class _TrainerArray:
    """What the trainer engine drives, for :class:`~insitu.golden.onchip.OnChipTrainer`: the
    ``layers``/``sizes``/``backend`` of a one-instance network whose backend calls are the
    reference's own reads (a window driven, every other line at 0) and update plans (the
    controller's LFSRs), as FORWARD, TRANSPOSE and UPDATE do, without touching their buffers."""

    K = 1

    def __init__(self, ref: ProtocolReference, layers, sizes):
        self.ref, self.layers, self.sizes = ref, layers, sizes
        self.backend = self

    def forward(self, x_codes, row0, col0, ncols):
        x = np.asarray(x_codes, dtype=np.int64).reshape(-1)
        levels = np.zeros(self.ref.config.rows, dtype=np.int64)
        levels[row0:row0 + x.size] = x
        return self.ref._read(Side.ROWS, levels, Side.COLS, col0, col0 + ncols).reshape(1, -1)

    def backward(self, d_codes, col0, row0, nrows):
        d = np.asarray(d_codes, dtype=np.int64).reshape(-1)
        levels = np.zeros(self.ref.config.cols, dtype=np.int64)
        levels[col0:col0 + d.size] = d
        return self.ref._read(Side.COLS, levels, Side.ROWS, row0, row0 + nrows).reshape(1, -1)

    def update(self, x_codes, d_codes, *, mode, row_gain, col_gain, dither, row0, col0):
        ref, c = self.ref, self.ref.config
        plan = ref.controller.plan_update(np.asarray(x_codes).reshape(-1),
                                          np.asarray(d_codes).reshape(-1), mode=mode,
                                          row_gain=row_gain, col_gain=col_gain, dither=dither,
                                          row0=row0, col0=col0)
        ref.trainer_updates.append((plan, row0, col0))
        if ref.analog is not None:
            nr, nc = plan.counts.shape
            counts = np.zeros((c.rows, c.cols), dtype=np.int64)
            counts[row0:row0 + nr, col0:col0 + nc] = plan.counts
            ref.analog.pulse(counts)
