"""The trainer engine: one training sample (or one inference) on the controller, bit exact
with :class:`insitu.golden.onchip.OnChipTrainer` (``step_codes`` / ``infer``).

:class:`TrainerEngine` executes the trainer commands of ``insitu.golden.protocol``
(CONFIGURE, CONFIGURE_LAYER, TRAIN, INFER) once the command decoder has read their fixed
arguments. It sequences the controller's read engine and update engine the way the command
decoder's states do, but drives them from its own line buffers, so the x and d buffers are
never touched:

* ``rows`` / ``cols`` line buffers (lib.memory): the codes a read drives or an update
  takes (forward: ``[H_l, D]``; transpose: the mantissas; update: ``cx`` and ``cd``);
* ``acts``: every layer's input codes (``H_l``, the sample for layer 0), ``grads``: the
  derivative codes of the hidden units, ``mant``: every layer's normalised error
  mantissas (a slot of a power of two >= ``max(rows, cols)`` lines per layer: the address
  is ``Cat(index, l)``), ``err``: the vector being normalised;
* ``consts``: per layer ``zm_l * 2**(24 - shift)``, ``r_l[0]``, ``r_l[1]`` and the exponent
  of its normalised error with a nonzero bit (a block RAM, not registers);
* ROMs with the activation and derivative tables of every hidden activation and the output
  sigmoid (:func:`insitu.golden.onchip.make_tables`, at elaboration).

The datapath is small for the iCE40UP5K: no barrel shifter, variable shifts one bit a tick.

* Per read word (pipelined, one word per tick): the table index
  ``clamp((y * zm_l) >> shift, -T/2, T/2 - 1) + T/2`` is bits ``[24, 24 + table_bits)`` of
  ``y * (zm_l << (24 - shift))`` (zm_l shifted one bit a tick at CONFIGURE_LAYER), the table
  look-up, the output error ``O - D onehot`` with its loss and the first argmax of the
  output codes; the hidden error ``b * grad``.
* Leading-one normalisation: the magnitudes are ORed while a vector is written (its bit
  length is that of the largest), which gives the shift ``s``. Then ``err`` is shifted in
  place one bit per pass (``s - 1`` passes right, floor, or ``-s`` left) and a last pass
  rounds (``(x + 1) >> 1``) into the mantissas; a rounding carry to ``2**width`` seen there
  costs one more right pass and a rounding pass again.
* Update management: ``rho = shift_round(r_l[e & 1], -(e >> 1))``, capped at ``2**shift``,
  times ``2**(24 - shift)``, in one shift register one bit a tick (right shifts keep the
  last bit out for the rounding); the update codes are then ``(code * rho + 2**23) >> 24``,
  a fixed shift.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from ..golden.onchip import OnChipConfig, make_tables
from .decoder import ARGS_BYTES, args_view
from .layouts import (
    LineSide,
    Opcode,
    UpdateMode,
    dac_shape,
    line_read_members,
    lines,
    update_args_layout,
)
from .narrow import in_const_range, le_const, positive

LAYERS = proto.TRAINER_MAX_LAYERS
CONST_BITS = proto.TRAINER_CONST_BITS
# zm_l is kept as zm_l * 2**(CONST_BITS - shift): the table index is then at a fixed bit
ZM_BITS = 2 * CONST_BITS - proto.TRAINER_SHIFTS[0]


class TrainerSignature(wiring.Signature):
    """Ports of the trainer engine (its view). L = max(rows, cols).

    Members
    -------
    start : In(1); opcode : In(Opcode); args : In(8 * ARGS_BYTES); length : In(16)
        Strobe: run the decoded trainer command (fixed arguments from the decoder, which
        holds them until the command is done).
    done : Out(1); ok : Out(1)
        Strobe when finished; ``ok`` low: answer BAD_ARG (nothing changed).
    prediction : Out(8); loss : Out(32); capped : Out(8)
        The TRAIN / INFER response fields.
    addr : Out(range(max_payload)); addr_en : Out(1); data : In(8)
        Synchronous read of the request payload (the sample's codes).
    rd_* : the read engine's start strobe and window arguments; rd_word_valid, rd_word,
        rd_done : its codes and done strobe.
    x_addr, x_data, d_addr, d_data :
        Synchronous reads of the trainer's row and column line buffers by the engines.
    up_start : Out(1); up_args : Out(update_args_layout); up_done : In(1)
        The update engine's start strobe, arguments and done strobe.
    drivers_busy : In(1); up_end : Out(1)
        Pulses drained; ``up_end`` strobes when an update burst is over (update_done).
    """

    def __init__(self, config: ControllerConfig):
        L = lines(config)
        super().__init__({
            "start": In(1),
            "opcode": In(Opcode, init=Opcode.TRAIN),
            "args": In(8 * ARGS_BYTES),
            "length": In(16),
            "done": Out(1),
            "ok": Out(1),
            "prediction": Out(8),
            "loss": Out(32),
            "capped": Out(8),
            "addr": Out(range(proto.max_payload(config))),
            "addr_en": Out(1),
            "data": In(8),
            "rd_start": Out(1),
            "rd_drive_side": Out(LineSide),
            "rd_drive_first": Out(range(L + 1)),
            "rd_drive_end": Out(range(L + 1)),
            "rd_sense_side": Out(LineSide),
            "rd_sense_first": Out(range(L)),
            "rd_sense_last": Out(range(L + 1)),
            "rd_word_valid": In(1),
            "rd_word": In(32),
            "rd_done": In(1),
            **line_read_members(config, reader=False),
            "up_start": Out(1),
            "up_args": Out(update_args_layout(config)),
            "up_done": In(1),
            "drivers_busy": In(1),
            "up_end": Out(1),
        })


class TrainerEngine(wiring.Component):
    """The trainer engine for one controller config and one set of tables (``onchip``:
    its ``table_bits`` and ``z_range``). Ports: :class:`TrainerSignature`."""

    def __init__(self, config: ControllerConfig, onchip: OnChipConfig):
        if config.dac_max >= 1 << (8 * proto.SAMPLE_CODE_BYTES):
            raise ValueError(f"dac_bits must be at most {8 * proto.SAMPLE_CODE_BYTES + 1} for "
                             f"the trainer engine, got {config.dac_bits}")
        self.config = config
        self.onchip = onchip
        super().__init__(TrainerSignature(config))

    def elaborate(self, platform):
        m = Module()
        b = _Build(self, m)
        b.update_pipeline()
        b.norm_pipeline()
        with m.FSM():
            b.command_states()
            b.sample_states()
            b.forward_states()
            b.error_states()
            b.update_states()
            b.backward_states()
        return m


class _FanIn:
    """``fan_in[l]``: ``fan_in0`` for layer 0, else the fan_out of layer ``l - 1``."""

    def __init__(self, b):
        self.b = b

    def __getitem__(self, l):
        return Mux(l == 0, self.b.fan_in0, self.b.fan_out[(l - 1)[:len(l)]])


class _Build:
    """Registers, memories and FSM states of one :class:`TrainerEngine`."""

    def __init__(self, eng: TrainerEngine, m: Module):
        self.e, self.m, self.cfg = eng, m, eng.config
        cfg = self.cfg
        self.R, self.C, self.LW = cfg.rows, cfg.cols, lines(cfg)
        self.D = cfg.dac_max
        self.width = self.D.bit_length()
        self.T = 1 << eng.onchip.table_bits
        self._memories()
        self._registers()

    # ------------------------------------------------------------------ storage
    def _memories(self):
        m, cfg, LW = self.m, self.cfg, self.LW
        dac = dac_shape(cfg)
        ab, db = cfg.adc_bits, cfg.dac_bits
        # an output error |O - D onehot| <= D, a hidden one |b * grad| < 2**(ab-1) * D
        self.err_shape = signed(ab + db)
        self.mant_shape = signed(self.width + 1)
        # a layer's slot in acts / grads / mant is a power of two: its address is Cat(index, l)
        self.slot_bits = max(1, (LW - 1).bit_length())
        depth = LAYERS << self.slot_bits
        mems = {
            "rowbuf": (dac, cfg.rows), "colbuf": (dac, cfg.cols),
            "acts": (unsigned(db), depth), "grads": (unsigned(db), depth),
            "mant": (self.mant_shape, depth), "err": (self.err_shape, LW),
            # per layer: zm, r_even, r_odd, exponent (const_addr; a block RAM, not registers)
            "consts": (unsigned(ZM_BITS), LAYERS * 4),
        }
        for name, (shape, depth) in mems.items():
            mem = Memory(shape=shape, depth=depth, init=[], attrs={"ram_style": "block"})
            setattr(m.submodules, name, mem)
            setattr(self, name + "_w", mem.write_port())
            setattr(self, name + "_r", mem.read_port())
        e = self.e
        m.d.comb += [self.rowbuf_r.addr.eq(e.x_addr), e.x_data.eq(self.rowbuf_r.data),
                     self.colbuf_r.addr.eq(e.d_addr), e.d_data.eq(self.colbuf_r.data)]
        # tables: hidden activations (act, grad) by activation code, and the output sigmoid
        hidden, sig = [], None
        for name in proto.TRAINER_ACTIVATIONS:
            t = make_tables(name, self.e.onchip.table_bits, self.e.onchip.z_range, self.D)
            hidden += [int(a) | int(g) << db for a, g in zip(t["act"], t["grad"])]
            sig = [int(v) for v in t["sig"]]
        m.submodules.hidden_rom = rom = Memory(shape=unsigned(2 * db), depth=len(hidden),
                                               init=hidden)
        m.submodules.sig_rom = srom = Memory(shape=unsigned(db), depth=self.T, init=sig)
        self.hidden_r, self.sig_r = rom.read_port(), srom.read_port()

    def at(self, layer, index):
        """The address of ``index`` in ``layer``'s slot of acts / grads / mant."""
        return Cat(index[:self.slot_bits], layer[:(LAYERS - 1).bit_length()])

    def _registers(self):
        cfg, LW = self.cfg, self.LW
        self.layers = Signal(range(LAYERS + 1))
        self.nconf = Signal(range(LAYERS + 1))
        self.configured = Signal()  # CONFIGURE seen (layers may follow)
        self.act_sel = Signal(2)
        self.alg = Signal()  # 0 pgd, 1 backprop
        self.zs = Signal(5)
        # a layer's fan_in is the fan_out of the layer below (checked by CONFIGURE_LAYER)
        self.fan_in0 = Signal(8)
        self.fan_out = Array(Signal(8, name=f"fan_out_{k}") for k in range(LAYERS))
        self.col0 = Array(Signal(range(cfg.cols + 1), name=f"col0_{k}") for k in range(LAYERS))
        self.next_col0 = Signal(range(cfg.cols + 256))  # the next layer's col0
        self.last_out = Signal(8)  # the fan_out of the last layer configured
        self.fan_in = _FanIn(self)
        # a layer's error exponent and whether any of its mantissas is nonzero: consts field 3
        self.nonzero = Signal()  # of the vector being normalised
        self.l = Signal(range(LAYERS))  # the layer being worked on
        self.train = Signal()  # TRAIN (else INFER)
        self.updating = Signal()  # backprop: the errors are read, the updates run
        self.bad = Signal()
        self.ok = Signal()  # the answer DONE gives
        self.p = Signal(range(LW + 2))  # pass address
        self.pv = Signal()  # the previous pass address was in range (its data is here)
        self.pi = Signal(range(LW + 1))  # the previous pass address
        self.n = Signal(range(LW + 1))  # pass length
        self.j = Signal(range(LW + 1))  # index of the next read word
        # the OR of a vector's magnitudes: its bit length is that of the largest one
        self.seen = Signal(self.err_shape.width)
        self.tracked = Signal(self.err_shape)  # the value ``track`` adds this tick
        self.tracked_en = Signal()
        self.shift = Signal(signed(8))
        # one bit a tick: zm_l * 2**(CONST_BITS - zs) at CONFIGURE_LAYER, and rho (below
        # 2**(CONST_BITS + 1): the low bits) before every update; zm_l during a forward read
        self.acc = Signal(ZM_BITS)
        # during an update: rho * 2**(CONST_BITS - zs), at most 2**CONST_BITS (the cap); the
        # update codes are then (code * rho + 2**(CONST_BITS - 1)) >> CONST_BITS, a fixed shift
        self.rho = self.acc[:CONST_BITS + 1]
        self.lefts = Signal(6)  # left shifts to go
        self.steps = Signal(5)  # one-bit shift passes to go
        self.left = Signal()  # they shift left
        self.carry = Signal()  # a mantissa of the pass rounded up to 2**width: redo, shift + 1
        self.cd_nonzero = Signal()
        self.best = Signal(signed(cfg.adc_bits))
        # a read word, its index and valid bit: stage A of the forward and transpose pipelines
        self.word = Signal(signed(cfg.adc_bits))
        self.word_j = Signal(range(LW + 1))
        self.word_v = Signal()
        self.loss = Signal(range(cfg.cols * self.D + 1))  # sum |E| over the output units
        self.flush = Signal(2)
        self.base = Signal(signed(10))  # exponent of the error a normalised vector came from

    # ------------------------------------------------------------------ helpers
    def finish(self, ok):
        """``done`` strobes next tick, in DONE, with ``ok`` from a register: the checks'
        logic never reaches the controller's response logic in the same tick (the
        iCEBreaker's critical path at 4-4-3 went through both)."""
        self.m.d.sync += self.ok.eq(ok)
        self.m.next = "DONE"

    def start_pass(self, n, state):
        self.m.d.sync += [self.p.eq(0), self.pv.eq(0), self.n.eq(n)]
        self.m.next = state

    def pass_step(self, then):
        """One tick of a pass: address ``p`` now, its data (``pi``, when ``pv``) next tick."""
        m = self.m
        m.d.sync += [self.pi.eq(self.p), self.pv.eq(self.p != self.n), self.p.eq(self.p + 1)]
        with m.If(self.p == self.n):
            then()

    def track(self, v):
        """Add ``|v|`` to the vector's magnitudes (one absolute value for both read passes)."""
        self.m.d.comb += [self.tracked.eq(v), self.tracked_en.eq(1)]

    def start_read(self, drive_side, first, end, sense_side, s_first, s_last, state):
        e = self.e
        self.m.d.comb += [
            e.rd_start.eq(1), e.rd_drive_side.eq(drive_side), e.rd_drive_first.eq(first),
            e.rd_drive_end.eq(end), e.rd_sense_side.eq(sense_side),
            e.rd_sense_first.eq(s_first), e.rd_sense_last.eq(s_last),
        ]
        self.m.d.sync += [self.j.eq(0), self.flush.eq(0)]
        self.m.next = state

    # ------------------------------------------------------------------ CONFIGURE / checks
    def command_states(self):
        m, e, cfg = self.m, self.e, self.cfg
        a_cf = args_view(e.args, Opcode.CONFIGURE)
        a_ly = args_view(e.args, Opcode.CONFIGURE_LAYER)
        a_tr = args_view(e.args, Opcode.TRAIN)
        self.label = a_tr.label  # held by the decoder while the command runs
        L, l = self.layers, self.l
        ready = self.configured & (self.nconf == L) & (L != 0)
        m.d.comb += e.loss.eq(self.loss)
        # the payload: the codes, after the label for TRAIN (train is set in IDLE)
        codes_ok = e.length == self.fan_in0 + self.train
        with m.State("IDLE"), m.If(e.start):
            m.d.sync += [self.train.eq(e.opcode == Opcode.TRAIN),
                         self.bad.eq(0), l.eq(0), self.updating.eq(0),
                         self.loss.eq(0), e.capped.eq(0), e.prediction.eq(0)]
            m.next = "CHECK"
        with m.State("DONE"):
            m.d.comb += [e.done.eq(1), e.ok.eq(self.ok)]
            m.next = "IDLE"
        with m.State("CHECK"):
            lo, hi = proto.TRAINER_SHIFTS
            with m.Switch(e.opcode):
                with m.Case(Opcode.CONFIGURE):
                    good = (in_const_range(a_cf.layers, 2, LAYERS)
                            & le_const(a_cf.activation, len(proto.TRAINER_ACTIVATIONS) - 1)
                            & le_const(a_cf.algorithm, len(proto.TRAINER_ALGORITHMS) - 1)
                            & in_const_range(a_cf.shift, lo, hi))
                    with m.If(good):
                        m.d.sync += [L.eq(a_cf.layers), self.act_sel.eq(a_cf.activation),
                                     self.alg.eq(a_cf.algorithm), self.zs.eq(a_cf.shift),
                                     self.nconf.eq(0), self.configured.eq(1),
                                     self.next_col0.eq(0)]
                    self.finish(good)
                with m.Case(Opcode.CONFIGURE_LAYER):
                    k = self.nconf
                    first = k == 0
                    col0 = self.next_col0  # the previous layer's col0 + fan_out
                    end = col0 + a_ly.fan_out
                    good = (self.configured & (a_ly.layer == k) & (k < L)
                            & (a_ly.fan_in != 0) & (a_ly.fan_out != 0)
                            & le_const(a_ly.fan_in, cfg.rows - 1) & le_const(end, cfg.cols)
                            & (first | (a_ly.fan_in == self.last_out))
                            & (a_ly.zm != 0) & (a_ly.zm[CONST_BITS:] == 0)
                            & (a_ly.r_even[CONST_BITS:] == 0) & (a_ly.r_odd[CONST_BITS:] == 0))
                    with m.If(good):  # zm (shifted), r_even and r_odd in the next ticks
                        m.d.sync += [self.fan_out[k].eq(a_ly.fan_out), self.col0[k].eq(col0),
                                     self.next_col0.eq(end), self.last_out.eq(a_ly.fan_out)]
                        with m.If(first):
                            m.d.sync += self.fan_in0.eq(a_ly.fan_in)
                        m.d.sync += [self.acc.eq(a_ly.zm), self.lefts.eq(CONST_BITS - self.zs)]
                        m.next = "CONF_ZM"
                    with m.Else():
                        self.finish(0)
                with m.Default():  # TRAIN, INFER
                    good = (ready & codes_ok
                            & (~self.train | (self.label < self.last_out)))
                    with m.If(good):
                        self.start_pass(self.fan_in0, "SAMPLE")
                    with m.Else():
                        self.finish(0)

        # the decoder's arguments stay put while the trainer runs
        with m.State("CONF_ZM"):  # zm * 2**(CONST_BITS - zs)
            with m.If(self.lefts != 0):
                m.d.sync += [self.acc.eq(self.acc << 1), self.lefts.eq(self.lefts - 1)]
            with m.Else():
                self.write_const(self.nconf, 0, self.acc)
                m.next = "CONF_R_EVEN"
        with m.State("CONF_R_EVEN"):
            self.write_const(self.nconf, 1, a_ly.r_even)
            m.next = "CONF_R_ODD"
        with m.State("CONF_R_ODD"):
            self.write_const(self.nconf, 2, a_ly.r_odd)
            m.d.sync += self.nconf.eq(self.nconf + 1)
            self.finish(1)

    @staticmethod
    def const_addr(layer, field):
        """The address of a layer's field in ``consts``: zm 0, r_even 1, r_odd 2, and 3 the
        exponent of its normalised error (10 bits) with a nonzero-mantissa bit above."""
        return Cat(Const(field, 2) if isinstance(field, int) else field[:2],
                   layer[:(LAYERS - 1).bit_length()])

    def write_const(self, layer, field, value):
        """``consts[const_addr(layer, field)] = value``."""
        w = self.consts_w
        self.m.d.comb += [w.en.eq(1), w.addr.eq(self.const_addr(layer, field)), w.data.eq(value)]

    def sample_states(self):
        """The sample's codes from the payload into acts[0]; a code above D: BAD_ARG."""
        m, e = self.m, self.e
        first = Mux(self.train, 1, 0)
        with m.State("SAMPLE"):
            m.d.comb += [e.addr_en.eq(1), e.addr.eq(self.p + first)]
            above = self.pv & ~le_const(e.data, self.D)
            with m.If(self.pv):
                m.d.comb += [self.acts_w.en.eq(1), self.acts_w.addr.eq(self.pi),
                             self.acts_w.data.eq(e.data)]
                with m.If(above):
                    m.d.sync += self.bad.eq(1)

            def then():  # the last code is here now: checked with the ones before
                with m.If(self.bad | above):
                    self.finish(0)
                with m.Else():
                    self.start_pass(self.fan_in0 + 1, "FWD_LOAD")
            self.pass_step(then)

    # ------------------------------------------------------------------ forward
    def table_index(self, yz):
        """``clamp(yz >> CONST_BITS, -T/2, T/2 - 1) + T/2`` of ``yz = y * zm_l * 2**(CONST_BITS
        - shift)``: the table's bits of ``yz`` (top bit flipped) if every bit above them equals
        the sign, else the end the sign points to."""
        tb = self.e.onchip.table_bits
        upper = yz[CONST_BITS + tb - 1:]
        inside = (upper == 0) | (upper == (1 << len(upper)) - 1)
        bits = yz[CONST_BITS:CONST_BITS + tb]
        return Mux(inside, bits ^ (1 << (tb - 1)), Mux(yz[-1], 0, self.T - 1))[:tb]

    def forward_states(self):
        m, e, cfg = self.m, self.e, self.cfg
        l, L = self.l, self.layers
        output = l == L - 1
        with m.State("FWD_LOAD"):  # rows [0, fan_in]: the layer's inputs and the bias at D
            m.d.comb += self.acts_r.addr.eq(self.at(l, self.p))
            with m.If(self.pv):
                m.d.comb += [self.rowbuf_w.en.eq(1), self.rowbuf_w.addr.eq(self.pi),
                             self.rowbuf_w.data.eq(Mux(self.pi == self.fan_in[l], self.D,
                                                       self.acts_r.data))]

            def then():  # zm_l from the RAM (read since this state began) into acc
                m.d.sync += [self.seen.eq(0), self.loss.eq(0), self.acc.eq(self.consts_r.data)]
                self.start_read(LineSide.ROWS, 0, self.fan_in[l] + 1, LineSide.COLS,
                                self.col0[l], self.col0[l] + self.fan_out[l], "FWD_READ")
            self.pass_step(then)
        # one word per tick: (A) code and index, (B) the table index of its product with zm_l,
        # (C) table values
        ya, ja, va = self.word, self.word_j, self.word_v
        yz = Signal(signed(cfg.adc_bits + ZM_BITS + 1))
        ib, jb, vb = Signal(e.onchip.table_bits), Signal(range(self.LW + 1)), Signal()
        jc, vc = Signal(range(self.LW + 1)), Signal()
        y = e.rd_word[:cfg.adc_bits].as_signed()
        m.d.comb += yz.eq(ya * self.acc)  # a register: the RAM's output is slow on the ECP5
        m.d.sync += [va.eq(0), vb.eq(va), jb.eq(ja), ib.eq(self.table_index(yz)),
                     vc.eq(vb), jc.eq(jb)]
        m.d.comb += [self.hidden_r.addr.eq(self.act_sel * self.T + ib), self.sig_r.addr.eq(ib),
                     self.consts_r.addr.eq(self.const_addr(l, 0))]  # zm_l
        db = cfg.dac_bits
        err = Signal(signed(db + 2))
        m.d.comb += err.eq(self.sig_r.data - Mux(self.train & (jc == self.label), self.D, 0))

        def stage_c():
            """Hidden layer: the next layer's input and derivative codes; output: the error."""
            with m.If(vc & ~output):
                at = self.at(l + 1, jc)
                m.d.comb += [self.acts_w.en.eq(1), self.acts_w.addr.eq(at),
                             self.acts_w.data.eq(self.hidden_r.data[:db]),
                             self.grads_w.en.eq(1), self.grads_w.addr.eq(at),
                             self.grads_w.data.eq(self.hidden_r.data[db:])]
            with m.If(vc & output):
                m.d.comb += [self.err_w.en.eq(1), self.err_w.addr.eq(jc), self.err_w.data.eq(err)]
                m.d.sync += self.loss.eq(self.loss + abs(err))
                self.track(err)

        with m.State("FWD_READ"):
            with m.If(e.rd_word_valid):
                m.d.sync += [ya.eq(y), ja.eq(self.j), va.eq(1), self.j.eq(self.j + 1)]
                with m.If(output & ((self.j == 0) | (y > self.best))):
                    m.d.sync += [self.best.eq(y), e.prediction.eq(self.j)]
            stage_c()
            with m.If(e.rd_done):
                m.next = "FWD_FLUSH"
        with m.State("FWD_FLUSH"):  # the last words through the pipeline (same writes as above)
            stage_c()
            m.d.sync += self.flush.eq(self.flush + 1)
            with m.If(self.flush == 3):
                with m.If(~output):
                    m.d.sync += l.eq(l + 1)
                    self.start_pass(self.fan_out[l] + 1, "FWD_LOAD")  # fan_in[l + 1] + 1
                with m.Elif(~self.train):
                    self.finish(1)
                with m.Else():
                    m.d.sync += self.base.eq(0)
                    m.next = "NORM_SHIFT"

    # ------------------------------------------------------------------ normalise, sequence
    def error_states(self):
        """Leading-one normalisation of err[0, n) into layer l's mantissas and exponent, then
        the next step in PGD or backprop order."""
        m = self.m
        l, L = self.l, self.layers
        w = self.width
        # the bit length of the largest magnitude (a priority encoder over their OR) gives the
        # shift s. The vector is shifted in place in err one bit per pass (s - 1 passes right,
        # floor, or -s passes left), then the last pass rounds ((x + 1) >> 1 if s > 0) into the
        # mantissas. A rounding carry to 2**width is seen there: one more pass right, again.
        # s = bit length - w (0 for a zero vector) straight from the encoder's constants
        top = self.seen
        shift = Const(0, signed(8))
        for k in range(len(top)):
            shift = Mux(top[k], Const(k + 1 - w, signed(8)), shift)
        with m.State("NORM_SHIFT"):
            s = Signal(signed(8))
            m.d.comb += s.eq(shift)
            m.d.sync += [self.shift.eq(s), self.carry.eq(0), self.left.eq(s[-1]),
                         self.steps.eq(self.norm_passes(s))]
            m.next = "NORM_GAP"
        with m.State("NORM_GAP"):  # the last word of a shift pass is written now
            with m.If(self.steps != 0):
                self.start_pass(self.fan_out[l], "NORM_STEP")
            with m.Else():
                self.start_norm_pass()
        with m.State("NORM_STEP"):  # err[i] = err[i] << 1 or >> 1
            m.d.comb += self.err_r.addr.eq(self.p)
            with m.If(self.pv):
                self.norm_shift_word(self.err_r.data, self.pi)

            def then():
                m.d.sync += self.steps.eq(self.steps - 1)
                m.next = "NORM_GAP"
            self.pass_step(then)
        with m.State("NORM_PASS"):  # the words rounded into mantissas
            m.d.comb += self.err_r.addr.eq(self.p)
            with m.If(self.pv):
                self.norm_round_word(self.err_r.data, self.at(l, self.pi))

            def then():  # the last mantissa is written (and checked) now
                m.next = "NORM_CHECK"
            self.pass_step(then)
        with m.State("NORM_CHECK"):
            with m.If(self.carry):  # (only if s > 0)
                m.d.sync += [self.shift.eq(self.shift + 1), self.carry.eq(0), self.steps.eq(1)]
                m.next = "NORM_GAP"
            with m.Else():
                self.write_const(l, 3, Cat((self.base + self.shift)[:10], self.nonzero))
                m.next = "NEXT"
        with m.State("NEXT"):
            with m.If(~self.alg):
                m.next = "UPD_RHO"
            with m.Elif(l != 0):
                self.start_pass(self.fan_out[l], "BACK_LOAD")
            with m.Else():
                m.d.sync += [self.updating.eq(1), l.eq(L - 1)]
                m.next = "UPD_RHO"

    @staticmethod
    def norm_passes(s):
        """One-bit shift passes before the rounding pass for a normalisation shift ``s``:
        ``s - 1`` right (the last bit goes in the rounding), or ``-s`` left."""
        minus = -s  # s - 1 is ~(-s): one carry chain for both
        return Mux(positive(s), ~minus, minus)

    def rho_shifts(self, s):
        """``rho``'s one-bit shifts for ``shift_round(r, s)`` times ``2**(CONST_BITS - zs)``:
        (right, left), right at most 31 (nothing of ``r`` is left), left at most 31 + 16."""
        neg, high, low = s[-1], s[5:], s[:5]  # the clamps as bit tests, not carry chains
        right = Mux(~neg & (high != 0), 31, Mux(positive(s), low, 0))  # s > 31, s > 0
        # -s > 31 unless -31 <= s <= -1 (high bits all ones, low bits not all zeros)
        over = neg & ~((high == (1 << len(high)) - 1) & (low != 0))
        left = Mux(over, 31, Mux(neg, (-low)[:5], 0)) + (CONST_BITS - self.zs)
        return right, left

    def start_norm_pass(self):
        """The normalisation pass of err[0, n) into layer l's mantissas."""
        l = self.l
        self.m.d.sync += self.nonzero.eq(0)
        n = self.fan_out[l]  # = fan_in[l + 1]
        self.start_pass(n, "NORM_PASS")

    # ------------------------------------------------------------------ update
    def update_pipeline(self):
        """The update codes' scaling, outside the FSM: the update states feed ``op``."""
        m, cfg = self.m, self.cfg
        # the update codes go through a three-stage pipeline: the buffer word (operand)
        # registered, its product with rho registered, then rounded (a fixed shift) and written.
        # One path RAM -> multiplier -> shifter -> RAM was the board's critical path.
        self.op = op = Signal(signed(max(cfg.dac_bits + 1, self.mant_shape.width)))
        self.op_v, self.op_col = op_v, op_col = Signal(), Signal()
        self.op_addr = op_addr = Signal(range(max(cfg.rows, cfg.cols)))
        prod = Signal(signed(len(op) + len(self.rho) + 1))
        pr_v, pr_col, pr_addr = Signal(), Signal(), Signal.like(op_addr)
        m.d.sync += [op_v.eq(0), pr_v.eq(op_v), pr_col.eq(op_col), pr_addr.eq(op_addr),
                     prod.eq(op * self.rho)]
        # rho carries 2**(CONST_BITS - zs): (prod + 2**(CONST_BITS - 1)) >> CONST_BITS
        scaled = ((prod[CONST_BITS - 1:].as_signed() + 1) >> 1)[:self.mant_shape.width + 1]
        with m.If(pr_v & ~pr_col):  # cx = [H_l, D] rho >> shift (rounded)
            m.d.comb += [self.rowbuf_w.en.eq(1), self.rowbuf_w.addr.eq(pr_addr),
                         self.rowbuf_w.data.eq(scaled)]
        with m.If(pr_v & pr_col):  # cd = -(m rho >> shift) (rounded)
            cd = Signal(signed(self.mant_shape.width + 1))
            m.d.comb += [cd.eq(-scaled), self.colbuf_w.en.eq(1), self.colbuf_w.addr.eq(pr_addr),
                         self.colbuf_w.data.eq(cd)]
            with m.If(cd != 0):
                m.d.sync += self.cd_nonzero.eq(1)

    def norm_pipeline(self):
        """The magnitudes of a vector being written, ORed (outside the FSM)."""
        m = self.m
        with m.If(self.tracked_en):
            m.d.sync += self.seen.eq(self.seen | abs(self.tracked))

    def norm_shift_word(self, word, addr):
        """A shift pass: ``err[addr] = word << 1`` (or ``>> 1``)."""
        w = self.err_w
        self.m.d.comb += [w.en.eq(1), w.addr.eq(addr),
                          w.data.eq(Mux(self.left, word << 1, word >> 1))]

    def norm_round_word(self, word, addr):
        """The rounding pass: ``mant[addr] = (word + 1) >> 1`` if the shift is right, else
        ``word``. The word is below 2**(w + 1) in magnitude now; a mantissa has at most w + 1
        bits and a sign (a rounding carry gives 2**w, seen here and undone by one more pass)."""
        m, w = self.m, self.width
        x = word[:w + 2].as_signed()
        mant = Signal(signed(w + 2))
        m.d.comb += [mant.eq(Mux(positive(self.shift), (x + 1) >> 1, x)),
                     self.mant_w.en.eq(1), self.mant_w.addr.eq(addr), self.mant_w.data.eq(mant)]
        with m.If(mant != 0):
            m.d.sync += self.nonzero.eq(1)
        # |mant| >= 2**w (mant is above -2**(w + 1)): bit w set and positive, or negative with
        # bit w clear or the bits below it all zeros
        with m.If(Mux(mant[-1], ~mant[w] | (mant[:w] == 0), mant[w])):
            m.d.sync += self.carry.eq(1)

    def update_states(self):
        m, e, cfg = self.m, self.e, self.cfg
        l = self.l
        # rho = shift_round(r_l[e & 1], -(e >> 1)), capped at 2**zs, times 2**(CONST_BITS - zs):
        # one bit a tick in ``acc``; right shifts keep the last bit out (the rounding), left
        # shifts note a bit pushed past 2**CONST_BITS (then rho is above the cap)
        # rho lives in the low bits of acc only (the bits above are zm's, reloaded before a
        # forward read): fewer sources for them
        acc, lefts = self.rho, self.lefts
        out_bit = Signal()
        big = Signal()
        rights = Signal(5)  # a shift of 31 leaves nothing of r < 2**CONST_BITS
        with m.State("UPD_RHO"):  # the layer's exponent and nonzero flag
            m.d.comb += self.consts_r.addr.eq(self.const_addr(l, 3))
            m.next = "UPD_RHO_EXP"
        with m.State("UPD_RHO_EXP"):  # then its r_l[e & 1]
            ex = self.consts_r.data[:10].as_signed()
            s = -(ex >> 1)
            m.d.comb += self.consts_r.addr.eq(self.const_addr(l, 1 + ex[0]))
            right, left = self.rho_shifts(s)
            m.d.sync += [rights.eq(right), lefts.eq(left),
                         out_bit.eq(0), big.eq(0), self.cd_nonzero.eq(0)]
            with m.If(~self.consts_r.data[10]):
                m.next = "UPD_END"
            with m.Else():
                m.next = "UPD_RHO_LOAD"
        with m.State("UPD_RHO_LOAD"):
            m.d.sync += acc.eq(self.consts_r.data[:len(acc)])  # r < 2**CONST_BITS
            m.next = "UPD_RHO_RIGHT"
        with m.State("UPD_RHO_RIGHT"):
            with m.If(rights != 0):
                m.d.sync += [acc.eq(acc >> 1), out_bit.eq(acc[0]), rights.eq(rights - 1)]
            with m.Else():  # rounded half up: the last bit shifted out
                m.d.sync += acc.eq(acc + out_bit)
                m.next = "UPD_RHO_LEFT"
        with m.State("UPD_RHO_LEFT"):
            with m.If(lefts != 0):
                m.d.sync += [acc.eq(acc << 1), lefts.eq(lefts - 1)]
                with m.If(acc[-1]):
                    m.d.sync += big.eq(1)
            with m.Else():
                m.next = "UPD_RHO_CAP"
        with m.State("UPD_RHO_CAP"):
            capped = big | (acc[-1] & (acc[:-1] != 0))
            m.d.sync += acc.eq(Mux(capped, 1 << CONST_BITS, acc))  # rho
            with m.If(capped):
                m.d.sync += e.capped.eq(e.capped + 1)
            self.start_pass(self.fan_in[l] + 1, "UPD_X")
        with m.State("UPD_X"):
            m.d.comb += self.acts_r.addr.eq(self.at(l, self.p))
            with m.If(self.pv):
                h = Mux(self.pi == self.fan_in[l], self.D, self.acts_r.data)
                m.d.sync += [self.op.eq(h), self.op_v.eq(1), self.op_col.eq(0),
                             self.op_addr.eq(self.pi)]

            def then():
                self.start_pass(self.fan_out[l], "UPD_D")
            self.pass_step(then)
        with m.State("UPD_D"):
            m.d.comb += self.mant_r.addr.eq(self.at(l, self.p))
            with m.If(self.pv):
                m.d.sync += [self.op.eq(self.mant_r.data), self.op_v.eq(1), self.op_col.eq(1),
                             self.op_addr.eq(self.col0[l] + self.pi)]

            def then():
                m.next = "UPD_PIPE"
            self.pass_step(then)
        with m.State("UPD_PIPE"):  # the last product is being written (cd_nonzero after it)
            with m.If(~self.op_v):
                m.next = "UPD_GO"
        with m.State("UPD_GO"):
            with m.If(~self.cd_nonzero):
                m.next = "UPD_END"
            with m.Else():
                a = e.up_args
                m.d.comb += [e.up_start.eq(1), a.mode.eq(UpdateMode.DETERMINISTIC), a.dither.eq(1),
                             a.row_gain.eq(cfg.count_max), a.col_gain.eq(cfg.count_max),
                             a.row0.eq(0), a.nrows.eq(self.fan_in[l] + 1),
                             a.col0.eq(self.col0[l]), a.ncols.eq(self.fan_out[l])]
                m.next = "UPD_WAIT"
        with m.State("UPD_WAIT"), m.If(e.up_done):
            m.next = "UPD_DRAIN"
        with m.State("UPD_DRAIN"), m.If(~e.drivers_busy):
            m.d.comb += e.up_end.eq(1)
            m.next = "UPD_END"
        with m.State("UPD_END"):
            with m.If(l == 0):
                self.finish(1)
            with m.Elif(self.updating):
                m.d.sync += l.eq(l - 1)
                m.next = "UPD_RHO"
            with m.Else():
                self.start_pass(self.fan_out[l], "BACK_LOAD")

    # ------------------------------------------------------------------ transpose
    def backward_states(self):
        """Layer l's mantissas on its columns, a transpose read of its inputs' rows, times the
        stored derivative codes: err of layer l - 1 (then normalised)."""
        m, e, cfg = self.m, self.e, self.cfg
        l = self.l
        with m.State("BACK_LOAD"):
            m.d.comb += self.mant_r.addr.eq(self.at(l, self.p))
            with m.If(self.pv):
                m.d.comb += [self.colbuf_w.en.eq(1), self.colbuf_w.addr.eq(self.col0[l] + self.pi),
                             self.colbuf_w.data.eq(self.mant_r.data)]

            def then():
                m.d.sync += self.seen.eq(0)
                self.start_read(LineSide.COLS, self.col0[l], self.col0[l] + self.fan_out[l],
                                LineSide.ROWS, 0, self.fan_in[l], "BACK_READ")
            self.pass_step(then)
        ba, ia, va = self.word, self.word_j, self.word_v
        # (A) the read word and its derivative code from the RAM, (B) their product registered
        # (RAM -> multiplier -> RAM in one tick is too slow on the ECP5)
        prod, ic, vc = Signal(self.err_shape), Signal(range(self.LW + 1)), Signal()
        m.d.sync += [vc.eq(va), ic.eq(ia), prod.eq(ba * self.grads_r.data)]

        def stage_b():
            with m.If(vc):
                m.d.comb += [self.err_w.en.eq(1), self.err_w.addr.eq(ic), self.err_w.data.eq(prod)]
                self.track(prod)

        with m.State("BACK_READ"):
            with m.If(e.rd_word_valid):
                m.d.sync += [ba.eq(e.rd_word[:cfg.adc_bits].as_signed()), ia.eq(self.j),
                             va.eq(1), self.j.eq(self.j + 1)]
                m.d.comb += self.grads_r.addr.eq(self.at(l, self.j))
            stage_b()
            with m.If(e.rd_done):
                m.next = "BACK_FLUSH"
        with m.State("BACK_FLUSH"):
            stage_b()
            m.d.comb += self.consts_r.addr.eq(self.const_addr(l, 3))  # exponent of layer l
            m.d.sync += self.flush.eq(self.flush + 1)
            with m.If(self.flush == 3):
                m.d.sync += [self.base.eq(self.consts_r.data[:10].as_signed()), l.eq(l - 1)]
                m.next = "NORM_SHIFT"
