"""Host link: frames of ``insitu.golden.protocol`` on a byte stream.

:class:`HostLink` parses request frames from a byte stream (UART or a SoC
port), keeps the payload in a buffer until the CRC has been checked, hands
good frames to the controller, and answers everything it rejects itself
(bad CRC, length above the buffer, inter-byte timeout) with an error
response. :class:`FrameTransmitter` adds SYNC and the CRC to response bytes.
With ``run_ahead`` (the stream port) the payload buffer has two banks and the next frame
is taken while a command executes: queued behind it, answered after it, one frame deep
(``docs/protocol.md``, "Run-ahead on the stream port").
"""


from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .controller import CommandSignature
from .response import response_byte_layout
from .layouts import Status
from .narrow import at_most


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
    """Request frame parser, dispatcher and response framer.

    Two parts: the *receiver* parses a frame from ``rx`` into a payload bank and checks it
    (a good frame, or the link's own verdict: BAD_LENGTH, TIMEOUT, BAD_CRC); the
    *dispatcher* hands good frames to the controller and answers the verdicts, one at a
    time, in the order the frames came. One finished frame may wait between them.

    Parameters
    ----------
    config : ControllerConfig
    timeout_cycles : int
        Inter-byte timeout inside a frame, in clock ticks: a frame that stops
        for this long is answered ``TIMEOUT`` and dropped.
    run_ahead : bool
        Take the next frame while a command executes (the stream port): the payload buffer
        has two banks, the running command reads one while the next frame is written into
        the other; that frame then waits, checked, until the running command is answered.
        Without it (the UART top, whose receive FIFO buffers instead) the link takes no byte
        while a command executes or an error is answered.

    Attributes
    ----------
    rx : In(stream.Signature(8))
        Request bytes. Not ready while a finished frame waits (``run_ahead``) or a command
        executes or is answered (otherwise).
    tx : Out(stream.Signature(8))
        Response bytes.
    cmd : Out(CommandSignature)
        To the controller.
    overrun : In(1)
        A received byte was lost (the UART receiver's ``overrun`` strobe: its FIFO was full).
        Counted with the frame errors (``cmd.errors``, STATUS ``frame_errors``).
    """

    #: the receiver writes the other bank after each good frame (a planted fault clears it)
    swap_banks = True
    #: the dispatcher serves the waiting frame when it is done with one (a planted fault
    #: clears it: the waiting frame is dropped)
    serve_waiting = True
    #: ... in the tick it is done (a planted fault clears it: it goes idle first and serves
    #: the waiting frame one tick later)
    serve_at_done = True
    #: the dispatcher's states (its ``dispatch`` register): no frame, a command executing,
    #: a link error answered
    D_IDLE, D_COMMAND, D_ERROR = 0, 1, 2

    def __init__(self, config: ControllerConfig, timeout_cycles: int = 1000,
                 run_ahead: bool = False):
        if timeout_cycles < 2:
            raise ValueError(f"timeout_cycles must be >= 2, got {timeout_cycles}")
        self.config = config
        self.timeout_cycles = timeout_cycles
        self.run_ahead = bool(run_ahead)
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
        index = Signal(range(max_payload))  # LEN_HI rejects lengths above max_payload
        banks = 2 if self.run_ahead else 1
        # one bank per power of two of addresses: the bank is the address's top bit
        bank_depth = 1 << len(index)
        m.submodules.payload = payload = Memory(
            shape=8, depth=max_payload if banks == 1 else banks * bank_depth, init=[])
        wr, rd = payload.write_port(), payload.read_port()
        wiring.connect(m, framer.o, wiring.flipped(self.tx))
        w_bank = Signal()  # the bank the receiver writes
        x_bank = Signal()  # the bank of the command executing
        if banks == 1:
            m.d.comb += rd.addr.eq(self.cmd.addr)
        else:
            m.d.comb += rd.addr.eq(Cat(self.cmd.addr, x_bank))
        m.d.comb += self.cmd.data.eq(rd.data)

        opcode = Signal(8)
        length = Signal(16)
        crc = Signal(16)
        timer = Signal(range(self.timeout_cycles))
        # a finished frame waiting for the dispatcher: opcode, length, verdict, bank
        pending = Signal()
        # (one per line: each keeps its name, which the proofs' views look up)
        p_opcode = Signal(8)
        # a served frame's length is at most max_payload (LEN_HI rejects longer ones, whose
        # error answer does not use it): the waiting and running frames keep only those bits
        p_length = Signal(range(max_payload + 1))
        p_status = Signal(Status)
        p_bank = Signal()
        # the dispatcher: the frame it serves (a command, or an error answer)
        D_IDLE, D_COMMAND, D_ERROR = self.D_IDLE, self.D_COMMAND, self.D_ERROR
        dispatch = Signal(range(3))
        x_opcode, x_length, x_status = Signal(8), Signal(range(max_payload + 1)), Signal(Status)
        errors = Signal(16)  # error answers: the link's verdicts and the controller's
        link_error = Signal()  # the dispatcher serves a frame the link rejected
        m.d.sync += errors.eq(errors + link_error + self.cmd.error)
        # an error response is the bare header: opcode, status, zero length
        header_bytes = proto.fields_size(proto.RESPONSE_HEADER)
        err_byte = Signal(range(header_bytes))
        overruns = Signal(16)  # bytes lost before the link saw them
        with m.If(self.overrun):
            m.d.sync += overruns.eq(overruns + 1)
        m.d.comb += [self.cmd.opcode.eq(x_opcode), self.cmd.length.eq(x_length),
                     self.cmd.errors.eq(errors + overruns)]

        def serve(op, n, status, bank):
            """The dispatcher takes a frame: a command, or its error answer (counted now, when
            it is answered: a STATUS before it in the stream never sees it)."""
            m.d.sync += [x_opcode.eq(op), x_length.eq(n), x_status.eq(status), x_bank.eq(bank),
                         err_byte.eq(0)]
            ok = Const(status == Status.OK) if isinstance(status, Status) else status == Status.OK
            with m.If(ok):
                m.d.sync += dispatch.eq(D_COMMAND)
            with m.Else():
                m.d.sync += dispatch.eq(D_ERROR)
                m.d.comb += link_error.eq(1)

        def next_frame(done=True):
            """The dispatcher is done with its frame (or idle): the waiting one, if any."""
            if done and not self.serve_at_done:
                m.d.sync += dispatch.eq(D_IDLE)
                return
            with m.If(pending):
                m.d.sync += pending.eq(0)
                if self.serve_waiting:
                    serve(p_opcode, p_length, p_status, p_bank)
                else:
                    m.d.sync += dispatch.eq(D_IDLE)
            with m.Else():
                m.d.sync += dispatch.eq(D_IDLE)

        # ---- the dispatcher
        with m.Switch(dispatch):
            with m.Case(D_IDLE):
                with m.If(pending):
                    next_frame(done=False)
            with m.Case(D_COMMAND):
                m.d.comb += self.cmd.valid.eq(1)
                wiring.connect(m, wiring.flipped(self.cmd.response), framer.i)
                with m.If(self.cmd.done):
                    next_frame()
            with m.Case(D_ERROR):
                m.d.comb += [
                    framer.i.valid.eq(1),
                    framer.i.payload.data.eq(
                        Mux(err_byte == 0, x_opcode, Mux(err_byte == 1, x_status.as_value(), 0))),
                    framer.i.payload.last.eq(err_byte == header_bytes - 1),
                ]
                with m.If(framer.i.ready):
                    m.d.sync += err_byte.eq(err_byte + 1)
                    with m.If(err_byte == header_bytes - 1):
                        next_frame()

        # ---- the receiver
        idle = (dispatch == D_IDLE) & ~pending
        # bytes are taken while no finished frame waits (run_ahead), else only while idle
        may_take = ~pending if self.run_ahead else idle
        byte = self.rx.payload
        got = self.rx.valid & self.rx.ready
        crc_next = crc16_next(m, crc, byte)

        def finished(status):
            """The frame is complete (OK) or rejected: straight to an idle dispatcher, else it
            waits; a good frame's bank is then the running command's to read."""
            bank = w_bank
            if banks == 2 and self.swap_banks:
                with m.If(status == Status.OK):
                    m.d.sync += w_bank.eq(~w_bank)
            with m.If(idle):
                serve(opcode, length, status, bank)
            with m.Else():
                m.d.sync += [pending.eq(1), p_opcode.eq(opcode), p_length.eq(length),
                             p_status.eq(status), p_bank.eq(bank)]
            m.next = "HUNT"

        def in_frame():
            """Receive inside a frame: count idle ticks, give up after the timeout."""
            m.d.comb += self.rx.ready.eq(1)
            with m.If(got):
                m.d.sync += [timer.eq(0), crc.eq(crc_next)]
            with m.Elif(timer == self.timeout_cycles - 1):
                finished(Status.TIMEOUT)
            with m.Else():
                m.d.sync += timer.eq(timer + 1)

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += self.rx.ready.eq(may_take)
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
                    with m.If(~at_most(full, max_payload)):
                        finished(Status.BAD_LENGTH)
                    with m.Elif(full == 0):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                in_frame()
                m.d.comb += [wr.en.eq(got), wr.data.eq(byte),
                             wr.addr.eq(index if banks == 1 else Cat(index, w_bank))]
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
                        finished(Status.OK)
                    with m.Else():
                        finished(Status.BAD_CRC)
        return m
