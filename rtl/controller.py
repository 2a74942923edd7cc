"""The controller: executes host commands on the x/d buffers and the array.

A command arrives as a checked frame (opcode, length, payload readable by
address) from :class:`insitu.rtl.hostlink.HostLink`; the controller checks
opcode, length and arguments against ``insitu.golden.protocol`` *before*
touching anything, executes, and answers with response bytes (opcode, status,
length, payload) that the host link frames. One command at a time.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.utils import bits_for
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .adc import AdcReadout
from .analog import AnalogPortSignature
from .drivers import LineDrivers
from .layouts import LineSide, Opcode, Status, dac_shape
from .sequencer import UpdateSequencer

ARGS_BYTES = max(proto.fields_size(f) for f in proto.REQUEST_FIELDS.values())
HEADER_BYTES = 4  # opcode, status, length (u16)
RESPONSE_BYTES = HEADER_BYTES + max(proto.fields_size(f) for f in proto.RESPONSE_FIELDS.values())
# The output buffer holds a header, an ADC code or a vector code; the fixed response bodies
# (STATUS, UPDATE, PROGRAM) go out one byte at a time behind their header, each byte picked
# from the live registers (area: a byte mux instead of a wide flip-flop buffer loaded from
# every body).
OBUF_BYTES = max(HEADER_BYTES, proto.ADC_CODE_BYTES, proto.VECTOR_CODE_BYTES)
_BODY_OPS = (proto.Opcode.STATUS, proto.Opcode.UPDATE, proto.Opcode.PROGRAM)
_MAX_BODY = max(proto.fields_size(proto.RESPONSE_FIELDS[op]) for op in _BODY_OPS)


def response_byte_layout() -> data.StructLayout:
    return data.StructLayout({"data": 8, "last": 1})


def fields_layout(fields) -> data.StructLayout:
    """A protocol field table as a StructLayout (fields little endian, so byte k = bits 8k..8k+7)."""
    return data.StructLayout({
        name: (signed if is_signed else unsigned)(8 * n) for name, n, is_signed in fields
    })


class CommandSignature(wiring.Signature):
    """Host link -> controller: one checked frame at a time, and the response bytes back.

    Members (host link's view): ``valid``, ``opcode``, ``length``: a frame is
    waiting; ``addr`` / ``data``: synchronous read of its payload (one tick);
    ``done``: the controller has finished it (response fully handed over);
    ``response``: the response bytes, ``last`` on the final one; ``errors``:
    frames the link itself rejected (for STATUS).
    """

    def __init__(self, config: ControllerConfig):
        super().__init__({
            "valid": Out(1),
            "opcode": Out(8),
            "length": Out(16),
            "addr": In(range(proto.max_payload(config))),
            "data": Out(8),
            "done": In(1),
            "response": In(stream.Signature(response_byte_layout())),
            "errors": Out(16),
        })


class Controller(wiring.Component):
    """Command executor with the x/d buffers, line drivers, ADC readouts and update sequencer.

    Attributes
    ----------
    cmd : In(CommandSignature)
    analog : Out(AnalogPortSignature)
    """

    def __init__(self, config: ControllerConfig, levels: str = "registers"):
        self.config = config
        self.levels = levels
        super().__init__({
            "cmd": In(CommandSignature(config)),
            "analog": Out(AnalogPortSignature(config, levels)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        Op, St = Opcode, Status

        m.submodules.drivers = drivers = LineDrivers(cfg, self.levels)
        m.submodules.sequencer = seq = UpdateSequencer(cfg)
        m.submodules.row_readout = row_rd = AdcReadout(cfg, R)
        m.submodules.col_readout = col_rd = AdcReadout(cfg, C)
        m.submodules.x_buffer = x_mem = Memory(shape=dac_shape(cfg), depth=R, init=[])
        m.submodules.d_buffer = d_mem = Memory(shape=dac_shape(cfg), depth=C, init=[])
        x_wr, x_rd = x_mem.write_port(), x_mem.read_port()
        d_wr, d_rd = d_mem.write_port(), d_mem.read_port()

        an = self.analog
        if self.levels == "registers":
            m.d.comb += [an.row_dac.eq(drivers.row_dac), an.col_dac.eq(drivers.col_dac)]
        else:
            m.d.comb += [drivers.dac_addr.eq(an.dac_addr), an.dac_code.eq(drivers.dac_code)]
        m.d.comb += [
            an.dac_strobe.eq(drivers.dac_strobe),
            an.row_en.eq(drivers.row_en), an.col_en.eq(drivers.col_en),
            an.pulse_pol.eq(drivers.pulse_pol), an.slot.eq(drivers.slot),
        ]
        for rd, side in ((row_rd, "row"), (col_rd, "col")):
            m.d.comb += [
                getattr(an, f"{side}_adc_start").eq(rd.adc_start),
                getattr(an, f"{side}_adc_mux").eq(rd.adc_mux),
                rd.adc_busy.eq(getattr(an, f"{side}_adc_busy")),
                rd.adc_data.eq(getattr(an, f"{side}_adc_data")),
            ]
        wiring.connect(m, seq.slots, drivers.slots)
        m.d.comb += [
            x_rd.addr.eq(seq.x_addr), seq.x_data.eq(x_rd.data),
            d_rd.addr.eq(seq.d_addr), seq.d_data.eq(d_rd.data),
        ]

        # ------------------------------------------------------------ frame and arguments
        opcode = Signal(Opcode, init=Opcode.STATUS)  # holds any byte; unknown ones are answered BAD_OPCODE
        length = Signal(16)
        args_raw = Signal(8 * ARGS_BYTES)

        def args(op):
            layout = fields_layout(proto.REQUEST_FIELDS[op.protocol])
            return data.View(layout, args_raw[:layout.size])

        a_vec = args(Op.LOAD_VECTOR)
        a_rv = args(Op.READ_VECTOR)
        a_win = args(Op.FORWARD)  # FORWARD and TRANSPOSE share the layout
        a_upd = args(Op.UPDATE)
        a_prog = args(Op.PROGRAM)
        a_dev = args(Op.READ_DEVICE)

        nb = bits_for(max(R, C))  # a line count fits in nb bits

        def narrow(v):
            """The low nb bits of unsigned ``v`` and whether the rest are 0 (area: nb-bit arithmetic)."""
            return v[:nb], (v[nb:] == 0) if len(v) > nb else Const(1, 1)

        def window_ok(first, count, lines):
            f, f_fits = narrow(first)
            c, c_fits = narrow(count)
            return f_fits & c_fits & (c != 0) & (f < lines) & (f + c <= lines)

        def side_lines(side):
            return Mux(side == LineSide.ROWS, R, C)

        errors = Signal(16)
        args_ok = Signal()

        # ------------------------------------------------------------ response bytes
        obuf = Signal(8 * OBUF_BYTES)
        ocount = Signal(range(OBUF_BYTES + 1))
        olast = Signal()
        rsp = self.cmd.response
        m.d.comb += [
            rsp.valid.eq(ocount != 0),
            rsp.payload.data.eq(obuf[:8]),
            rsp.payload.last.eq(olast & (ocount == 1)),
        ]
        with m.If(rsp.valid & rsp.ready):
            m.d.sync += [obuf.eq(obuf >> 8), ocount.eq(ocount - 1)]

        def respond(status, body_length=None):
            """Load a header into the output buffer; only when it is empty."""
            n = 0 if body_length is None else body_length
            header = Cat(opcode, Const(status.value, 8), Const(n, 16) if isinstance(n, int) else n[:16])
            m.d.sync += [
                obuf.eq(header),
                ocount.eq(HEADER_BYTES),
                # a streamed body (body_length) follows; otherwise this buffer ends the response
                olast.eq(body_length is None),
            ]

        def respond_body(op):
            """Header of a fixed-body response; BODY streams the body (``body_bytes``) behind it."""
            respond(St.OK, body_length=proto.fields_size(proto.RESPONSE_FIELDS[op]))
            m.d.sync += body_idx.eq(0)
            m.next = "BODY"

        def respond_words(value, nbytes, last):
            m.d.sync += [obuf.eq(value), ocount.eq(nbytes), olast.eq(last)]

        body_idx = Signal(range(_MAX_BODY))

        # ------------------------------------------------------------ read path registers
        drive_side = Signal(LineSide)
        drive_first = Signal(range(max(R, C) + 1))
        drive_end = Signal(range(max(R, C) + 1))  # one past the last line to load from a buffer
        single = Signal()  # read device: drive one row with a constant code
        single_code = Signal(dac_shape(cfg))
        single_line = Signal(range(max(R, C)))
        sense_first = Signal(range(max(R, C)))
        sense_last = Signal(range(max(R, C) + 1))
        capture = Signal()  # write-verify: keep the code instead of answering it
        captured = Signal(signed(cfg.adc_bits))
        load_idx = Signal(range(max(max(R, C) + 2, ARGS_BYTES + 1)))
        load_pending = Signal()
        load_line = Signal(range(max(R, C) + 1))

        sense = Signal(LineSide)
        codes = stream.Signature(row_rd.codes.payload.shape()).create()
        with m.If(sense == LineSide.ROWS):
            m.d.comb += [
                codes.valid.eq(row_rd.codes.valid), codes.payload.eq(row_rd.codes.payload),
                row_rd.codes.ready.eq(codes.ready),
            ]
        with m.Else():
            m.d.comb += [
                codes.valid.eq(col_rd.codes.valid), codes.payload.eq(col_rd.codes.payload),
                col_rd.codes.ready.eq(codes.ready),
            ]
        readout_done = Mux(sense == LineSide.ROWS, row_rd.done, col_rd.done)

        # ------------------------------------------------------------ vector load / read
        vec_count = Signal(range(max(R, C) + 1))
        vec_bad = Signal()
        vec_pass_write = Signal()
        byte_idx = Signal(range(proto.max_payload(cfg) + 1))
        byte_lo = Signal(8)
        vec_pos = Signal(range(max(R, C) + 1))
        code16 = Signal(signed(16))
        m.d.comb += code16.eq(Cat(byte_lo, self.cmd.data))

        # ------------------------------------------------------------ write-verify registers
        iters = Signal(range(cfg.max_program_iters + 1))
        # the response fields are u16 / u32; the counts fit in fewer bits (area)
        reads = Signal(range(cfg.max_program_iters + 1))
        pulses = Signal(range(cfg.max_program_iters * cfg.count_max + 1))
        converged = Signal()
        # one write-verify step, a register after every operation (timing):
        # bit-serial, LSB first, one bit per tick through one full adder (area): err = target -
        # code into a shift register (34 ticks); then mag = |err| while comparing mag <= tolerance
        # (34 ticks); then mag >>= shift one bit per tick (stops early at 0); n = clip(mag, 1,
        # count_max)
        wv_bits = 34  # |target - code| < 2**33
        mag = Signal(wv_bits)  # the error, then its magnitude (one register for both)
        err_neg = Signal()
        shift_left = Signal(8)
        wv_bit = Signal(range(wv_bits))
        wv_carry = Signal()
        wv_le = Signal()  # the bits of mag so far <= those of the tolerance
        n_pulses = Signal(cfg.count_bits)

        # ------------------------------------------------------------ the command FSM
        def device_ok(view):
            return (
                (view.row < R) & (view.col < C)
                & (view.read_code <= cfg.dac_max) & (view.read_code >= -cfg.dac_max)
            )

        def start_read(drv_side, first, end, sns_side, s_first, s_last, line=None, code=0, cap=0):
            """Go read: drive a buffer window (or one line at ``code``), convert a window."""
            m.d.sync += [
                drive_side.eq(drv_side), drive_first.eq(first), drive_end.eq(end),
                single.eq(line is not None), single_code.eq(code),
                single_line.eq(0 if line is None else line),
                sense.eq(sns_side), sense_first.eq(s_first), sense_last.eq(s_last),
                capture.eq(cap),
            ]
            m.next = "READ_CLEAR"

        def error(status):
            respond(status)
            m.d.sync += errors.eq(errors + 1)
            m.next = "FINISH"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.cmd.valid):
                    m.d.sync += [opcode.eq(self.cmd.opcode), length.eq(self.cmd.length)]
                    m.next = "DECODE"

            with m.State("DECODE"):
                known = Signal()
                length_ok = Signal()
                with m.Switch(opcode):
                    for op in Op:
                        with m.Case(op):
                            m.d.comb += known.eq(1)
                            fixed = proto.fields_size(proto.REQUEST_FIELDS[op.protocol])
                            if op == Op.LOAD_VECTOR:
                                m.d.comb += length_ok.eq((length >= fixed + 2) & (length[0] == 1))
                            else:
                                m.d.comb += length_ok.eq(length == fixed)
                m.d.sync += load_idx.eq(0)
                with m.If(~known):
                    error(St.BAD_OPCODE)
                with m.Elif(~length_ok):
                    error(St.BAD_LENGTH)
                with m.Else():
                    m.next = "ARGS"

            with m.State("ARGS"):
                # shift in ARGS_BYTES payload bytes from the top: byte 0 ends at the bottom
                m.d.comb += self.cmd.addr.eq(load_idx)
                m.d.sync += load_idx.eq(load_idx + 1)
                with m.If(load_idx != 0):
                    m.d.sync += args_raw.eq(Cat(args_raw[8:], self.cmd.data))
                with m.If(load_idx == ARGS_BYTES):
                    m.next = "VALIDATE"

            with m.State("VALIDATE"):
                # argument checks into a register: CHECK only branches on it (timing)
                ok = Signal()
                with m.Switch(opcode):
                    with m.Case(Op.LOAD_VECTOR):
                        count = (length - 3) >> 1
                        lines = side_lines(a_vec.side[0])
                        m.d.comb += ok.eq((a_vec.side <= 1) & window_ok(a_vec.offset, count, lines))
                    with m.Case(Op.READ_VECTOR):
                        lines = side_lines(a_rv.side[0])
                        m.d.comb += ok.eq((a_rv.side <= 1) & window_ok(a_rv.offset, a_rv.count, lines))
                    with m.Case(Op.FORWARD, Op.TRANSPOSE):
                        m.d.comb += ok.eq(window_ok(a_win.row0, a_win.nrows, R)
                                          & window_ok(a_win.col0, a_win.ncols, C))
                    with m.Case(Op.UPDATE):
                        gmax = Mux(a_upd.mode == proto.Mode.DETERMINISTIC, cfg.count_max, cfg.prob_max)
                        m.d.comb += ok.eq(
                            (a_upd.mode <= 1)
                            & ((a_upd.flags & ~proto.UPDATE_FLAG_DITHER & 0xFF) == 0)
                            & (a_upd.row_gain <= gmax) & (a_upd.col_gain <= gmax)
                            & window_ok(a_upd.row0, a_upd.nrows, R)
                            & window_ok(a_upd.col0, a_upd.ncols, C)
                        )
                    with m.Case(Op.READ_DEVICE):
                        m.d.comb += ok.eq(device_ok(a_dev))
                    with m.Case(Op.PROGRAM):
                        m.d.comb += ok.eq(device_ok(a_prog))
                    with m.Default():
                        m.d.comb += ok.eq(1)
                m.d.sync += [args_ok.eq(ok), vec_count.eq((length - 3) >> 1)]
                m.next = "CHECK"

            with m.State("CHECK"):
                with m.Switch(opcode):
                    with m.Case(Op.STATUS):
                        respond_body(proto.Opcode.STATUS)
                    with m.Case(Op.LOAD_VECTOR):
                        m.d.sync += [
                            vec_bad.eq(0), vec_pass_write.eq(0), byte_idx.eq(3), vec_pos.eq(0),
                        ]
                        with m.If(~args_ok):
                            error(St.BAD_ARG)
                        with m.Else():
                            m.next = "VECTOR_WALK"
                    with m.Case(Op.READ_VECTOR):
                        m.d.sync += vec_pos.eq(0)
                        with m.If(~args_ok):
                            error(St.BAD_ARG)
                        with m.Else():
                            respond(St.OK, body_length=a_rv.count * proto.VECTOR_CODE_BYTES)
                            m.next = "READ_VECTOR_ADDR"
                    with m.Case(Op.FORWARD, Op.TRANSPOSE):
                        with m.If(~args_ok):
                            error(St.BAD_ARG)
                        with m.Elif(opcode == Op.FORWARD):
                            respond(St.OK, body_length=a_win.ncols * proto.ADC_CODE_BYTES)
                            start_read(LineSide.ROWS, a_win.row0, a_win.row0 + a_win.nrows,
                                       LineSide.COLS, a_win.col0, a_win.col0 + a_win.ncols)
                        with m.Else():
                            respond(St.OK, body_length=a_win.nrows * proto.ADC_CODE_BYTES)
                            start_read(LineSide.COLS, a_win.col0, a_win.col0 + a_win.ncols,
                                       LineSide.ROWS, a_win.row0, a_win.row0 + a_win.nrows)
                    with m.Case(Op.UPDATE):
                        with m.If(~args_ok):
                            error(St.BAD_ARG)
                        with m.Else():
                            m.next = "UPDATE_START"
                    with m.Case(Op.READ_DEVICE):
                        with m.If(~args_ok):
                            error(St.BAD_ARG)
                        with m.Else():
                            respond(St.OK, body_length=proto.ADC_CODE_BYTES)
                            start_read(LineSide.ROWS, 0, 0, LineSide.COLS, a_dev.col, a_dev.col + 1,
                                       line=a_dev.row, code=a_dev.read_code)
                    with m.Case(Op.PROGRAM):
                        with m.If(~args_ok):
                            error(St.BAD_ARG)
                        with m.Else():
                            m.d.sync += [iters.eq(0), reads.eq(0), pulses.eq(0), converged.eq(0)]
                            m.next = "PROGRAM_READ"

            # ---------------- fixed bodies (STATUS, UPDATE, PROGRAM), a byte at a time
            status_layout = fields_layout(proto.RESPONSE_FIELDS[proto.Opcode.STATUS])
            status_body = Signal(status_layout)
            constants = {
                "version": proto.VERSION, "rows": R, "cols": C,
                "dac_bits": cfg.dac_bits, "adc_bits": cfg.adc_bits,
                "count_bits": cfg.count_bits, "prob_bits": cfg.prob_bits, "bl": cfg.bl,
                "adcs": cfg.adcs, "adc_average": cfg.adc_average,
            }
            m.d.comb += [getattr(status_body, k).eq(v) for k, v in constants.items()]
            m.d.comb += [
                status_body.lfsr_draws.eq(seq.lfsr_draws),
                status_body.frame_errors.eq(errors + self.cmd.errors),
            ]
            upd_layout = fields_layout(proto.RESPONSE_FIELDS[proto.Opcode.UPDATE])
            upd_body = Signal(upd_layout)
            m.d.comb += [upd_body.slots.eq(seq.slot_count), upd_body.lfsr_draws.eq(seq.lfsr_draws)]
            prog_layout = fields_layout(proto.RESPONSE_FIELDS[proto.Opcode.PROGRAM])
            prog_body = Signal(prog_layout)
            m.d.comb += [
                prog_body.converged.eq(converged), prog_body.reads.eq(reads),
                prog_body.pulses.eq(pulses), prog_body.code.eq(captured),
            ]
            body_byte = Signal(8)
            body_end = Signal()  # body_idx is the body's last byte

            def body_bytes(body):
                value = body.as_value()
                return Array(value[8 * i:8 * i + 8] for i in range(len(value) // 8))[body_idx]

            def body_last(body):
                return body_idx == len(body.as_value()) // 8 - 1

            m.d.comb += [
                body_byte.eq(Mux(opcode == Op.STATUS, body_bytes(status_body),
                                 Mux(opcode == Op.UPDATE, body_bytes(upd_body), body_bytes(prog_body)))),
                body_end.eq(Mux(opcode == Op.STATUS, body_last(status_body),
                                Mux(opcode == Op.UPDATE, body_last(upd_body), body_last(prog_body)))),
            ]
            with m.State("BODY"):
                with m.If(ocount == 0):
                    respond_words(body_byte, 1, body_end)
                    m.d.sync += body_idx.eq(body_idx + 1)
                    with m.If(body_end):
                        m.next = "FINISH"

            # ---------------- LOAD_VECTOR: pass 1 checks every code, pass 2 writes them
            with m.State("VECTOR_WALK"):
                m.d.comb += self.cmd.addr.eq(byte_idx)
                m.d.sync += byte_idx.eq(byte_idx + 1)
                m.next = "VECTOR_LO"
            with m.State("VECTOR_LO"):
                m.d.comb += self.cmd.addr.eq(byte_idx)
                m.d.sync += [byte_lo.eq(self.cmd.data), byte_idx.eq(byte_idx + 1)]
                m.next = "VECTOR_HI"
            with m.State("VECTOR_HI"):
                m.d.comb += self.cmd.addr.eq(byte_idx)
                line = a_vec.offset + vec_pos
                with m.If(vec_pass_write):
                    with m.If(a_vec.side == LineSide.ROWS):
                        m.d.comb += [x_wr.en.eq(1), x_wr.addr.eq(line), x_wr.data.eq(code16)]
                    with m.Else():
                        m.d.comb += [d_wr.en.eq(1), d_wr.addr.eq(line), d_wr.data.eq(code16)]
                with m.Elif((code16 > cfg.dac_max) | (code16 < -cfg.dac_max)):
                    m.d.sync += vec_bad.eq(1)
                m.d.sync += [vec_pos.eq(vec_pos + 1), byte_idx.eq(byte_idx + 1)]
                with m.If(vec_pos == vec_count - 1):
                    m.d.sync += [byte_idx.eq(3), vec_pos.eq(0), vec_pass_write.eq(1)]
                    with m.If(vec_pass_write):
                        respond(St.OK)
                        m.next = "FINISH"
                    with m.Elif(vec_bad | (code16 > cfg.dac_max) | (code16 < -cfg.dac_max)):
                        error(St.BAD_ARG)
                    with m.Else():
                        m.next = "VECTOR_WALK"
                with m.Else():
                    m.next = "VECTOR_LO"

            # ---------------- READ_VECTOR: one buffer word per two response bytes
            rv_line = a_rv.offset + vec_pos
            with m.State("READ_VECTOR_ADDR"):
                m.d.comb += [x_rd.addr.eq(rv_line), d_rd.addr.eq(rv_line)]
                with m.If(ocount == 0):
                    m.next = "READ_VECTOR_DATA"
            with m.State("READ_VECTOR_DATA"):
                m.d.comb += [x_rd.addr.eq(rv_line), d_rd.addr.eq(rv_line)]
                word = Mux(a_rv.side == LineSide.ROWS, x_rd.data, d_rd.data)  # signed: sign-extends
                respond_words(word, proto.VECTOR_CODE_BYTES, vec_pos == a_rv.count - 1)
                m.d.sync += vec_pos.eq(vec_pos + 1)
                with m.If(vec_pos == a_rv.count - 1):
                    m.next = "FINISH"
                with m.Else():
                    m.next = "READ_VECTOR_ADDR"

            # ---------------- reads: levels, strobe, convert, release
            with m.State("READ_CLEAR"):
                m.d.comb += drivers.level_clear.eq(1)
                m.d.sync += [load_idx.eq(drive_first), load_pending.eq(0)]
                with m.If(single):
                    m.next = "READ_SINGLE"
                with m.Else():
                    m.next = "READ_LOAD"
            with m.State("READ_SINGLE"):
                m.d.comb += [
                    drivers.level_we.eq(1), drivers.level_side.eq(drive_side),
                    drivers.level_index.eq(single_line), drivers.level_code.eq(single_code),
                ]
                m.next = "READ_STROBE"
            with m.State("READ_LOAD"):
                # buffer address this tick, level write (of the previous address) next tick
                m.d.sync += [load_idx.eq(load_idx + 1), load_line.eq(load_idx),
                             load_pending.eq(load_idx < drive_end)]
                m.d.comb += [
                    drivers.level_we.eq(load_pending), drivers.level_side.eq(drive_side),
                    drivers.level_index.eq(load_line),
                    drivers.level_code.eq(Mux(drive_side == LineSide.ROWS, x_rd.data, d_rd.data)),
                ]
                with m.If(drive_side == LineSide.ROWS):
                    m.d.comb += x_rd.addr.eq(load_idx)
                with m.Else():
                    m.d.comb += d_rd.addr.eq(load_idx)
                with m.If(load_idx == drive_end):
                    m.next = "READ_STROBE"
            with m.State("READ_STROBE"):
                m.d.comb += drivers.level_strobe.eq(1)
                m.next = "READ_START"
            with m.State("READ_START"):
                for rd, side in ((row_rd, LineSide.ROWS), (col_rd, LineSide.COLS)):
                    m.d.comb += [rd.first.eq(sense_first), rd.last.eq(sense_last)]
                    with m.If(sense == side):
                        m.d.comb += rd.start.eq(1)
                m.next = "READ_CONVERT"
            with m.State("READ_CONVERT"):
                with m.If(capture):
                    m.d.comb += codes.ready.eq(1)
                    with m.If(codes.valid):
                        m.d.sync += captured.eq(codes.payload.code)
                with m.Else():
                    m.d.comb += codes.ready.eq(ocount == 0)
                    with m.If(codes.valid & (ocount == 0)):
                        respond_words(codes.payload.code.as_signed(), proto.ADC_CODE_BYTES,
                                      codes.payload.channel == sense_last - 1)
                with m.If(readout_done):
                    m.next = "READ_RELEASE"
            with m.State("READ_RELEASE"):
                m.d.comb += [drivers.level_clear.eq(1), drivers.level_strobe.eq(1)]
                with m.If(opcode == Op.PROGRAM):
                    m.d.sync += reads.eq(reads + 1)
                    m.next = "PROGRAM_EVAL"
                with m.Else():
                    m.next = "FINISH"

            # ---------------- UPDATE
            with m.State("UPDATE_START"):
                m.d.comb += [
                    seq.start.eq(1),
                    seq.args.mode.eq(a_upd.mode[0]),
                    seq.args.dither.eq(a_upd.flags[0]),
                    seq.args.row_gain.eq(a_upd.row_gain),
                    seq.args.col_gain.eq(a_upd.col_gain),
                    seq.args.row0.eq(a_upd.row0), seq.args.nrows.eq(a_upd.nrows),
                    seq.args.col0.eq(a_upd.col0), seq.args.ncols.eq(a_upd.ncols),
                ]
                m.d.sync += an.update_active.eq(1)
                m.next = "PULSES"
            with m.State("PULSES"):
                with m.If(seq.done):
                    m.next = "PULSES_DRAIN"
            with m.State("PULSES_DRAIN"):
                with m.If(~drivers.busy):
                    m.d.comb += an.update_done.eq(1)
                    m.d.sync += an.update_active.eq(0)
                    with m.If(opcode == Op.PROGRAM):
                        m.d.sync += iters.eq(iters + 1)
                        with m.If(iters == cfg.max_program_iters - 1):
                            m.next = "PROGRAM_DONE"
                        with m.Else():
                            m.next = "PROGRAM_READ"
                    with m.Else():
                        respond_body(proto.Opcode.UPDATE)

            # ---------------- PROGRAM (write-verify)
            with m.State("PROGRAM_READ"):
                start_read(LineSide.ROWS, 0, 0, LineSide.COLS, a_prog.col, a_prog.col + 1,
                           line=a_prog.row, code=a_prog.read_code, cap=1)
            # the operands sign/zero-extended to wv_bits, bit wv_bit of each
            target_ext = Signal(signed(wv_bits))
            code_ext = Signal(signed(wv_bits))
            tol_ext = Signal(wv_bits)
            m.d.comb += [target_ext.eq(a_prog.target), code_ext.eq(captured),
                         tol_ext.eq(a_prog.tolerance)]
            t_bit = target_ext.bit_select(wv_bit, 1)
            c_bit = ~code_ext.bit_select(wv_bit, 1)
            tol_bit = tol_ext.bit_select(wv_bit, 1)
            with m.State("PROGRAM_EVAL"):
                m.d.sync += [wv_bit.eq(0), wv_carry.eq(1)]
                m.next = "PROGRAM_SUB"
            with m.State("PROGRAM_SUB"):  # err = target + ~code + 1
                diff = t_bit ^ c_bit ^ wv_carry
                m.d.sync += [
                    mag.eq(Cat(mag[1:], diff)), wv_bit.eq(wv_bit + 1),
                    wv_carry.eq((t_bit & c_bit) | (wv_carry & (t_bit ^ c_bit))),
                ]
                with m.If(wv_bit == wv_bits - 1):
                    m.d.sync += [err_neg.eq(diff), wv_bit.eq(0), wv_carry.eq(1), wv_le.eq(1)]
                    m.next = "PROGRAM_ABS"
            with m.State("PROGRAM_ABS"):  # mag = err_neg ? ~err + 1 : err; mag <= tolerance
                low = mag[0]
                a_bit = Mux(err_neg, ~low ^ wv_carry, low)
                m.d.sync += [
                    mag.eq(Cat(mag[1:], a_bit)), wv_bit.eq(wv_bit + 1),
                    wv_carry.eq(~low & wv_carry),
                    wv_le.eq(Mux(a_bit ^ tol_bit, tol_bit, wv_le)),
                ]
                with m.If(wv_bit == wv_bits - 1):
                    m.d.sync += shift_left.eq(a_prog.shift)
                    m.next = "PROGRAM_TOLERANCE"
            with m.State("PROGRAM_TOLERANCE"):
                with m.If(wv_le):
                    m.d.sync += converged.eq(1)
                    m.next = "PROGRAM_DONE"
                with m.Else():
                    m.next = "PROGRAM_SHIFT"
            with m.State("PROGRAM_SHIFT"):
                with m.If((shift_left == 0) | (mag == 0)):
                    m.d.sync += n_pulses.eq(Mux(mag == 0, 1, Mux(mag > cfg.count_max, cfg.count_max, mag)))
                    m.next = "PROGRAM_PULSE"
                with m.Else():
                    m.d.sync += [mag.eq(mag >> 1), shift_left.eq(shift_left - 1)]
            with m.State("PROGRAM_PULSE"):
                m.d.comb += [
                    seq.pulse_start.eq(1),
                    seq.pulse_args.row.eq(a_prog.row),
                    seq.pulse_args.col.eq(a_prog.col),
                    seq.pulse_args.count.eq(n_pulses),
                    seq.pulse_args.negative.eq(err_neg),
                ]
                m.d.sync += [pulses.eq(pulses + n_pulses), an.update_active.eq(1)]
                m.next = "PULSES"
            with m.State("PROGRAM_DONE"):
                respond_body(proto.Opcode.PROGRAM)

            with m.State("FINISH"):
                with m.If(ocount == 0):
                    m.d.comb += [self.cmd.done.eq(1), an.cmd_done.eq(1)]
                    m.next = "IDLE"
        return m
