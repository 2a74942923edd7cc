"""Host link: frames of ``insitu.golden.protocol`` on a byte stream.

:class:`HostLink` parses request frames from a byte stream (UART or a SoC
port), keeps the payload in a buffer until the CRC has been checked, hands
good frames to the controller, and answers everything it rejects itself
(bad CRC, length above the buffer, inter-byte timeout) with an error
response. :class:`FrameTransmitter` adds SYNC and the CRC to response bytes.
"""


from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .controller import CommandSignature
from .response import response_byte_layout
from .layouts import Status


def crc16_next(m, crc, byte):
    """Signal holding ``protocol.crc16_update(crc, byte)``: eight unrolled MSB-first steps.

    Each step lands in its own signal; as one expression the tree would double per step.
    """
    value = Signal(16)
    m.d.comb += value.eq(crc ^ (byte << 8))
    for _ in range(8):
        nxt = Signal(16)
        m.d.comb += nxt.eq(((value << 1) ^ Mux(value[15], proto.CRC_POLY, 0))[:16])
        value = nxt
    return value


class FrameTransmitter(wiring.Component):
    """Response bytes (with ``last``) in, framed bytes out: SYNC, the bytes, CRC-16 MSB first."""

    i: In(stream.Signature(response_byte_layout()))
    o: Out(stream.Signature(8))
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        crc = Signal(16)
        crc_next = crc16_next(m, crc, self.i.payload.data)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.o.valid.eq(self.i.valid), self.o.payload.eq(proto.SYNC)]
                m.d.sync += crc.eq(proto.CRC_INIT)
                with m.If(self.o.valid & self.o.ready):
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [
                    self.busy.eq(1),
                    self.o.valid.eq(self.i.valid),
                    self.o.payload.eq(self.i.payload.data),
                    self.i.ready.eq(self.o.ready),
                ]
                with m.If(self.i.valid & self.i.ready):
                    m.d.sync += crc.eq(crc_next)
                    with m.If(self.i.payload.last):
                        m.next = "CRC_HI"
            with m.State("CRC_HI"):
                m.d.comb += [self.busy.eq(1), self.o.valid.eq(1), self.o.payload.eq(crc[8:])]
                with m.If(self.o.ready):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [self.busy.eq(1), self.o.valid.eq(1), self.o.payload.eq(crc[:8])]
                with m.If(self.o.ready):
                    m.next = "IDLE"
        return m


class HostLink(wiring.Component):
    """Request frame parser and response framer.

    Parameters
    ----------
    config : ControllerConfig
    timeout_cycles : int
        Inter-byte timeout inside a frame, in clock ticks: a frame that stops
        for this long is answered ``TIMEOUT`` and dropped.

    Attributes
    ----------
    rx : In(stream.Signature(8))
        Request bytes. Not ready while a command executes or an answer is sent.
    tx : Out(stream.Signature(8))
        Response bytes.
    cmd : Out(CommandSignature)
        To the controller.
    overrun : In(1)
        A received byte was lost (the UART receiver's ``overrun`` strobe: its FIFO was full).
        Counted with the frame errors (``cmd.errors``, STATUS ``frame_errors``).
    """

    def __init__(self, config: ControllerConfig, timeout_cycles: int = 1000):
        if timeout_cycles < 2:
            raise ValueError(f"timeout_cycles must be >= 2, got {timeout_cycles}")
        self.config = config
        self.timeout_cycles = timeout_cycles
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "cmd": Out(CommandSignature(config)),
            "overrun": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        max_payload = proto.max_payload(self.config)
        m.submodules.framer = framer = FrameTransmitter()
        m.submodules.payload = payload = Memory(shape=8, depth=max_payload, init=[])
        wr, rd = payload.write_port(), payload.read_port()
        wiring.connect(m, framer.o, wiring.flipped(self.tx))
        m.d.comb += [rd.addr.eq(self.cmd.addr), self.cmd.data.eq(rd.data)]

        opcode = Signal(8)
        length = Signal(16)
        index = Signal(range(max_payload))  # LEN_HI rejects lengths above max_payload
        crc = Signal(16)
        timer = Signal(range(self.timeout_cycles))
        status = Signal(Status, init=Status.OK)
        errors = Signal(16)
        # an error response is the bare header: opcode, status, zero length
        header_bytes = proto.fields_size(proto.RESPONSE_HEADER)
        err_byte = Signal(range(header_bytes))
        overruns = Signal(16)  # bytes lost before the link saw them
        with m.If(self.overrun):
            m.d.sync += overruns.eq(overruns + 1)
        m.d.comb += [self.cmd.opcode.eq(opcode), self.cmd.length.eq(length),
                     self.cmd.errors.eq(errors + overruns)]

        byte = self.rx.payload
        got = self.rx.valid & self.rx.ready
        crc_next = crc16_next(m, crc, byte)

        def fail(code):
            m.d.sync += [status.eq(code), err_byte.eq(0), errors.eq(errors + 1)]
            m.next = "ERROR"

        def in_frame(next_state_on_byte=None):
            """Receive inside a frame: count idle ticks, give up after the timeout."""
            m.d.comb += self.rx.ready.eq(1)
            with m.If(got):
                m.d.sync += [timer.eq(0), crc.eq(crc_next)]
            with m.Elif(timer == self.timeout_cycles - 1):
                fail(Status.TIMEOUT)
            with m.Else():
                m.d.sync += timer.eq(timer + 1)

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(got & (byte == proto.SYNC)):
                    m.d.sync += [crc.eq(proto.CRC_INIT), opcode.eq(0), timer.eq(0)]
                    m.next = "OPCODE"
            with m.State("OPCODE"):
                in_frame()
                with m.If(got):
                    m.d.sync += opcode.eq(byte)
                    m.next = "LEN_LO"
            with m.State("LEN_LO"):
                in_frame()
                with m.If(got):
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LEN_HI"
            with m.State("LEN_HI"):
                in_frame()
                with m.If(got):
                    m.d.sync += [length[8:].eq(byte), index.eq(0)]
                    full = (byte << 8) | length[:8]
                    with m.If(full > max_payload):
                        fail(Status.BAD_LENGTH)
                    with m.Elif(full == 0):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                in_frame()
                m.d.comb += [wr.en.eq(got), wr.addr.eq(index), wr.data.eq(byte)]
                with m.If(got):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == length - 1):
                        m.next = "CRC_HI"
            with m.State("CRC_HI"):
                in_frame()
                with m.If(got):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                in_frame()
                with m.If(got):
                    with m.If(crc_next == 0):
                        m.next = "COMMAND"
                    with m.Else():
                        fail(Status.BAD_CRC)
            with m.State("COMMAND"):
                m.d.comb += self.cmd.valid.eq(1)
                wiring.connect(m, wiring.flipped(self.cmd.response), framer.i)
                with m.If(self.cmd.done):
                    m.next = "HUNT"
            with m.State("ERROR"):
                m.d.comb += [
                    framer.i.valid.eq(1),
                    framer.i.payload.data.eq(
                        Mux(err_byte == 0, opcode, Mux(err_byte == 1, status.as_value(), 0))),
                    framer.i.payload.last.eq(err_byte == header_bytes - 1),
                ]
                with m.If(framer.i.ready):
                    m.d.sync += err_byte.eq(err_byte + 1)
                    with m.If(err_byte == header_bytes - 1):
                        m.next = "HUNT"
        return m
