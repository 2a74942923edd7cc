"""The controller: executes host commands on the x/d buffers and the array.

A command arrives as a checked frame (opcode, length, payload readable by
address) from :class:`insitu.rtl.hostlink.HostLink`. The command processor is
made of small engines, each its own component with a documented signature:

* :class:`~insitu.rtl.decoder.CommandDecoder`: opcode, length and argument
  checks against ``insitu.golden.protocol``, *before* anything is touched;
* :class:`~insitu.rtl.read_engine.ReadEngine`: levels, strobe, settle,
  convert, mux, release;
* the update engine: :func:`~insitu.rtl.sequencer.update_sequencer` (parallel or
  serial) and :class:`~insitu.rtl.drivers.LineDrivers`;
* :class:`~insitu.rtl.write_verify.WriteVerifyStep`: one write-verify decision;
* :class:`~insitu.rtl.neuron_control.NeuronControl`: the neurons' reset line and the
  neuron-read selection (NEURON_CONTROL);
* :class:`~insitu.rtl.response.ResponseWriter`: the response bytes
  (opcode, status, length, payload) that the host link frames;
* optionally :class:`~insitu.rtl.trainer.TrainerEngine`: the trainer commands (a whole
  training step from a sample), driving the read and update engines from its own buffers.

:class:`Controller` holds the x/d buffers and sequences the engines, one
command at a time; its states are grouped by command (:class:`_Commands`).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .adc import AdcReadout
from .analog import AnalogPortSignature
from .decoder import VECTOR_FIXED_BYTES, CommandDecoder, args_view, fields_layout
from .drivers import LineDrivers
from .layouts import LineSide, Opcode, Status, dac_shape
from .narrow import within
from .neuron_control import NeuronControl
from .read_engine import ReadEngine
from .response import HEADER_BYTES, ResponseWriter, response_byte_layout
from .sequencer import update_sequencer
from .trainer import TrainerEngine
from .write_verify import WriteVerifyStep

_BODY_OPS = (proto.Opcode.STATUS, proto.Opcode.UPDATE, proto.Opcode.PROGRAM)
_MAX_BODY = max(proto.fields_size(proto.RESPONSE_FIELDS[op]) for op in _BODY_OPS)
Op, St = Opcode, Status


class CommandSignature(wiring.Signature):
    """Host link -> controller: one checked frame at a time, and the response bytes back.

    Members (host link's view): ``valid``, ``opcode``, ``length``: a frame is
    waiting; ``addr`` / ``data``: synchronous read of its payload (one tick);
    ``done``: the controller has finished it (response fully handed over);
    ``response``: the response bytes, ``last`` on the final one; ``error``: strobe, the
    controller answers an error status; ``errors``: every error answered so far, the link's
    and the controller's (STATUS ``frame_errors``; one counter, in the link: area).
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
            "error": In(1),
            "errors": Out(16),
        })


class Controller(wiring.Component):
    """Command executor with the x/d buffers, line drivers, ADC readouts and update sequencer.

    Attributes
    ----------
    cmd : In(CommandSignature)
    analog : Out(AnalogPortSignature)
    trainer_busy : Out(1)
        With a trainer: it runs a command (CONFIGURE, CONFIGURE_LAYER, TRAIN, INFER).
    """

    def __init__(self, config: ControllerConfig, levels: str = "registers", trainer=None):
        self.config = config
        self.levels = levels
        self.trainer = trainer  # an OnChipConfig (its tables), or None: no trainer engine
        members = {
            "cmd": In(CommandSignature(config)),
            "analog": Out(AnalogPortSignature(config, levels)),
        }
        if trainer is not None:
            members["trainer_busy"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        c = _Commands(self, m)
        with m.FSM():
            c.decode_states()
            c.check_state()
            c.body_state()
            c.vector_states()
            c.read_state()
            c.update_states()
            c.program_states()
            if self.trainer is not None:
                c.trainer_state()
            with m.State("FINISH"):
                with m.If(c.out_empty):
                    m.d.comb += [self.cmd.done.eq(1), self.analog.cmd_done.eq(1)]
                    m.next = "IDLE"
        return m


class _Commands:
    """The engines of one :class:`Controller`, wired, and its FSM states by command."""

    def __init__(self, ctrl: Controller, m: Module):
        self.ctrl, self.m, self.cfg = ctrl, m, ctrl.config
        self.cmd, self.an = ctrl.cmd, ctrl.analog
        self._parts()
        self._analog_port()
        self._decoder()
        self._response()
        self._read_engine()
        self._registers()
        if ctrl.trainer is not None:
            self._trainer()

    # ------------------------------------------------------------------ engines and wiring
    def _parts(self):
        m, cfg = self.m, self.cfg
        m.submodules.drivers = self.drivers = LineDrivers(cfg, self.ctrl.levels)
        m.submodules.sequencer = self.seq = seq = update_sequencer(cfg)
        m.submodules.row_readout = self.row_rd = AdcReadout(cfg, cfg.rows)
        m.submodules.col_readout = self.col_rd = AdcReadout(cfg, cfg.cols)
        m.submodules.x_buffer = x_mem = Memory(shape=dac_shape(cfg), depth=cfg.rows, init=[])
        m.submodules.d_buffer = d_mem = Memory(shape=dac_shape(cfg), depth=cfg.cols, init=[])
        self.x_wr, self.x_rd = x_mem.write_port(), x_mem.read_port()
        self.d_wr, self.d_rd = d_mem.write_port(), d_mem.read_port()
        m.submodules.write_verify = self.wv = WriteVerifyStep(cfg)
        wiring.connect(m, seq.slots, self.drivers.slots)
        m.d.comb += [
            self.x_rd.addr.eq(seq.x_addr), seq.x_data.eq(self.x_rd.data),
            self.d_rd.addr.eq(seq.d_addr), seq.d_data.eq(self.d_rd.data),
        ]

    def _analog_port(self):
        """The port is composed of the engines' own members: connected, not assigned by name."""
        m, an = self.m, self.an
        wiring.connect(m, self.drivers.dac, wiring.flipped(an.dac))
        wiring.connect(m, self.drivers.pulse, wiring.flipped(an.pulse))
        wiring.connect(m, self.row_rd.adc, wiring.flipped(an.adc.row))
        wiring.connect(m, self.col_rd.adc, wiring.flipped(an.adc.col))
        m.submodules.neuron_control = self.neu = NeuronControl()
        wiring.connect(m, self.neu.port, wiring.flipped(an.neuron))

    def _decoder(self):
        m, cmd = self.m, self.cmd
        m.submodules.decoder = self.dec = dec = CommandDecoder(self.cfg,
                                                               trainer=self.ctrl.trainer is not None)
        m.d.comb += [dec.frame_opcode.eq(cmd.opcode), dec.frame_length.eq(cmd.length),
                     dec.data.eq(cmd.data)]
        with m.If(dec.addr_en):
            m.d.comb += cmd.addr.eq(dec.addr)
        self.opcode, self.args_ok = dec.opcode, dec.args_ok
        self.a_vec = args_view(dec.args, Op.LOAD_VECTOR)
        self.a_rv = args_view(dec.args, Op.READ_VECTOR)
        self.a_win = args_view(dec.args, Op.FORWARD)  # FORWARD and TRANSPOSE share the layout
        self.a_upd = args_view(dec.args, Op.UPDATE)
        self.a_prog = args_view(dec.args, Op.PROGRAM)
        self.a_dev = args_view(dec.args, Op.READ_DEVICE)

    def _response(self):
        m = self.m
        m.submodules.response = self.writer = ResponseWriter()
        wiring.connect(m, self.writer.o, wiring.flipped(self.cmd.response))
        self.out_empty = self.writer.empty

    def _read_engine(self):
        m = self.m
        m.submodules.read = self.rde = rde = ReadEngine(self.cfg)
        drivers = self.drivers
        with m.If(rde.x_en):
            m.d.comb += self.x_rd.addr.eq(rde.x_addr)
        with m.If(rde.d_en):
            m.d.comb += self.d_rd.addr.eq(rde.d_addr)
        m.d.comb += [
            rde.x_data.eq(self.x_rd.data), rde.d_data.eq(self.d_rd.data),
            drivers.level_we.eq(rde.level_we), drivers.level_clear.eq(rde.level_clear),
            drivers.level_side.eq(rde.level_side), drivers.level_index.eq(rde.level_index),
            drivers.level_code.eq(rde.level_code), drivers.level_strobe.eq(rde.level_strobe),
            rde.out_empty.eq(self.out_empty), self.writer.hold.eq(rde.hold),
            rde.row_timeout.eq(self.row_rd.timeout), rde.col_timeout.eq(self.col_rd.timeout),
        ]
        for rd, side in ((self.row_rd, "row"), (self.col_rd, "col")):
            m.d.comb += [rd.first.eq(rde.first), rd.last.eq(rde.last),
                         rd.start.eq(getattr(rde, f"{side}_start")),
                         getattr(rde, f"{side}_done").eq(rd.done)]
            wiring.connect(m, rd.codes, getattr(rde, f"{side}_codes"))

    def _registers(self):
        m, cfg = self.m, self.cfg
        lines = max(cfg.rows, cfg.cols)
        self.body_idx = Signal(range(_MAX_BODY))
        # vector load / read
        self.vec_bad = Signal()
        self.vec_pass_write = Signal()
        self.byte_idx = Signal(range(proto.max_payload(cfg) + 1))
        self.byte_lo = Signal(8)
        self.vec_pos = Signal(range(lines + 1))
        self.code16 = Signal(signed(16))
        m.d.comb += self.code16.eq(Cat(self.byte_lo, self.cmd.data))
        # write-verify; the response fields are u16 / u32, the counts fit in fewer bits (area)
        self.iters = Signal(range(cfg.max_program_iters + 1))
        self.reads = Signal(range(cfg.max_program_iters + 1))
        self.pulses = Signal(range(cfg.max_program_iters * cfg.count_max + 1))
        self.converged = Signal()
        wv, a_prog = self.wv, self.a_prog
        m.d.comb += [wv.target.eq(a_prog.target), wv.code.eq(self.rde.captured),
                     wv.tolerance.eq(a_prog.tolerance), wv.shift.eq(a_prog.shift)]

    def _trainer(self):
        """The trainer engine: the decoder's arguments and the payload in, the engines' results
        in; while it runs (``trainer_active``) the engines read its line buffers."""
        m, dec, rde, seq = self.m, self.dec, self.rde, self.seq
        m.submodules.trainer = self.tr = tr = TrainerEngine(self.cfg, self.ctrl.trainer)
        self.trainer_active = Signal()
        m.d.comb += [
            tr.opcode.eq(dec.opcode), tr.args.eq(dec.args), tr.length.eq(dec.length),
            tr.data.eq(self.cmd.data),
            tr.rd_word_valid.eq(rde.word_valid), tr.rd_word.eq(rde.word), tr.rd_done.eq(rde.done),
            tr.x_addr.eq(self.x_rd.addr), tr.d_addr.eq(self.d_rd.addr),
            tr.up_done.eq(seq.done), tr.drivers_busy.eq(self.drivers.busy),
        ]
        with m.If(self.trainer_active):
            m.d.comb += [rde.x_data.eq(tr.x_data), rde.d_data.eq(tr.d_data),
                         seq.x_data.eq(tr.x_data), seq.d_data.eq(tr.d_data)]

    # ------------------------------------------------------------------ actions
    def respond_words(self, value, nbytes, last):
        """Load the response writer (only when it is empty)."""
        w = self.writer
        self.m.d.comb += [w.load.eq(1), w.word.eq(value), w.nbytes.eq(nbytes), w.last.eq(last)]

    def respond(self, status, body_length=None):
        """A response header; ``body_length``: a body follows (streamed by its engine)."""
        n = 0 if body_length is None else body_length
        length = Const(n, 16) if isinstance(n, int) else n[:16]
        self.respond_words(Cat(self.opcode, Const(status.value, 8), length), HEADER_BYTES,
                           body_length is None)

    def respond_body(self, op):
        """Header of a fixed-body response; BODY streams the body behind it."""
        self.respond(St.OK, body_length=proto.fields_size(proto.RESPONSE_FIELDS[op]))
        self.m.d.sync += self.body_idx.eq(0)
        self.m.next = "BODY"

    def error(self, status):
        self.respond(status)
        self.m.d.comb += self.cmd.error.eq(1)
        self.m.next = "FINISH"

    def start_read(self, drv_side, first, end, sns_side, s_first, s_last, line=None, code=0,
                   cap=0):
        """Go read: drive a buffer window (or one line at ``code``), convert a window."""
        rde = self.rde
        self.m.d.comb += [
            rde.start.eq(1),
            rde.drive_side.eq(drv_side), rde.drive_first.eq(first), rde.drive_end.eq(end),
            rde.single.eq(line is not None), rde.single_code.eq(code),
            rde.single_line.eq(0 if line is None else line),
            rde.sense_side.eq(sns_side), rde.sense_first.eq(s_first),
            rde.sense_last.eq(s_last), rde.capture.eq(cap),
        ]
        self.m.next = "READ"

    # ------------------------------------------------------------------ states
    def decode_states(self):
        m, dec = self.m, self.dec
        with m.State("IDLE"):
            with m.If(self.cmd.valid):
                m.d.comb += dec.start.eq(1)
                m.next = "DECODE"
        with m.State("DECODE"):  # the decoder checks opcode, length and arguments
            with m.If(dec.bad_opcode):
                self.error(St.BAD_OPCODE)
            with m.Elif(dec.bad_length):
                self.error(St.BAD_LENGTH)
            with m.Elif(dec.done):
                m.next = "CHECK"

    def check_state(self):
        """Dispatch a decoded command to its engine, or answer BAD_ARG."""
        m, ok = self.m, self.args_ok
        a_rv, a_win, a_dev = self.a_rv, self.a_win, self.a_dev
        with m.State("CHECK"):
            with m.Switch(self.opcode):
                with m.Case(Op.STATUS):
                    self.respond_body(proto.Opcode.STATUS)
                with m.Case(Op.LOAD_VECTOR):
                    m.d.sync += [self.vec_bad.eq(0), self.vec_pass_write.eq(0),
                                 self.byte_idx.eq(VECTOR_FIXED_BYTES), self.vec_pos.eq(0)]
                    with m.If(~ok):
                        self.error(St.BAD_ARG)
                    with m.Else():
                        m.next = "VECTOR_WALK"
                with m.Case(Op.READ_VECTOR):
                    m.d.sync += self.vec_pos.eq(0)
                    with m.If(~ok):
                        self.error(St.BAD_ARG)
                    with m.Else():
                        self.respond(St.OK, body_length=a_rv.count * proto.VECTOR_CODE_BYTES)
                        m.next = "READ_VECTOR_ADDR"
                with m.Case(Op.FORWARD, Op.TRANSPOSE):
                    with m.If(~ok):
                        self.error(St.BAD_ARG)
                    with m.Elif(self.opcode == Op.FORWARD):
                        self.respond(St.OK, body_length=a_win.ncols * proto.ADC_CODE_BYTES)
                        self.start_read(LineSide.ROWS, a_win.row0, a_win.row0 + a_win.nrows,
                                        LineSide.COLS, a_win.col0, a_win.col0 + a_win.ncols)
                    with m.Else():
                        self.respond(St.OK, body_length=a_win.nrows * proto.ADC_CODE_BYTES)
                        self.start_read(LineSide.COLS, a_win.col0, a_win.col0 + a_win.ncols,
                                        LineSide.ROWS, a_win.row0, a_win.row0 + a_win.nrows)
                with m.Case(Op.UPDATE):
                    with m.If(~ok):
                        self.error(St.BAD_ARG)
                    with m.Else():
                        m.next = "UPDATE_START"
                with m.Case(Op.READ_DEVICE):
                    with m.If(~ok):
                        self.error(St.BAD_ARG)
                    with m.Else():
                        self.respond(St.OK, body_length=proto.ADC_CODE_BYTES)
                        self.start_read(LineSide.ROWS, 0, 0, LineSide.COLS, a_dev.col,
                                        a_dev.col + 1, line=a_dev.row, code=a_dev.read_code)
                with m.Case(Op.PROGRAM):
                    with m.If(~ok):
                        self.error(St.BAD_ARG)
                    with m.Else():
                        m.d.sync += [self.iters.eq(0), self.reads.eq(0), self.pulses.eq(0),
                                     self.converged.eq(0)]
                        m.next = "PROGRAM_READ"
                with m.Case(Op.NEURON_CONTROL):
                    with m.If(~ok):
                        self.error(St.BAD_ARG)
                    with m.Else():
                        m.d.comb += [self.neu.start.eq(1), self.neu.flags.eq(
                            args_view(self.dec.args, Op.NEURON_CONTROL).flags)]
                        self.respond(St.OK)
                        m.next = "FINISH"
                if self.ctrl.trainer is not None:  # the trainer checks its own arguments
                    with m.Case(Op.CONFIGURE, Op.CONFIGURE_LAYER, Op.TRAIN, Op.INFER):
                        m.d.comb += self.tr.start.eq(1)
                        m.next = "TRAINER"

    def body_state(self):
        """The fixed bodies (STATUS, UPDATE, PROGRAM), a byte at a time from live registers."""
        m, cfg, seq = self.m, self.cfg, self.seq
        status_body = Signal(fields_layout(proto.RESPONSE_FIELDS[proto.Opcode.STATUS]))
        constants = {
            "version": proto.VERSION, "rows": cfg.rows, "cols": cfg.cols,
            "dac_bits": cfg.dac_bits, "adc_bits": cfg.adc_bits,
            "count_bits": cfg.count_bits, "prob_bits": cfg.prob_bits, "bl": cfg.bl,
            "adcs": cfg.adcs, "adc_average": cfg.adc_average,
        }
        m.d.comb += [getattr(status_body, k).eq(v) for k, v in constants.items()]
        m.d.comb += [
            status_body.lfsr_draws.eq(seq.lfsr_draws),
            status_body.frame_errors.eq(self.cmd.errors),
        ]
        upd_body = Signal(fields_layout(proto.RESPONSE_FIELDS[proto.Opcode.UPDATE]))
        m.d.comb += [upd_body.slots.eq(seq.slot_count), upd_body.lfsr_draws.eq(seq.lfsr_draws)]
        prog_body = Signal(fields_layout(proto.RESPONSE_FIELDS[proto.Opcode.PROGRAM]))
        m.d.comb += [
            prog_body.converged.eq(self.converged), prog_body.reads.eq(self.reads),
            prog_body.pulses.eq(self.pulses), prog_body.code.eq(self.rde.captured),
        ]
        body_byte = Signal(8)
        body_end = Signal()  # body_idx is the body's last byte
        idx = self.body_idx

        def byte_of(body):
            value = body.as_value()
            return Array(value[8 * i:8 * i + 8] for i in range(len(value) // 8))[idx]

        def last_of(body):
            return idx == len(body.as_value()) // 8 - 1

        op = self.opcode
        m.d.comb += [
            body_byte.eq(Mux(op == Op.STATUS, byte_of(status_body),
                             Mux(op == Op.UPDATE, byte_of(upd_body), byte_of(prog_body)))),
            body_end.eq(Mux(op == Op.STATUS, last_of(status_body),
                            Mux(op == Op.UPDATE, last_of(upd_body), last_of(prog_body)))),
        ]
        if self.ctrl.trainer is not None:
            tr = self.tr
            train_body = Signal(fields_layout(proto.RESPONSE_FIELDS[proto.Opcode.TRAIN]))
            m.d.comb += [train_body.prediction.eq(tr.prediction), train_body.loss.eq(tr.loss),
                         train_body.capped.eq(tr.capped)]
            fixed_byte, fixed_end = body_byte, body_end
            body_byte, body_end = Signal(8), Signal()
            m.d.comb += [
                body_byte.eq(Mux(op == Op.TRAIN, byte_of(train_body),
                                 Mux(op == Op.INFER, tr.prediction, fixed_byte))),
                body_end.eq(Mux(op == Op.TRAIN, last_of(train_body), (op == Op.INFER) | fixed_end)),
            ]
        with m.State("BODY"):
            with m.If(self.out_empty):
                self.respond_words(body_byte, 1, body_end)
                m.d.sync += idx.eq(idx + 1)
                with m.If(body_end):
                    m.next = "FINISH"

    def vector_states(self):
        """LOAD_VECTOR (pass 1 checks every code, pass 2 writes them) and READ_VECTOR."""
        m, cfg, cmd = self.m, self.cfg, self.cmd
        a_vec, a_rv = self.a_vec, self.a_rv
        byte_idx, vec_pos, code16 = self.byte_idx, self.vec_pos, self.code16
        x_wr, d_wr, x_rd, d_rd = self.x_wr, self.d_wr, self.x_rd, self.d_rd
        out_of_range = ~within(code16, cfg.dac_max)
        with m.State("VECTOR_WALK"):
            m.d.comb += cmd.addr.eq(byte_idx)
            m.d.sync += byte_idx.eq(byte_idx + 1)
            m.next = "VECTOR_LO"
        with m.State("VECTOR_LO"):
            m.d.comb += cmd.addr.eq(byte_idx)
            m.d.sync += [self.byte_lo.eq(cmd.data), byte_idx.eq(byte_idx + 1)]
            m.next = "VECTOR_HI"
        with m.State("VECTOR_HI"):
            m.d.comb += cmd.addr.eq(byte_idx)
            line = a_vec.offset + vec_pos
            with m.If(self.vec_pass_write):
                with m.If(a_vec.side == LineSide.ROWS):
                    m.d.comb += [x_wr.en.eq(1), x_wr.addr.eq(line), x_wr.data.eq(code16)]
                with m.Else():
                    m.d.comb += [d_wr.en.eq(1), d_wr.addr.eq(line), d_wr.data.eq(code16)]
            with m.Elif(out_of_range):
                m.d.sync += self.vec_bad.eq(1)
            m.d.sync += [vec_pos.eq(vec_pos + 1), byte_idx.eq(byte_idx + 1)]
            with m.If(vec_pos == self.dec.vec_count - 1):
                m.d.sync += [byte_idx.eq(VECTOR_FIXED_BYTES), vec_pos.eq(0),
                             self.vec_pass_write.eq(1)]
                with m.If(self.vec_pass_write):
                    self.respond(St.OK)
                    m.next = "FINISH"
                with m.Elif(self.vec_bad | out_of_range):
                    self.error(St.BAD_ARG)
                with m.Else():
                    m.next = "VECTOR_WALK"
            with m.Else():
                m.next = "VECTOR_LO"

        # READ_VECTOR: one buffer word per two response bytes
        rv_line = a_rv.offset + vec_pos
        with m.State("READ_VECTOR_ADDR"):
            m.d.comb += [x_rd.addr.eq(rv_line), d_rd.addr.eq(rv_line)]
            with m.If(self.out_empty):
                m.next = "READ_VECTOR_DATA"
        with m.State("READ_VECTOR_DATA"):
            m.d.comb += [x_rd.addr.eq(rv_line), d_rd.addr.eq(rv_line)]
            word = Mux(a_rv.side == LineSide.ROWS, x_rd.data, d_rd.data)  # signed: sign-extends
            self.respond_words(word, proto.VECTOR_CODE_BYTES, vec_pos == a_rv.count - 1)
            m.d.sync += vec_pos.eq(vec_pos + 1)
            with m.If(vec_pos == a_rv.count - 1):
                m.next = "FINISH"
            with m.Else():
                m.next = "READ_VECTOR_ADDR"

    def read_state(self):
        """A read by the read engine; its codes go to the response writer."""
        m, rde = self.m, self.rde
        with m.State("READ"):
            m.d.comb += self.neu.reading.eq(self.neuron_reading())
            with m.If(rde.word_valid):
                self.respond_words(rde.word, proto.ADC_CODE_BYTES, rde.word_last)
            with m.If(rde.done & rde.failed):  # a converter timed out: safe idle, error status
                self.error(St.ADC_TIMEOUT)
            with m.Elif(rde.done):
                with m.If(self.opcode == Op.PROGRAM):
                    m.d.sync += self.reads.eq(self.reads + 1)
                    m.next = "PROGRAM_EVAL"
                with m.Else():
                    m.next = "FINISH"

    def neuron_reading(self):
        """The neuron-read line during a read: a FORWARD's, falling with the levels when a
        converter timeout cuts the read short (found by the k-induction of the safe idle
        after a timeout, rtl/formal.py)."""
        return (self.opcode == Op.FORWARD) & ~self.rde.padding

    def update_states(self):
        """UPDATE through the update engine (sequencer and line drivers); also the pulse bursts
        of write-verify steps."""
        m, seq, an, a_upd = self.m, self.seq, self.an, self.a_upd
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
            with m.If(~self.drivers.busy):
                m.d.comb += an.update_done.eq(1)
                m.d.sync += an.update_active.eq(0)
                with m.If(self.opcode == Op.PROGRAM):
                    m.d.sync += self.iters.eq(self.iters + 1)
                    with m.If(self.iters == self.cfg.max_program_iters - 1):
                        m.next = "PROGRAM_DONE"
                    with m.Else():
                        m.next = "PROGRAM_READ"
                with m.Else():
                    self.respond_body(proto.Opcode.UPDATE)

    def program_states(self):
        """PROGRAM: read (read engine), decide (write-verify engine), pulse (update engine)."""
        m, seq, wv, a_prog = self.m, self.seq, self.wv, self.a_prog
        with m.State("PROGRAM_READ"):
            self.start_read(LineSide.ROWS, 0, 0, LineSide.COLS, a_prog.col, a_prog.col + 1,
                            line=a_prog.row, code=a_prog.read_code, cap=1)
        with m.State("PROGRAM_EVAL"):
            m.d.comb += wv.start.eq(1)
            m.next = "PROGRAM_DECIDE"
        with m.State("PROGRAM_DECIDE"):
            with m.If(wv.done & wv.converged):
                m.d.sync += self.converged.eq(1)
                m.next = "PROGRAM_DONE"
            with m.Elif(wv.done):
                m.next = "PROGRAM_PULSE"
        with m.State("PROGRAM_PULSE"):
            m.d.comb += [
                seq.pulse_start.eq(1),
                seq.pulse_args.row.eq(a_prog.row),
                seq.pulse_args.col.eq(a_prog.col),
                seq.pulse_args.count.eq(wv.count),
                seq.pulse_args.negative.eq(wv.negative),
            ]
            m.d.sync += [self.pulses.eq(self.pulses + wv.count), self.an.update_active.eq(1)]
            m.next = "PULSES"
        with m.State("PROGRAM_DONE"):
            self.respond_body(proto.Opcode.PROGRAM)

    def trainer_state(self):
        """A trainer command: the trainer engine drives the read and update engines."""
        m, tr, rde, seq, an = self.m, self.tr, self.rde, self.seq, self.an
        with m.State("TRAINER"):
            m.d.comb += [
                self.trainer_active.eq(1), self.ctrl.trainer_busy.eq(1),
                rde.start.eq(tr.rd_start), rde.drive_side.eq(tr.rd_drive_side),
                rde.drive_first.eq(tr.rd_drive_first), rde.drive_end.eq(tr.rd_drive_end),
                rde.single.eq(0), rde.sense_side.eq(tr.rd_sense_side),
                rde.sense_first.eq(tr.rd_sense_first), rde.sense_last.eq(tr.rd_sense_last),
                rde.capture.eq(0),
                seq.start.eq(tr.up_start), seq.args.eq(tr.up_args),
            ]
            with m.If(tr.addr_en):
                m.d.comb += self.cmd.addr.eq(tr.addr)
            with m.If(tr.up_start):
                m.d.sync += an.update_active.eq(1)
            with m.If(tr.up_end):
                m.d.comb += an.update_done.eq(1)
                m.d.sync += an.update_active.eq(0)
            with m.If(tr.done & ~tr.ok):
                self.error(St.BAD_ARG)
            with m.Elif(tr.done & (self.opcode == Op.TRAIN)):
                self.respond_body(proto.Opcode.TRAIN)
            with m.Elif(tr.done & (self.opcode == Op.INFER)):
                self.respond_body(proto.Opcode.INFER)
            with m.Elif(tr.done):
                self.respond(St.OK)
                m.next = "FINISH"
