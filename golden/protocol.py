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


def fields_size(fields) -> int:
    return sum(n for _, n, _ in fields)


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
    out = bytearray()
    for name, n, signed in fields:
        out += int(values[name]).to_bytes(n, "little", signed=signed)
    return bytes(out)


def unpack_fields(fields, data: bytes) -> dict:
    out, pos = {}, 0
    for name, n, signed in fields:
        out[name] = int.from_bytes(data[pos:pos + n], "little", signed=signed)
        pos += n
    return out


def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A request frame (opcode may be any byte, to build malformed frames in tests)."""
    body = pack_fields(REQUEST_HEADER, {"opcode": opcode & 0xFF, "length": len(payload)})
    body += bytes(payload)
    return bytes([SYNC]) + body + crc16(body).to_bytes(CRC_BYTES, "big")


def encode_response(opcode: int, status: int, payload: bytes = b"") -> bytes:
    """A response frame (the controller's answer)."""
    body = pack_fields(RESPONSE_HEADER, {"opcode": opcode & 0xFF, "status": status & 0xFF,
                                         "length": len(payload)})
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


class ResponseDecoder:
    """Incremental parser of the response byte stream (host side).

    ``feed(data)`` returns the complete responses found; bytes that do not
    form a frame with a good CRC are skipped and counted in ``dropped``.
    """

    def __init__(self):
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[Response]:
        self._buf += bytes(data)
        out = []
        while True:
            while self._buf and self._buf[0] != SYNC:
                self._buf.pop(0)
                self.dropped += 1
            if len(self._buf) < RESPONSE_PAYLOAD_AT:
                return out
            n = int.from_bytes(self._buf[RESPONSE_LENGTH_AT:RESPONSE_LENGTH_AT + 2], "little")
            total = RESPONSE_OVERHEAD + n
            if len(self._buf) < total:
                return out
            frame = bytes(self._buf[:total])
            if crc16(frame[1:]) != 0:
                self._buf.pop(0)
                self.dropped += 1
                continue
            del self._buf[:total]
            head = unpack_fields(RESPONSE_HEADER, frame[1:RESPONSE_PAYLOAD_AT])
            out.append(Response(head["opcode"], Status(head["status"]),
                                frame[RESPONSE_PAYLOAD_AT:RESPONSE_PAYLOAD_AT + n]))

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
    """

    def __init__(self, config: ControllerConfig, analog=None):
        from .controller import ControllerReference

        self.config = config
        self.controller = ControllerReference(config)
        self.analog = analog
        self.x = np.zeros(config.rows, dtype=np.int64)
        self.d = np.zeros(config.cols, dtype=np.int64)
        self.frame_errors = 0
        self.max_payload = max_payload(config)
        self._state = "hunt"
        self._frame = bytearray()
        self._need = 0

    # -- byte-level parser, the RTL's states
    def feed(self, data: bytes) -> list[bytes]:
        """Feed request bytes; return the response frames they cause, in order."""
        out = []
        for b in bytes(data):
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

    def timeout(self) -> list[bytes]:
        """The inter-byte timeout elapsed: a frame in progress is answered TIMEOUT."""
        if self._state == "hunt":
            return []
        opcode = self._frame[0] if self._frame else 0
        self._state = "hunt"
        return [self._error(opcode, Status.TIMEOUT)]

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
        try:
            op = Opcode(opcode)
        except ValueError:
            return self._error(opcode, Status.BAD_OPCODE)
        if not request_length_ok(op, len(payload), self.config):
            return self._error(op, Status.BAD_LENGTH)
        nfix = fields_size(REQUEST_FIELDS[op])
        f = unpack_fields(REQUEST_FIELDS[op], payload[:nfix])
        try:
            result = getattr(self, "_do_" + op.name.lower())(f, payload[nfix:])
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
        codes = np.frombuffer(rest, dtype="<i2").astype(np.int64)
        lines = self._lines(f["side"])
        if f["offset"] >= lines or f["offset"] + codes.size > lines:
            return None
        m = self.config.dac_max
        if np.any(codes < -m) or np.any(codes > m):
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
