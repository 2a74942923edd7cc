"""The command decoder: opcode and length checks, the fixed arguments, the argument checks.

:class:`CommandDecoder` takes a checked frame from the host link, rejects an
unknown opcode or a length wrong for it, reads the fixed request fields
(``insitu.golden.protocol.REQUEST_FIELDS``) out of the payload, and checks
every index, window, gain, mode, flag and code against the config, into one
``args_ok`` register, before anything is touched.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .layouts import LineSide, Opcode, lines
from .narrow import at_most, within

#: bytes of the longest fixed argument block
ARGS_BYTES = max(proto.fields_size(f) for f in proto.REQUEST_FIELDS.values())
#: LOAD_VECTOR's fixed fields before its codes
VECTOR_FIXED_BYTES = proto.fields_size(proto.REQUEST_FIELDS[proto.Opcode.LOAD_VECTOR])


def fields_layout(fields) -> data.StructLayout:
    """A protocol field table as a StructLayout (little endian: byte k = bits 8k..8k+7)."""
    return data.StructLayout({
        name: (signed if is_signed else unsigned)(8 * n) for name, n, is_signed in fields
    })


def args_view(args, op: Opcode) -> data.View:
    """The fixed arguments of ``op`` over the decoder's ``args`` register."""
    layout = fields_layout(proto.REQUEST_FIELDS[op.protocol])
    return data.View(layout, args[:layout.size])


class CommandDecoderSignature(wiring.Signature):
    """Ports of the command decoder (its view).

    Members
    -------
    start : In(1)
        Strobe: decode the frame ``frame_opcode`` / ``frame_length`` now waiting.
    frame_opcode : In(8); frame_length : In(16)
    addr : Out(range(max_payload)); addr_en : Out(1); data : In(8)
        Synchronous read of the frame's payload (the engine drives ``addr`` when ``addr_en``).
    bad_opcode, bad_length : Out(1)
        Strobes: the frame is rejected (BAD_OPCODE, BAD_LENGTH).
    done : Out(1)
        Strobes when the arguments are read and checked: ``args_ok`` holds the verdict.
    opcode : Out(Opcode); length : Out(16); args : Out(8 * ARGS_BYTES); args_ok : Out(1)
    vec_count : Out(range(L + 1))
        A LOAD_VECTOR's code count.
    """

    def __init__(self, config: ControllerConfig):
        super().__init__({
            "start": In(1),
            "frame_opcode": In(8),
            "frame_length": In(16),
            "addr": Out(range(proto.max_payload(config))),
            "addr_en": Out(1),
            "data": In(8),
            "bad_opcode": Out(1),
            "bad_length": Out(1),
            "done": Out(1),
            "opcode": Out(Opcode, init=Opcode.STATUS),  # any byte; unknown ones are rejected
            "length": Out(16),
            "args": Out(8 * ARGS_BYTES),
            "args_ok": Out(1),
            "vec_count": Out(range(lines(config) + 1)),
        })


class CommandDecoder(wiring.Component):
    """Ports: :class:`CommandDecoderSignature`. ``trainer``: the controller has a trainer
    engine (else its opcodes are unknown); the trainer checks its own arguments."""

    def __init__(self, config: ControllerConfig, trainer: bool = False):
        self.config = config
        self.trainer = bool(trainer)
        super().__init__(CommandDecoderSignature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        Op = Opcode
        opcode, length = self.opcode, self.length
        index = Signal(range(ARGS_BYTES + 1))
        nb = bits_for(max(R, C))  # a line count fits in nb bits

        def narrow(v):
            """The low nb bits of unsigned ``v`` and whether the rest are 0 (area: nb-bit arithmetic)."""
            return v[:nb], (v[nb:] == 0) if len(v) > nb else Const(1, 1)

        def window_ok(first, count, n):
            f, f_fits = narrow(first)
            c, c_fits = narrow(count)
            return f_fits & c_fits & (c != 0) & (f < n) & (f + c <= n)

        def side_lines(side):
            return Mux(side == LineSide.ROWS, R, C)

        def device_ok(view):
            return at_most(view.row, R - 1) & at_most(view.col, C - 1) & within(view.read_code, cfg.dac_max)

        a_vec, a_rv = args_view(self.args, Op.LOAD_VECTOR), args_view(self.args, Op.READ_VECTOR)
        a_win, a_upd = args_view(self.args, Op.FORWARD), args_view(self.args, Op.UPDATE)
        a_prog, a_dev = args_view(self.args, Op.PROGRAM), args_view(self.args, Op.READ_DEVICE)
        codes = (length - VECTOR_FIXED_BYTES) >> 1  # LOAD_VECTOR: i16 codes after its fields

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [opcode.eq(self.frame_opcode), length.eq(self.frame_length)]
                    m.next = "DECODE"
            with m.State("DECODE"):
                known = Signal()
                length_ok = Signal()
                with m.Switch(opcode):
                    for op in Op:
                        if op.protocol in proto.TRAINER_OPCODES and not self.trainer:
                            continue  # no trainer engine built: an unknown opcode
                        with m.Case(op):
                            m.d.comb += known.eq(1)
                            fixed = proto.fields_size(proto.REQUEST_FIELDS[op.protocol])
                            if op == Op.LOAD_VECTOR:
                                m.d.comb += length_ok.eq(
                                    ~at_most(length, fixed + proto.VECTOR_CODE_BYTES - 1)
                                    & (length[0] == 1))
                            elif op in (Op.TRAIN, Op.INFER):
                                m.d.comb += length_ok.eq(
                                    ~at_most(length, fixed + proto.SAMPLE_CODE_BYTES - 1))
                            else:
                                m.d.comb += length_ok.eq(length == fixed)
                m.d.sync += index.eq(0)
                with m.If(~known):
                    m.d.comb += self.bad_opcode.eq(1)
                    m.next = "IDLE"
                with m.Elif(~length_ok):
                    m.d.comb += self.bad_length.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "ARGS"
            with m.State("ARGS"):
                # shift in ARGS_BYTES payload bytes from the top: byte 0 ends at the bottom
                m.d.comb += [self.addr.eq(index), self.addr_en.eq(1)]
                m.d.sync += index.eq(index + 1)
                with m.If(index != 0):
                    m.d.sync += self.args.eq(Cat(self.args[8:], self.data))
                with m.If(index == ARGS_BYTES):
                    m.next = "VALIDATE"
            with m.State("VALIDATE"):
                # argument checks into a register: the next state only branches on it (timing)
                ok = Signal()
                with m.Switch(opcode):
                    with m.Case(Op.LOAD_VECTOR):
                        m.d.comb += ok.eq((a_vec.side <= 1)
                                          & window_ok(a_vec.offset, codes, side_lines(a_vec.side[0])))
                    with m.Case(Op.READ_VECTOR):
                        m.d.comb += ok.eq((a_rv.side <= 1) & window_ok(a_rv.offset, a_rv.count,
                                                                      side_lines(a_rv.side[0])))
                    with m.Case(Op.FORWARD, Op.TRANSPOSE):
                        m.d.comb += ok.eq(window_ok(a_win.row0, a_win.nrows, R)
                                          & window_ok(a_win.col0, a_win.ncols, C))
                    with m.Case(Op.UPDATE):
                        gmax = Mux(a_upd.mode == proto.Mode.DETERMINISTIC, cfg.count_max, cfg.prob_max)
                        # the gains in the bits the larger limit needs, behind a high-bits-zero test
                        gb = bits_for(max(cfg.count_max, cfg.prob_max))
                        row_gain, row_fits = a_upd.row_gain[:gb], a_upd.row_gain[gb:] == 0
                        col_gain, col_fits = a_upd.col_gain[:gb], a_upd.col_gain[gb:] == 0
                        m.d.comb += ok.eq(
                            (a_upd.mode <= 1)
                            & ((a_upd.flags & ~proto.UPDATE_FLAG_DITHER & 0xFF) == 0)
                            & row_fits & col_fits & (row_gain <= gmax) & (col_gain <= gmax)
                            & window_ok(a_upd.row0, a_upd.nrows, R)
                            & window_ok(a_upd.col0, a_upd.ncols, C)
                        )
                    with m.Case(Op.READ_DEVICE):
                        m.d.comb += ok.eq(device_ok(a_dev))
                    with m.Case(Op.PROGRAM):
                        m.d.comb += ok.eq(device_ok(a_prog))
                    with m.Case(Op.NEURON_CONTROL):
                        a_neu = args_view(self.args, Op.NEURON_CONTROL)
                        m.d.comb += ok.eq((a_neu.flags & ~proto.NEURON_FLAGS & 0xFF) == 0)
                    with m.Default():
                        m.d.comb += ok.eq(1)
                m.d.sync += [self.args_ok.eq(ok), self.vec_count.eq(codes)]
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m
