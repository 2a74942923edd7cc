"""Every accepted frame is answered within a bound: the answer budget and its invariants.

The property (``answered`` in :mod:`insitu.rtl.formal`) is a safety property with a counter:
from the tick a command is accepted (the command processor leaves IDLE with a frame waiting;
at the top level also the tick the host link starts an error answer of its own) until the
tick its first answer byte is offered, the counter never exceeds :func:`answer_bound`.

k-induction of a counter bound closes only if every tick of the wait is accounted for: the
harness asserts ``count <= elapsed_bound(state)``, an upper bound on the ticks since the
acceptance computed from the engines' states and counters (:func:`elapsed_bound`), which grows
by at least one in every tick the answer has not started. That is the ranking argument, and
the induction checks it transition by transition; each term below is a budget of one engine
(the decoder's argument bytes, the vector walk, the read engine, the converters with their
timeout, the write-verify decision, the sequencer's slots behind the line drivers), so the
bound is derived from the configuration: :func:`answer_budget`.

Scope: both update sequencers (parallel, and serial when the slot period is at least
``rows + cols + 2``), any number of converters and averaging, read levels in registers or in
a RAM; not the trainer engine (the harness builds none).
"""

from __future__ import annotations

import functools
import operator
from types import SimpleNamespace

from amaranth.hdl import Assert, Mux, Signal
from amaranth.lib import data

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from .decoder import ARGS_BYTES, args_view
from .layouts import Opcode, device_pulse_layout, update_args_layout
from .sequencer import serial_masks
from .write_verify import ERROR_BITS


def answer_budget(config: ControllerConfig) -> SimpleNamespace:
    """The budget terms in ticks (each an upper bound of one engine's part), and ``bound``."""
    c = config
    L = max(c.rows, c.cols)
    b = SimpleNamespace()
    b.check = ARGS_BYTES + 4                     # acceptance -> CHECK: decoder and its bytes
    b.conversion = c.convert_ticks + c.adc_timeout  # one conversion, busy up to the timeout
    b.readout = c.settle_ticks + 3 + c.adc_average * b.conversion + c.adcs  # start -> DONE
    b.read = 4 + L + b.readout + 1               # read engine start -> release / drop
    b.decide = 2 + 3 * ERROR_BITS                # write-verify: SUB, ABS, TOLERANCE, SHIFT
    b.period = c.pulse_width + c.pulse_gap
    b.serial = serial_masks(c)
    b.subphase_slots = max(c.count_max ** 2, c.bl)  # slots of one subphase (levels <= gains)
    b.update_slots = 4 * b.subphase_slots
    b.device_slots = c.count_max
    if b.serial:  # one line per tick: levels by shift-and-add, a mask pass per slot
        n = c.rows + c.cols
        b.line_prep = c.dac_bits - 1 + 3          # PREP, PREP_LOAD, the shifts, PREP_STORE
        b.prep = 1 + n * b.line_prep
        b.slot = n + 2 + b.period                 # a mask pass, then the offer behind a slot
        b.drain_update = b.prep + 10 + b.update_slots * b.slot + b.period
        b.drain_device = b.prep + 10 + b.device_slots * b.slot + b.period
    else:
        b.prep = c.rows + c.cols + 3              # sequencer start -> first SUBPHASE
        b.drain_update = b.prep + 10 + b.update_slots * b.period
        b.drain_device = b.prep + 10 + b.device_slots * b.period
    b.iteration = b.read + 2 + b.decide + b.drain_device + 1
    b.vector = b.check + 2 + 4 * L
    b.program = b.check + 1 + c.max_program_iters * b.iteration
    b.elapsed_max = max(b.check + 1, b.vector, b.check + b.read, b.check + 1 + b.drain_update,
                        b.program)
    b.bound = b.elapsed_max + 1                  # the answer tick itself
    return b


def answer_bound(config: ControllerConfig) -> int:
    """Ticks from an accepted command to its first answer byte, at most (the proven bound)."""
    return answer_budget(config).bound


def answer_invariants(m, eng, cfg: ControllerConfig, waiting, count, answer):
    """Assert the invariants that make ``count <= bound`` k-inductive (each one is proven).

    ``waiting``: a command was accepted and its answer has not started before this tick;
    ``count``: ticks since its acceptance; ``answer``: the first answer byte is offered now.
    """
    b = answer_budget(cfg)
    L = max(cfg.rows, cfg.cols)
    ctrl, dec, rde = eng.fsm(), eng.fsm("decoder"), eng.fsm("read")
    seq, wv = eng.fsm("sequencer"), eng.fsm("write_verify")
    readouts = {0: eng.fsm("row_readout"), 1: eng.fsm("col_readout")}
    writer_count = eng.signal(("response",), "count")
    hold = eng.component("read").hold
    opcode = eng.component("decoder").opcode.as_value()
    program = opcode == Opcode.PROGRAM.value
    pending = waiting & ~answer

    def inv(value, text):  # each on its own line: a failed proof names the invariant's line
        m.d.comb += Assert(value, f"answer invariant: {text}", src_loc_at=1)

    def implies(a, c):
        return ~a | c

    # --- engines idle between commands; the decoder and write-verify run exactly in their state
    inv(implies(ctrl.is_("IDLE"), writer_count == 0), "writer empty in IDLE")
    inv(dec.is_("IDLE") != ctrl.is_("DECODE"), "decoder runs exactly in DECODE")
    inv(wv.is_("IDLE") != ctrl.is_("PROGRAM_DECIDE"), "write-verify runs exactly in DECIDE")
    inv(implies(pending, ~ctrl.is_("IDLE", "FINISH", "BODY", "READ_VECTOR_ADDR",
                                   "READ_VECTOR_DATA")), "waiting: no answering state")

    def op_is(*ops):
        return functools.reduce(operator.or_, (opcode == op.value for op in ops))

    O = Opcode
    known = op_is(*(op for op in Opcode if op.protocol not in proto.TRAINER_OPCODES))
    inv(implies(dec.is_("ARGS", "VALIDATE") | ~ctrl.is_("IDLE", "DECODE", "FINISH"), known),
        "a decoded command has a known opcode")
    inv(implies(ctrl.is_("PROGRAM_READ", "PROGRAM_EVAL", "PROGRAM_DECIDE", "PROGRAM_PULSE",
                         "PROGRAM_DONE"), program), "PROGRAM states run a PROGRAM")
    inv(implies(ctrl.is_("UPDATE_START"), op_is(O.UPDATE)), "UPDATE_START runs an UPDATE")
    inv(implies(ctrl.is_("PULSES", "PULSES_DRAIN"), op_is(O.UPDATE, O.PROGRAM)),
        "pulses run an UPDATE or a PROGRAM")
    inv(implies(ctrl.is_("READ"), op_is(O.FORWARD, O.TRANSPOSE, O.READ_DEVICE, O.PROGRAM)),
        "a read runs a FORWARD, TRANSPOSE, READ_DEVICE or PROGRAM")
    inv(implies(ctrl.is_("VECTOR_WALK", "VECTOR_LO", "VECTOR_HI"), op_is(O.LOAD_VECTOR)),
        "the vector walk runs a LOAD_VECTOR")

    # --- the vector walk (LOAD_VECTOR)
    vec_count = eng.component("decoder").vec_count
    vec_pos = eng.signal((), "vec_pos")
    vec_pass = eng.signal((), "vec_pass_write")
    in_vector = ctrl.is_("VECTOR_WALK", "VECTOR_LO", "VECTOR_HI")
    inv(implies(in_vector, (vec_count >= 1) & (vec_count <= L)), "vector count in range")
    inv(implies(ctrl.is_("VECTOR_LO", "VECTOR_HI"), vec_pos < vec_count), "vector position")
    inv(implies(ctrl.is_("VECTOR_WALK"), vec_pos == 0), "vector walk starts at 0")

    # --- the read engine and its converters
    capture = eng.signal(("read",), "capture")
    sense = eng.signal(("read",), "sense")
    index = eng.signal(("read",), "index")
    drive_end = eng.signal(("read",), "drive_end")
    failed = eng.component("read").failed
    sense_first = eng.signal(("read",), "sense_first")
    sense_last = eng.signal(("read",), "sense_last")
    inv(implies(~rde.is_("IDLE"), capture == program), "a read captures exactly in PROGRAM")
    a_prog = args_view(eng.component("decoder").args, Opcode.PROGRAM)
    in_program = program & ctrl.is_("PROGRAM_READ", "READ", "PROGRAM_EVAL", "PROGRAM_DECIDE",
                                    "PROGRAM_PULSE", "PULSES", "PULSES_DRAIN")
    inv(implies(in_program, (a_prog.row < cfg.rows) & (a_prog.col < cfg.cols)),
        "PROGRAM's device as checked")
    inv(implies(rde.is_("LOAD"), (index <= drive_end) & (drive_end <= L)), "load index")
    inv(implies(rde.is_("DROP") & (capture | hold), failed), "a timeout before any code fails")
    inv(implies(rde.is_("IDLE", "PAD", "PADDED"), ~hold), "no header held outside a read")
    inv(implies(hold, writer_count != 0), "a held header is in the writer")
    inv(implies(capture, ~hold), "a capture read holds no header")
    writer_last = eng.signal(("response",), "last")
    inv(implies(rde.is_("RELEASE") & ~capture, writer_last), "a released read sent its last code")
    inv(implies(rde.is_("PADDED"), writer_last), "a padded read sent its last code")
    inv(implies(waiting & ctrl.is_("READ") & ~program, writer_count != 0),
        "waiting in a read: its header is in the writer")
    inv(implies(~rde.is_("IDLE") & capture, sense_last == sense_first + 1), "capture: one line")
    inv(implies(rde.is_("CONVERT"), ~Mux(sense, readouts[1].is_("IDLE"), readouts[0].is_("IDLE"))),
        "the sensing readout runs in CONVERT")
    side_lines = Mux(sense, cfg.cols, cfg.rows)
    inv(implies(~rde.is_("IDLE"), (sense_first < sense_last) & (sense_last <= side_lines)),
        "the read's window")
    readout_elapsed = {}
    for side, rd in readouts.items():
        path = ("row_readout",) if side == 0 else ("col_readout",)
        first, last = eng.signal(path, "first"), eng.signal(path, "last")
        base = eng.signal(path, "base")
        lines = cfg.rows if side == 0 else cfg.cols
        timer = eng.signal(path, "timer")
        waited = eng.signal(path, "waited")
        conversions = eng.signal(path, "conversions")
        converter = eng.signal(path, "converter")
        mux = eng.component(*path).adc.mux
        last_position = eng.signal(path, "last_position")
        sensing = ~rd.is_("IDLE")
        inv(implies(sensing, (first == sense_first) & (last == sense_last)),
            f"{path[0]}: the read's window")
        inv(implies(rd.is_("DONE") & ~capture, writer_last), f"{path[0]}: done after the last code")
        inv(implies(rd.is_("SETTLE"), timer <= cfg.settle_ticks), f"{path[0]} settle timer")
        inv(implies(rd.is_("WAIT"), (timer >= 1) & (timer <= cfg.convert_ticks)),
            f"{path[0]} conversion timer")
        inv(implies(rd.is_("WAIT"), waited <= cfg.adc_timeout - 1), f"{path[0]} busy wait")
        inv(implies(rd.is_("CONVERT", "WAIT"), conversions <= cfg.adc_average - 1),
            f"{path[0]} conversions")
        inv(implies(rd.is_("EMIT"), converter <= cfg.adcs - 1), f"{path[0]} converter")
        n = cfg.adcs  # converter k reads line mux * n + k
        inv(implies(sensing, base == mux * n), f"{path[0]}: base line of the mux position")
        inv(implies(sensing, last_position == (last - 1) // n), f"{path[0]}: the last position")
        inv(implies(sensing, (first // n <= mux) & (mux <= last_position) & (last <= lines)),
            f"{path[0]}: mux position in the window")
        inv(implies(~rd.is_("IDLE") & capture, mux == last_position),
            f"{path[0]}: a capture read has one mux position")
        inv(implies(~rd.is_("IDLE") & hold, mux == first // n),
            f"{path[0]}: no code yet, first mux position")
        inv(implies(rd.is_("EMIT") & hold, base + converter <= first),
            f"{path[0]}: no code yet, not past the first line")
        conv = cfg.settle_ticks + 2
        readout_elapsed[side] = Mux(
            rd.is_("SETTLE"), 1 + timer,
            Mux(rd.is_("CONVERT"), conv + conversions * b.conversion,
                Mux(rd.is_("WAIT"), conv + conversions * b.conversion + timer + waited,
                    Mux(rd.is_("EMIT"), conv + cfg.adc_average * b.conversion + converter,
                        b.readout))))
    read_elapsed = Mux(
        rde.is_("CLEAR"), 1, Mux(rde.is_("SINGLE"), 2, Mux(rde.is_("LOAD"), 2 + index,
            Mux(rde.is_("STROBE"), 3 + L, Mux(rde.is_("START"), 4 + L,
                Mux(rde.is_("CONVERT"),
                    4 + L + Mux(sense, readout_elapsed[1], readout_elapsed[0]), b.read))))))

    # --- write-verify: bit-serial subtraction and magnitude, then the shift (mag halves)
    bit = eng.signal(("write_verify",), "bit")
    mag = eng.signal(("write_verify",), "mag")
    shift_left = eng.signal(("write_verify",), "shift_left")
    shift_arg = eng.component("write_verify").shift
    shifted = Signal(9)  # shifts done so far
    remaining_bits = Signal(9)  # the magnitude's bits that may still be set
    m.d.comb += [shifted.eq(shift_arg - shift_left), remaining_bits.eq(ERROR_BITS - shifted)]
    inv(implies(wv.is_("SUB", "ABS"), bit <= ERROR_BITS - 1), "write-verify bit")
    inv(implies(wv.is_("SHIFT"), (shift_left <= shift_arg) & (shifted <= ERROR_BITS)),
        "write-verify shifts")
    inv(implies(wv.is_("SHIFT"), (mag >> remaining_bits) == 0),
        "write-verify: the magnitude halves per shift")
    decide_elapsed = Mux(wv.is_("SUB"), 1 + bit, Mux(wv.is_("ABS"), 1 + ERROR_BITS + bit,
                         Mux(wv.is_("TOLERANCE"), 1 + 2 * ERROR_BITS,
                             2 + 2 * ERROR_BITS + shifted)))

    # --- the sequencer's slots behind the line drivers
    active = eng.signal(("drivers",), "active")
    tick = eng.signal(("drivers",), "tick")
    slots = eng.signal(("sequencer",), "slot_count")
    k = eng.signal(("sequencer",), "k")
    sub = eng.signal(("sequencer",), "sub")
    p, q, t = (eng.signal(("sequencer",), n) for n in ("p", "q", "t"))
    args = data.View(update_args_layout(cfg), eng.signal(("sequencer",), "args"))
    dev = data.View(device_pulse_layout(cfg), eng.signal(("sequencer",), "dev"))
    row_max = [eng.signal(("sequencer",), f"row_max_{s}") for s in range(2)]
    col_max = [eng.signal(("sequencer",), f"col_max_{s}") for s in range(2)]
    pmax = Mux(sub[1], row_max[1], row_max[0])
    qmax = Mux(sub[0], col_max[1], col_max[0])
    stochastic = args.mode.as_value() == 1
    within = Mux(stochastic, t, p * qmax + q)
    inv(implies(slots == 0, ~active | ~ctrl.is_("PULSES", "PULSES_DRAIN")),
        "the drivers play only this command's slots")
    inv(implies(ctrl.is_("PULSES", "PULSES_DRAIN"),
                slots <= Mux(program, b.device_slots, b.update_slots)), "slots per command")
    sq = SimpleNamespace(seq=seq, program=program, active=active, tick=tick, slots=slots, k=k,
                         sub=sub, p=p, q=q, t=t, args=args, dev=dev, row_max=row_max,
                         col_max=col_max, pmax=pmax, qmax=qmax, stochastic=stochastic,
                         within=within)
    if b.serial:
        seq_elapsed = _serial_sequencer(inv, implies, eng, cfg, b, sq)
    else:
        seq_elapsed = _parallel_sequencer(inv, implies, eng, cfg, b, sq)

    # --- PROGRAM's iterations, and the command processor's state
    iters = eng.signal((), "iters")
    inv(implies(program & ~ctrl.is_("IDLE", "DECODE", "CHECK", "PROGRAM_DONE", "FINISH", "BODY"),
                iters <= cfg.max_program_iters - 1), "write-verify iterations")
    program_read = b.check + 1 + iters * b.iteration
    program_pulse = program_read + b.read + 2 + b.decide
    ctrl_elapsed = Mux(
        ctrl.is_("DECODE"), Mux(dec.is_("DECODE"), 1, Mux(dec.is_("ARGS"),
                                2 + eng.signal(("decoder",), "index"), ARGS_BYTES + 3)),
        Mux(ctrl.is_("CHECK"), b.check,
        Mux(ctrl.is_("VECTOR_WALK"), b.check + 1 + vec_pass * (1 + 2 * L),
        Mux(ctrl.is_("VECTOR_LO"), b.check + 2 + vec_pass * (1 + 2 * L) + 2 * vec_pos,
        Mux(ctrl.is_("VECTOR_HI"), b.check + 3 + vec_pass * (1 + 2 * L) + 2 * vec_pos,
        Mux(ctrl.is_("READ"), Mux(program, program_read, b.check) + read_elapsed,
        Mux(ctrl.is_("UPDATE_START"), b.check + 1,
        Mux(ctrl.is_("PULSES", "PULSES_DRAIN"),
            Mux(program, program_pulse, b.check + 1) + seq_elapsed,
        Mux(ctrl.is_("PROGRAM_READ"), program_read,
        Mux(ctrl.is_("PROGRAM_EVAL"), program_read + b.read + 1,
        Mux(ctrl.is_("PROGRAM_DECIDE"), program_read + b.read + 1 + decide_elapsed,
        Mux(ctrl.is_("PROGRAM_PULSE"), program_pulse,
            b.program))))))))))))  # PROGRAM_DONE
    elapsed = Signal(range(4 * b.bound + 64), name="answer_elapsed_bound")
    m.d.comb += elapsed.eq(ctrl_elapsed)
    inv(implies(pending, count <= elapsed), "count within the elapsed bound")
    inv(implies(pending, elapsed <= b.elapsed_max), "the elapsed bound is within the budget")
    return b


def _parallel_sequencer(inv, implies, eng, cfg, b, sq):
    """Invariants and elapsed ticks (since its start) of the parallel sequencer."""
    seq, program, active, tick, slots, k, sub = (sq.seq, sq.program, sq.active, sq.tick,
                                                 sq.slots, sq.k, sq.sub)
    p, q, t, args, dev = sq.p, sq.q, sq.t, sq.args, sq.dev
    row_max, col_max = sq.row_max, sq.col_max
    pmax, qmax, stochastic, within = sq.pmax, sq.qmax, sq.stochastic, sq.within
    sub_slots = b.subphase_slots
    # levels never exceed the checked gains, so a subphase emits at most count_max**2 or bl slots
    gmax = Mux(stochastic, cfg.prob_max, cfg.count_max)
    prep_lvl = eng.signal(("sequencer",), "prep_lvl")
    inv(implies(~seq.is_("IDLE") & ~program, (args.row_gain <= gmax) & (args.col_gain <= gmax)),
        "update gains as checked")
    prep_valid = eng.signal(("sequencer",), "prep_valid")
    inv(implies(seq.is_("PREP") & prep_valid, prep_lvl <= gmax), "a line's level within its gain")
    inv(implies(seq.is_("PREP", "SUBPHASE", "SLOTS") & ~program,
                (row_max[0] <= gmax) & (row_max[1] <= gmax) & (col_max[0] <= gmax)
                & (col_max[1] <= gmax)), "largest levels within the gains")
    inv(implies(seq.is_("PREP"), (slots == 0) & ~active), "no slot before the levels")
    inv(implies(seq.is_("PREP"), k <= cfg.rows + cfg.cols + 1), "level index")
    inv(implies(seq.is_("SUBPHASE") & ~program, slots <= sub * sub_slots), "slots per subphase")
    inv(implies(seq.is_("SLOTS") & ~program, slots <= sub * sub_slots + within),
        "slots within a subphase")
    inv(implies(seq.is_("SLOTS") & ~stochastic, (p < pmax) & (q < qmax)), "slot counters")
    inv(implies(seq.is_("SLOTS") & stochastic, t <= cfg.bl - 1), "stochastic slot counter")
    inv(implies(seq.is_("DEVICE"), (dev.count >= 1) & (slots + dev.count <= cfg.count_max)),
        "write-verify burst")
    inv(implies(program & ~seq.is_("IDLE"), seq.is_("DEVICE", "DONE")), "PROGRAM pulses a device")
    inv(implies(~program & ~seq.is_("IDLE"), ~seq.is_("DEVICE")), "UPDATE: no device burst")
    period = b.period
    played = Mux(slots == 0, 0, (slots - 1) * period + Mux(active, tick + 1, period))
    seq_elapsed = Mux(
        seq.is_("PREP"), 1 + k,
        Mux(seq.is_("SUBPHASE"), b.prep + 2 * sub + played,
            Mux(seq.is_("SLOTS"), b.prep + 2 * sub + 1 + played,
                Mux(seq.is_("DEVICE"), 1 + played,
                    Mux(seq.is_("DONE"), b.prep + 8 + played,
                        b.prep + 9 + played + ~active)))))  # IDLE: the drivers drain
    return seq_elapsed


def _serial_sequencer(inv, implies, eng, cfg, b, sq):
    """Invariants and elapsed ticks (since its start) of the serial sequencer: per line PREP,
    PREP_LOAD, ``dac_bits - 1`` shift-and-add ticks, PREP_STORE; per slot a mask pass over the
    lines (PASS) and the offer (OFFER) behind the drivers' slot."""
    seq, program, active, tick, slots, k, sub = (sq.seq, sq.program, sq.active, sq.tick,
                                                 sq.slots, sq.k, sq.sub)
    t, dev, stochastic, within = sq.t, sq.dev, sq.stochastic, sq.within
    n = cfg.rows + cfg.cols
    shift = cfg.dac_bits - 1
    bit = eng.signal(("sequencer",), "bit")
    device = eng.signal(("sequencer",), "device")
    preparing = seq.is_("PREP", "PREP_LOAD", "PREP_MUL", "PREP_STORE")
    slotting = seq.is_("PASS", "OFFER")
    # a line's level by shift-and-add: acc + mag_sh * gain_sh stays rounding + magnitude * gain,
    # so the level (acc >> shift) never exceeds the checked gain
    args = sq.args
    gmax = Mux(stochastic, cfg.prob_max, cfg.count_max)
    acc, mag_sh = eng.signal(("sequencer",), "acc"), eng.signal(("sequencer",), "mag_sh")
    gain_sh = eng.signal(("sequencer",), "gain_sh")
    line_is_col = eng.signal(("sequencer",), "line_is_col")
    gain = Mux(line_is_col, args.col_gain, args.row_gain)
    top = ((1 << shift) - 1) * (gain + 1)
    inv(implies(~seq.is_("IDLE") & ~program, (args.row_gain <= gmax) & (args.col_gain <= gmax)),
        "update gains as checked")
    inv(implies(seq.is_("PREP_LOAD", "PREP_MUL", "PREP_STORE"), line_is_col == (k >= cfg.rows)),
        "levels: the line's side")
    bits_left = (shift - bit).as_unsigned()  # bit <= shift - 1 in PREP_MUL
    inv(implies(seq.is_("PREP_MUL"), (gain_sh == (gain << bit)) & ((mag_sh >> bits_left) == 0)
                & (acc + mag_sh * gain_sh <= top)), "levels: shift-and-add in range")
    inv(implies(seq.is_("PREP_STORE"), (mag_sh == 0) & (acc <= top)), "levels: the product")
    inv(implies((preparing | seq.is_("SUBPHASE") | slotting) & ~program,
                (sq.row_max[0] <= gmax) & (sq.row_max[1] <= gmax) & (sq.col_max[0] <= gmax)
                & (sq.col_max[1] <= gmax)), "largest levels within the gains")
    inv(implies(preparing, (slots == 0) & ~active & (k <= n - 1)), "levels: line index")
    inv(implies(seq.is_("PREP_MUL"), bit <= shift - 1), "levels: shift-and-add bit")
    inv(implies(seq.is_("PASS"), k <= n), "mask pass index")
    inv(implies(~seq.is_("IDLE"), device == program), "a device burst exactly in PROGRAM")
    inv(implies(program & ~seq.is_("IDLE"), seq.is_("PASS", "OFFER", "DONE")),
        "PROGRAM pulses a device")
    inv(implies(seq.is_("SUBPHASE") & ~program, slots <= sub * b.subphase_slots),
        "slots per subphase")
    inv(implies(slotting & ~program, slots <= sub * b.subphase_slots + within),
        "slots within a subphase")
    inv(implies(slotting & ~program & ~stochastic, (sq.p < sq.pmax) & (sq.q < sq.qmax)),
        "slot counters")
    inv(implies(slotting & ~program & stochastic, t <= cfg.bl - 1), "stochastic slot counter")
    inv(implies(slotting & program, (dev.count >= 1) & (slots + dev.count <= cfg.count_max)),
        "write-verify burst")
    lc, w = b.line_prep, b.slot
    base = Mux(program, 0, b.prep + 2 * sub) + slots * w
    behind = Mux(slots == 0, 0, Mux(active, tick + 1, b.period))  # the last slot still playing
    return Mux(
        seq.is_("PREP"), 1 + k * lc,
        Mux(seq.is_("PREP_LOAD"), 2 + k * lc,
        Mux(seq.is_("PREP_MUL"), 3 + k * lc + bit,
        Mux(seq.is_("PREP_STORE"), 3 + shift + k * lc,
        Mux(seq.is_("SUBPHASE"), b.prep + 2 * sub + slots * w,
        Mux(seq.is_("PASS"), base + 1 + k,
        Mux(seq.is_("OFFER"), base + n + 2 + Mux(active, tick + 1, 0),
        Mux(seq.is_("DONE"), b.prep + 8 + slots * w + behind,
            b.prep + 9 + slots * w + behind + ~active))))))))  # IDLE: the drivers drain
