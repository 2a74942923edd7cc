"""In-situ update sequencer: x and d codes in, one stream of pulse slots out.

The schedule is :meth:`insitu.golden.controller.ControllerReference.plan_update`
and ``slot_schedule``, bit for bit: the same four sign subphases in the same
order, the same slot order, the same LFSR draws. Every line has its own level
register and comparator, so a slot's firing masks for all rows and columns
come out in one clock: an update takes O(rows + cols) cycles to compute the
levels (one line per tick, through one shared multiplier) and then one slot per ``pulse_width + pulse_gap`` ticks, never
O(rows * cols).

When a slot period (``pulse_width + pulse_gap``) is at least ``rows + cols + 2``
ticks (every board build: the 74HC595 enable chains shift two ticks per bit,
see ``insitu.boards.converters.required_pulse_gap``), the sequencer is
*serial* instead (:func:`serial_masks`): every line's LFSR state, level and
sign sit in one block RAM, and one line per tick passes through a single draw
network and comparator into a mask shift register, so a slot's masks take
``rows + cols + 2`` ticks, hidden behind the previous slot's pulse and gap.
The levels are computed by shift-and-add (``dac_bits + 2`` ticks per line)
instead of a multiplier. Same slots, same draws; a third of the logic.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from ..golden.controller import lfsr_seeds
from .layouts import (
    UpdateMode,
    dac_shape,
    device_pulse_layout,
    level_bits,
    line_read_members,
    slot_layout,
    update_args_layout,
)
from .lfsr import LFSR_WIDTH, lfsr_draw_value

# ticks from a slot's acceptance until the serial sequencer offers the next one
SERIAL_PASS_OVERHEAD = 2


def max_slots(config: ControllerConfig) -> int:
    """Most slots one command emits: four subphases of count_max**2 or bl slots (a write-verify
    step emits at most count_max)."""
    return 4 * max(config.count_max ** 2, config.bl)


def serial_masks(config: ControllerConfig) -> bool:
    """Whether the serial sequencer keeps up: one line per tick within a slot period."""
    return config.pulse_width + config.pulse_gap >= config.rows + config.cols + SERIAL_PASS_OVERHEAD


class UpdateSequencerSignature(wiring.Signature):
    """The sequencer's ports (the sequencer's view), for one ControllerConfig.

    Members
    -------
    start : In(1)
        Strobe: run the rank-1 update described by ``args``.
    args : In(update_args_layout)
        Mode, dither, gains and window; sampled with ``start``.
    pulse_start : In(1)
        Strobe: emit ``pulse_args.count`` slots firing only (row, col)
        (a write-verify step).
    busy, done : Out(1)
        ``done`` strobes once when the last slot has been handed out.
    x_addr, x_data, d_addr, d_data :
        Synchronous read ports of the x (row) and d (column) buffers (one tick latency).
    slots : Out(stream.Signature(slot_layout))
        The pulse slots, in schedule order.
    slot_count : Out(32)
        Slots emitted by the last command.
    lfsr_draws : Out(32)
        LFSR draws since reset (``LfsrBank.draws`` of the golden model).
    """

    def __init__(self, config: ControllerConfig):
        super().__init__({
            "start": In(1),
            "args": In(update_args_layout(config)),
            "pulse_start": In(1),
            "pulse_args": In(device_pulse_layout(config)),
            "busy": Out(1),
            "done": Out(1),
            **line_read_members(config, reader=True),
            "slots": Out(stream.Signature(slot_layout(config))),
            "slot_count": Out(32),
            "lfsr_draws": Out(32),
        })


class ParallelUpdateSequencer(wiring.Component):
    """Pulse-slot scheduler with a level register and comparator per line: a slot's masks in
    one tick, the levels through one shared multiplier. Ports: :class:`UpdateSequencerSignature`.
    """

    def __init__(self, config: ControllerConfig):
        self.config = config
        super().__init__(UpdateSequencerSignature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        shift = cfg.dac_bits - 1
        half = 1 << (shift - 1)
        lb = level_bits(cfg)
        slot_count = Signal(range(max_slots(cfg) + 1))  # the port is 32 bits, zero-extended
        m.d.comb += self.slot_count.eq(slot_count)

        # --- LFSRs: rows first, then columns; all draw together
        seeds = lfsr_seeds(cfg)
        state = [Signal(LFSR_WIDTH, init=int(seeds[k]), name=f"lfsr_{k}") for k in range(R + C)]
        drawn = [Signal(LFSR_WIDTH, name=f"lfsr_drawn_{k}") for k in range(R + C)]
        draw = Signal()
        for s, n in zip(state, drawn):
            m.d.comb += n.eq(lfsr_draw_value(s))
        with m.If(draw):
            m.d.sync += [s.eq(n) for s, n in zip(state, drawn)]
            m.d.sync += self.lfsr_draws.eq(self.lfsr_draws + 1)

        # --- per-line levels (pulse counts or firing codes) and signs
        level = [Signal(lb, name=f"level_{k}") for k in range(R + C)]
        negative = [Signal(name=f"negative_{k}") for k in range(R + C)]
        # largest level per sign class: [positive, negative]; a subphase runs iff both are nonzero
        row_max = Array(Signal(lb, name=f"row_max_{s}") for s in range(2))
        col_max = Array(Signal(lb, name=f"col_max_{s}") for s in range(2))

        args = Signal(update_args_layout(cfg))
        stochastic = args.mode == UpdateMode.STOCHASTIC
        dev = Signal(device_pulse_layout(cfg))

        # --- level computation, one row and one column per tick (buffers have 1 tick latency)
        # one multiplier for both sides: rows first (ticks 1..R), then columns (R+1..R+C)
        k = Signal(range(R + C + 2))
        prep_compute = Signal()  # PREP, a line's level is computed this tick
        prep_store = Signal()    # PREP, the level computed last tick is stored
        m.d.comb += [self.x_addr.eq(k), self.d_addr.eq(k - R)]
        # k - 1 as a line index over rows then columns, its side and index within the side;
        # registers (set from k one tick ahead), so no subtraction precedes the multiplier
        line = Signal(range(R + C + 1))
        line_is_col = Signal()
        line_in_side = Signal(range(max(R, C) + 1))
        m.d.sync += [line.eq(k), line_is_col.eq(k >= R), line_in_side.eq(Mux(k >= R, k - R, k))]

        def line_level(code, gain, lfsr_low):
            magnitude = Signal(shift, name=None)
            m.d.comb += magnitude.eq(abs(code))
            dithered = (args.mode == UpdateMode.DETERMINISTIC) & args.dither
            rounding = Mux(dithered, lfsr_low, half)
            return (magnitude * gain + rounding) >> shift

        def prep():
            """Two stages: the level of ``line`` into a register, then (next tick) into its
            line's register and the running maximum of its side and sign class (timing)."""
            is_col = line_is_col
            side_line = line_in_side
            first = Mux(is_col, args.col0, args.row0)
            count = Mux(is_col, args.ncols, args.nrows)
            code = Signal(dac_shape(cfg))
            m.d.comb += code.eq(Mux(is_col, self.d_data, self.x_data))
            gain = Mux(is_col, args.col_gain, args.row_gain)
            # out-of-range indexes read the last element; those lines are never written
            lfsr_low = Array(s[:shift] for s in state)[line]
            lvl = Signal(lb, name="prep_lvl")
            neg = Signal(name="prep_neg")
            col = Signal(name="prep_col")
            idx = Signal(range(R + C), name="prep_idx")
            valid = Signal(name="prep_valid")
            inside = (side_line >= first) & (side_line < first + count)
            with m.If(prep_compute):
                m.d.sync += [
                    lvl.eq(Mux(inside, line_level(code, gain, lfsr_low), 0)),
                    neg.eq(inside & (code < 0)),
                    idx.eq(line), col.eq(is_col),
                ]
            m.d.sync += valid.eq(prep_compute)
            with m.If(prep_store & valid):
                m.d.sync += [Array(level)[idx].eq(lvl), Array(negative)[idx].eq(neg)]
                with m.If(col):
                    with m.If(lvl > col_max[neg]):
                        m.d.sync += col_max[neg].eq(lvl)
                with m.Else():
                    with m.If(lvl > row_max[neg]):
                        m.d.sync += row_max[neg].eq(lvl)

        prep()

        # --- slot generation
        sub = Signal(2)  # subphase index: bit 1 = row negative, bit 0 = column negative
        sub_row_neg, sub_col_neg = sub[1], sub[0]
        p = Signal(lb)
        q = Signal(lb)
        t = Signal(range(cfg.bl))
        sample_mask = (1 << cfg.prob_bits) - 1

        def fire(k_line, counter):
            probe = Mux(stochastic, drawn[k_line] & sample_mask, counter)
            side_neg = sub_row_neg if k_line < R else sub_col_neg
            return (negative[k_line] == side_neg) & (probe < level[k_line])

        pmax = row_max[sub_row_neg]
        qmax = col_max[sub_col_neg]

        def next_subphase():
            with m.If(sub == 3):
                m.next = "DONE"
            with m.Else():
                m.d.sync += sub.eq(sub + 1)
                m.next = "SUBPHASE"

        self._fsm(m, SimpleNamespace(C=C, R=R, args=args, cfg=cfg, col_max=col_max, dev=dev,
            draw=draw, fire=fire, k=k, next_subphase=next_subphase, p=p, pmax=pmax,
            prep_compute=prep_compute, prep_store=prep_store, q=q, qmax=qmax, row_max=row_max,
            slot_count=slot_count, stochastic=stochastic, sub=sub, sub_col_neg=sub_col_neg,
            sub_row_neg=sub_row_neg, t=t))
        return m

    def _fsm(self, m, s):
        """The schedule FSM: levels (PREP), subphases, slots; a write-verify step's slots (DEVICE)."""
        (C, R, args, cfg, col_max, dev, draw, fire, k, next_subphase, p, pmax, prep_compute,
         prep_store, q, qmax, row_max, slot_count, stochastic, sub, sub_col_neg, sub_row_neg, t) = (
            s.C, s.R, s.args, s.cfg, s.col_max, s.dev, s.draw, s.fire, s.k, s.next_subphase, s.p,
            s.pmax, s.prep_compute, s.prep_store, s.q, s.qmax, s.row_max, s.slot_count,
            s.stochastic, s.sub, s.sub_col_neg, s.sub_row_neg, s.t)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        args.eq(self.args), k.eq(0), slot_count.eq(0),
                        row_max[0].eq(0), row_max[1].eq(0), col_max[0].eq(0), col_max[1].eq(0),
                    ]
                    with m.If((self.args.mode == UpdateMode.DETERMINISTIC) & self.args.dither):
                        m.d.comb += draw.eq(1)  # the dither draw comes before the levels use it
                    m.next = "PREP"
                with m.Elif(self.pulse_start):
                    m.d.sync += [dev.eq(self.pulse_args), slot_count.eq(0)]
                    with m.If(self.pulse_args.count == 0):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "DEVICE"
            with m.State("PREP"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += k.eq(k + 1)
                m.d.comb += [prep_compute.eq((k != 0) & (k <= R + C)), prep_store.eq(1)]
                with m.If(k == R + C + 1):
                    m.d.sync += sub.eq(0)
                    m.next = "SUBPHASE"
            with m.State("SUBPHASE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [p.eq(0), q.eq(0), t.eq(0)]
                with m.If((pmax != 0) & (qmax != 0)):
                    m.next = "SLOTS"
                with m.Else():
                    next_subphase()
            with m.State("SLOTS"):
                m.d.comb += [
                    self.busy.eq(1),
                    self.slots.valid.eq(1),
                    self.slots.payload.negative.eq(sub_row_neg ^ sub_col_neg),
                ]
                for i in range(R):
                    m.d.comb += self.slots.payload.rows[i].eq(fire(i, p))
                for j in range(C):
                    m.d.comb += self.slots.payload.cols[j].eq(fire(R + j, q))
                with m.If(self.slots.ready):
                    m.d.sync += slot_count.eq(slot_count + 1)
                    with m.If(stochastic):
                        m.d.comb += draw.eq(1)
                        m.d.sync += t.eq(t + 1)
                        with m.If(t == cfg.bl - 1):
                            next_subphase()
                    with m.Else():
                        # p outer, q inner, as in slot_schedule
                        m.d.sync += q.eq(q + 1)
                        with m.If(q == qmax - 1):
                            m.d.sync += [q.eq(0), p.eq(p + 1)]
                            with m.If(p == pmax - 1):
                                next_subphase()
            with m.State("DEVICE"):
                m.d.comb += [
                    self.busy.eq(1),
                    self.slots.valid.eq(1),
                    self.slots.payload.negative.eq(dev.negative),
                ]
                for i in range(R):
                    m.d.comb += self.slots.payload.rows[i].eq(dev.row == i)
                for j in range(C):
                    m.d.comb += self.slots.payload.cols[j].eq(dev.col == j)
                with m.If(self.slots.ready):
                    m.d.sync += [slot_count.eq(slot_count + 1), dev.count.eq(dev.count - 1)]
                    with m.If(dev.count == 1):
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.next = "IDLE"
        return m


class SerialUpdateSequencer(wiring.Component):
    """Pulse-slot scheduler with the lines' LFSR states, levels and signs in one block RAM and
    one draw network and comparator, one line per tick (a slot's masks in ``rows + cols + 2``
    ticks, behind the previous slot). Ports: :class:`UpdateSequencerSignature`.
    """

    def __init__(self, config: ControllerConfig):
        self.config = config
        super().__init__(UpdateSequencerSignature(config))

    def elaborate(self, platform):
        """One line per tick through one draw network and one comparator; the lines in block RAM."""
        m = Module()
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        N = R + C
        shift = cfg.dac_bits - 1
        half = 1 << (shift - 1)
        lb = level_bits(cfg)
        slot_count = Signal(range(max_slots(cfg) + 1))  # the port is 32 bits, zero-extended
        m.d.comb += self.slot_count.eq(slot_count)
        sample_mask = (1 << cfg.prob_bits) - 1

        # --- per line: LFSR state (as after its last draw), level, sign; and the seeds (a ROM:
        # after a reset the first PREP starts from the seeds, whatever the RAM holds)
        entry = data.StructLayout({"lfsr": LFSR_WIDTH, "level": lb, "negative": 1})
        seeds = [int(v) for v in lfsr_seeds(cfg)]
        m.submodules.lines = lines = Memory(
            shape=entry, depth=N, init=[{"lfsr": v, "level": 0, "negative": 0} for v in seeds])
        m.submodules.seeds = seed_rom = Memory(shape=LFSR_WIDTH, depth=N, init=seeds)
        wr, rd = lines.write_port(), lines.read_port()
        seed_rd = seed_rom.read_port()
        reseed = Signal(init=1)

        args = Signal(update_args_layout(cfg))
        stochastic = args.mode == UpdateMode.STOCHASTIC
        dithered = (args.mode == UpdateMode.DETERMINISTIC) & args.dither
        dev = Signal(device_pulse_layout(cfg))
        dev_col_line = Signal(range(N))
        device = Signal()  # the pass builds a write-verify mask (one row, one column)

        row_max = Array(Signal(lb, name=f"row_max_{s}") for s in range(2))
        col_max = Array(Signal(lb, name=f"col_max_{s}") for s in range(2))

        # --- the walk over lines: address k this tick, its entry (and buffer code) next tick
        k = Signal(range(N + 2))
        m.d.comb += [self.x_addr.eq(k), self.d_addr.eq(k - R), rd.addr.eq(k), seed_rd.addr.eq(k)]
        line = Signal(range(N + 1))
        line_is_col = Signal()
        line_in_side = Signal(range(max(R, C) + 1))
        m.d.sync += [line.eq(k), line_is_col.eq(k >= R), line_in_side.eq(Mux(k >= R, k - R, k))]
        cur = Signal(LFSR_WIDTH)
        m.d.comb += cur.eq(Mux(reseed, seed_rd.data, rd.data.lfsr))
        drawn = Signal(LFSR_WIDTH)
        m.d.comb += drawn.eq(lfsr_draw_value(cur))

        # --- PREP, per line: read (buffer code, RAM entry), load, multiply by shift-and-add
        # (one bit of the magnitude per tick: no multiplier, short paths), store into the RAM
        lvl = Signal(lb)
        neg = Signal()
        inside_q = Signal()
        new_lfsr = Signal(LFSR_WIDTH)
        first = Mux(line_is_col, args.col0, args.row0)
        count = Mux(line_is_col, args.ncols, args.nrows)
        code = Signal(dac_shape(cfg))
        m.d.comb += code.eq(Mux(line_is_col, self.d_data, self.x_data))
        gain = Mux(line_is_col, args.col_gain, args.row_gain)
        magnitude = Signal(shift)
        m.d.comb += magnitude.eq(abs(code))
        rounding = Mux(dithered, drawn[:shift], half)
        inside = (line_in_side >= first) & (line_in_side < first + count)
        mag_sh = Signal(shift)
        gain_sh = Signal(shift + len(args.row_gain))
        acc = Signal(shift + len(args.row_gain) + 1)
        bit = Signal(range(shift + 1))
        m.d.comb += lvl.eq(Mux(inside_q, acc >> shift, 0))

        # --- slot masks: one line per tick into a shift register (line l ends in bit l)
        sub = Signal(2)  # subphase index: bit 1 = row negative, bit 0 = column negative
        sub_row_neg, sub_col_neg = sub[1], sub[0]
        p = Signal(lb)
        q = Signal(lb)
        t = Signal(range(cfg.bl))
        mask = Signal(N)
        negative_out = Signal()
        pass_compute = Signal()
        e = rd.data
        probe = Mux(stochastic, drawn & sample_mask, Mux(line_is_col, q, p))
        side_neg = Mux(line_is_col, sub_col_neg, sub_row_neg)
        fire = Mux(device, (line == dev.row) | (line == dev_col_line),
                   (e.negative == side_neg) & (probe < e.level))
        with m.If(pass_compute):
            m.d.sync += mask.eq(Cat(mask[1:], fire))
            with m.If(stochastic & ~device):  # every LFSR draws once per stochastic slot
                m.d.comb += [wr.en.eq(1), wr.addr.eq(line), wr.data.lfsr.eq(drawn),
                             wr.data.level.eq(e.level), wr.data.negative.eq(e.negative)]
        m.d.comb += [
            self.slots.payload.rows.eq(mask[:R]),
            self.slots.payload.cols.eq(mask[R:]),
            self.slots.payload.negative.eq(negative_out),
        ]

        pmax = row_max[sub_row_neg]
        qmax = col_max[sub_col_neg]

        def next_subphase():
            with m.If(sub == 3):
                m.next = "DONE"
            with m.Else():
                m.d.sync += sub.eq(sub + 1)
                m.next = "SUBPHASE"

        def start_pass():
            m.d.sync += k.eq(0)
            m.next = "PASS"

        self._fsm(m, SimpleNamespace(N=N, R=R, acc=acc, args=args, bit=bit, cfg=cfg, code=code,
            col_max=col_max, cur=cur, dev=dev, dev_col_line=dev_col_line, device=device,
            dithered=dithered, drawn=drawn, gain=gain, gain_sh=gain_sh, inside=inside,
            inside_q=inside_q, k=k, line_is_col=line_is_col, lvl=lvl, mag_sh=mag_sh,
            magnitude=magnitude, neg=neg, negative_out=negative_out, new_lfsr=new_lfsr,
            next_subphase=next_subphase, p=p, pass_compute=pass_compute, pmax=pmax, q=q, qmax=qmax,
            reseed=reseed, rounding=rounding, row_max=row_max, shift=shift, slot_count=slot_count,
            start_pass=start_pass, stochastic=stochastic, sub=sub, sub_col_neg=sub_col_neg,
            sub_row_neg=sub_row_neg, t=t, wr=wr))
        return m

    def _fsm(self, m, s):
        """The schedule FSM: levels (PREP: load, shift-and-add, store), subphases, one pass per slot (PASS, OFFER)."""
        (N, R, acc, args, bit, cfg, code, col_max, cur, dev, dev_col_line, device, dithered,
         drawn, gain, gain_sh, inside, inside_q, k, line_is_col, lvl, mag_sh, magnitude, neg,
         negative_out, new_lfsr, next_subphase, p, pass_compute, pmax, q, qmax, reseed,
         rounding, row_max, shift, slot_count, start_pass, stochastic, sub, sub_col_neg,
         sub_row_neg, t, wr) = (
            s.N, s.R, s.acc, s.args, s.bit, s.cfg, s.code, s.col_max, s.cur, s.dev,
            s.dev_col_line, s.device, s.dithered, s.drawn, s.gain, s.gain_sh, s.inside,
            s.inside_q, s.k, s.line_is_col, s.lvl, s.mag_sh, s.magnitude, s.neg, s.negative_out,
            s.new_lfsr, s.next_subphase, s.p, s.pass_compute, s.pmax, s.q, s.qmax, s.reseed,
            s.rounding, s.row_max, s.shift, s.slot_count, s.start_pass, s.stochastic, s.sub,
            s.sub_col_neg, s.sub_row_neg, s.t, s.wr)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        args.eq(self.args), k.eq(0), slot_count.eq(0), device.eq(0),
                        row_max[0].eq(0), row_max[1].eq(0), col_max[0].eq(0), col_max[1].eq(0),
                    ]
                    with m.If((self.args.mode == UpdateMode.DETERMINISTIC) & self.args.dither):
                        m.d.sync += self.lfsr_draws.eq(self.lfsr_draws + 1)  # drawn in PREP
                    m.next = "PREP"
                with m.Elif(self.pulse_start):
                    m.d.sync += [dev.eq(self.pulse_args), slot_count.eq(0), device.eq(1),
                                 dev_col_line.eq(self.pulse_args.col + R),
                                 negative_out.eq(self.pulse_args.negative)]
                    with m.If(self.pulse_args.count == 0):
                        m.next = "DONE"
                    with m.Else():
                        start_pass()
            with m.State("PREP"):  # address k: code and entry next tick
                m.d.comb += self.busy.eq(1)
                m.next = "PREP_LOAD"
            with m.State("PREP_LOAD"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [
                    mag_sh.eq(magnitude), gain_sh.eq(gain), acc.eq(rounding), bit.eq(0),
                    new_lfsr.eq(Mux(dithered, drawn, cur)),
                    neg.eq(inside & (code < 0)), inside_q.eq(inside),
                ]
                m.next = "PREP_MUL"
            with m.State("PREP_MUL"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [acc.eq(acc + Mux(mag_sh[0], gain_sh, 0)), mag_sh.eq(mag_sh >> 1),
                             gain_sh.eq(gain_sh << 1), bit.eq(bit + 1)]
                with m.If(bit == shift - 1):
                    m.next = "PREP_STORE"
            with m.State("PREP_STORE"):
                m.d.comb += [self.busy.eq(1), wr.en.eq(1), wr.addr.eq(k), wr.data.lfsr.eq(new_lfsr),
                             wr.data.level.eq(lvl), wr.data.negative.eq(neg)]
                with m.If(line_is_col):
                    with m.If(lvl > col_max[neg]):
                        m.d.sync += col_max[neg].eq(lvl)
                with m.Else():
                    with m.If(lvl > row_max[neg]):
                        m.d.sync += row_max[neg].eq(lvl)
                m.d.sync += k.eq(k + 1)
                with m.If(k == N - 1):
                    m.d.sync += [sub.eq(0), reseed.eq(0)]
                    m.next = "SUBPHASE"
                with m.Else():
                    m.next = "PREP"
            with m.State("SUBPHASE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [p.eq(0), q.eq(0), t.eq(0), negative_out.eq(sub_row_neg ^ sub_col_neg)]
                with m.If((pmax != 0) & (qmax != 0)):
                    start_pass()
                with m.Else():
                    next_subphase()
            with m.State("PASS"):
                m.d.comb += [self.busy.eq(1), pass_compute.eq(k != 0)]
                m.d.sync += k.eq(k + 1)
                with m.If(k == N):
                    with m.If(stochastic & ~device):
                        m.d.sync += self.lfsr_draws.eq(self.lfsr_draws + 1)
                    m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.busy.eq(1), self.slots.valid.eq(1)]
                with m.If(self.slots.ready):
                    m.d.sync += slot_count.eq(slot_count + 1)
                    with m.If(device):
                        m.d.sync += dev.count.eq(dev.count - 1)
                        with m.If(dev.count == 1):
                            m.next = "DONE"
                    with m.Elif(stochastic):
                        m.d.sync += t.eq(t + 1)
                        with m.If(t == cfg.bl - 1):
                            next_subphase()
                        with m.Else():
                            start_pass()
                    with m.Else():
                        # p outer, q inner, as in slot_schedule
                        m.d.sync += q.eq(q + 1)
                        with m.If(q == qmax - 1):
                            m.d.sync += [q.eq(0), p.eq(p + 1)]
                            with m.If(p == pmax - 1):
                                next_subphase()
                            with m.Else():
                                start_pass()
                        with m.Else():
                            start_pass()
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.next = "IDLE"
        return m


def update_sequencer(config: ControllerConfig) -> wiring.Component:
    """The sequencer for ``config``: serial when it keeps up within a slot period
    (:func:`serial_masks`), else parallel. Same slots, same LFSR draws."""
    if serial_masks(config):
        return SerialUpdateSequencer(config)
    return ParallelUpdateSequencer(config)
