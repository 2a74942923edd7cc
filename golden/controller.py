"""Golden controller reference: exactly what the digital controller computes.

This module is the single Python definition of the controller's integer
behaviour. The RTL (:mod:`insitu.rtl`) is checked against it bit for bit, and
:class:`insitu.golden.backends.GoldenBackend` computes its pulse counts and ADC
sequencing through it, so the schedule has exactly one definition.

Update rules (all integer)
--------------------------
Inputs are signed DAC-range codes ``x`` (one per row in the window) and ``d``
(one per column), and two unsigned gains. A code's *sign* is ``code < 0``; its
*magnitude* is ``|code|``. The device polarity of (i, j) is
``sign(x_i) * sign(d_j)``: the controller moves ``w_ij`` along ``x_i d_j``
(a trainer passes ``d = -eta * error`` for descent).

The update runs in four *subphases* in this fixed order, one per sign pair
``(sx, sd)``: ``(+,+), (+,-), (-,+), (-,-)``; subphase polarity is ``sx*sd``.
Only rows with sign ``sx`` and columns with sign ``sd`` may fire in it, so
every device sees pulses of a single polarity within one update command. A
device (i, j) receives a pulse in a slot iff its row and its column both fire.

* ``deterministic``: line counts ``a_i = (|x_i| * row_gain + r_i) >> (dac_bits-1)``
  and ``b_j = (|d_j| * col_gain + r_j) >> (dac_bits-1)`` with gains in
  ``[0, count_max]``; ``r = 2**(dac_bits-2)`` (round half up) or, with
  ``dither``, ``r`` = the low ``dac_bits-1`` bits of the line's LFSR after one
  draw (stochastic rounding: unbiased in expectation). A subphase with
  ``P = max a`` and ``Q = max b`` (over its lines) runs ``P*Q`` slots,
  ``p`` outer and ``q`` inner; row i fires iff ``a_i > p``, column j iff
  ``b_j > q``. Device (i, j) gets exactly ``a_i * b_j`` pulses. Subphases with
  ``P == 0`` or ``Q == 0`` are skipped.
* ``stochastic``: firing codes ``p_i = (|x_i| * row_gain + 2**(dac_bits-2)) >> (dac_bits-1)``
  with gains in ``[0, 2**prob_bits]``; a subphase with a nonzero firing code on
  both sides runs ``bl`` slots; in each slot every LFSR draws once and line k
  fires iff ``sample_k < p_k`` (``sample`` = low ``prob_bits`` bits).

LFSRs
-----
One 16-bit Galois LFSR per line (rows first, then columns), polynomial
``x^16 + x^14 + x^13 + x^11 + 1`` (tap mask ``0xB400``, period 65535). A *draw*
advances a register by 16 single steps; all LFSRs draw together, at every
stochastic slot and once at the start of every dithered deterministic update,
whether or not their line takes part. Initial states come from
:func:`lfsr_seeds`. Because all registers advance together, the golden model
keeps one global draw counter and looks states up in the period table.

ADC sequencing
--------------
``adcs`` converters share the read-out lines of one side through a
multiplexer: converter k reads line ``m*adcs + k`` at mux position m. A read
of lines ``[l0, l1)`` visits mux positions ``l0//adcs .. (l1-1)//adcs`` in
order; at each, ``adc_average`` conversions are made (all converters at once)
and each line's result is ``(sum + N//2) >> log2(N)`` (arithmetic shift). Every
conversion event consumes ``adcs`` read-noise draws in the analog model, in
converter order, including converters whose line is outside the window.

Write-verify
------------
Program device (i, j) to a target ADC code: repeat up to ``max_program_iters``
times: read the device (row i at ``read_code``, every other row at 0, convert
column j); ``err = target - code``; stop if ``|err| <= tolerance``; else apply
``n = clamp(|err| >> shift, 1, count_max)`` pulses of polarity ``sign(err)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .config import ControllerConfig, check_mode
from .validate import check_codes, check_int

LFSR_TAPS = 0xB400
LFSR_PERIOD = 65535
LFSR_STEPS_PER_DRAW = 16
SUBPHASES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row negative, column negative)


def lfsr_step(state: int) -> int:
    """One Galois step of the 16-bit LFSR."""
    lsb = state & 1
    state >>= 1
    if lsb:
        state ^= LFSR_TAPS
    return state


def lfsr_draw(state: int) -> int:
    """One draw: ``LFSR_STEPS_PER_DRAW`` single steps."""
    for _ in range(LFSR_STEPS_PER_DRAW):
        state = lfsr_step(state)
    return state


def lfsr_seeds(config: ControllerConfig) -> np.ndarray:
    """Initial LFSR states, rows then columns: a 32-bit integer hash of (seed, line)."""
    out = np.empty(config.rows + config.cols, dtype=np.int64)
    for k in range(out.size):
        h = (config.seed * 0x9E3779B1 + (k + 1) * 0x85EBCA77) & 0xFFFFFFFF
        h ^= h >> 15
        h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
        h ^= h >> 12
        out[k] = (h & 0xFFFF) or 1
    return out


@lru_cache(maxsize=1)
def _lfsr_tables() -> tuple[np.ndarray, np.ndarray]:
    """State after k single steps from state 1, and the inverse map state -> k."""
    table = np.empty(LFSR_PERIOD, dtype=np.int64)
    s = 1
    for k in range(LFSR_PERIOD):
        table[k] = s
        s = lfsr_step(s)
    assert s == 1, "LFSR polynomial is not maximal"
    inverse = np.empty(LFSR_PERIOD + 1, dtype=np.int64)
    inverse[table] = np.arange(LFSR_PERIOD)
    return table, inverse


class LfsrBank:
    """All line LFSRs of a controller, advanced together (fast table lookup)."""

    def __init__(self, config: ControllerConfig):
        table, inverse = _lfsr_tables()
        self._table = table
        self._pos0 = inverse[lfsr_seeds(config)]
        self.draws = 0

    @property
    def table(self) -> np.ndarray:
        """States after k single steps from state 1 (k = 0 .. period-1)."""
        return self._table

    @property
    def positions(self) -> np.ndarray:
        """Each line's initial position in :attr:`table`."""
        return self._pos0

    def states(self, draws: int | None = None) -> np.ndarray:
        """States of all lines after ``draws`` draws (default: now)."""
        d = self.draws if draws is None else draws
        return self._table[(self._pos0 + LFSR_STEPS_PER_DRAW * d) % LFSR_PERIOD]

    def draw_block(self, n: int, lines=None) -> np.ndarray:
        """Advance by ``n`` draws; return states after each, shape (n, lines): of every line,
        or of the line indices ``lines`` only (all lines advance)."""
        steps = LFSR_STEPS_PER_DRAW * (self.draws + 1 + np.arange(n))
        pos0 = self._pos0 if lines is None else self._pos0[lines]
        out = self._table[(pos0[None, :] + steps[:, None]) % LFSR_PERIOD]
        self.draws += n
        return out

    def state_dict(self) -> dict:
        return {"draws": int(self.draws)}

    def load_state_dict(self, d: dict) -> None:
        self.draws = int(d["draws"])


@lru_cache(maxsize=256)
def _window_lines(rows: int, row0: int, nr: int, col0: int, nc: int) -> np.ndarray:
    """LFSR line indices of an update window: its rows, then its columns (after all rows)."""
    out = np.concatenate([np.arange(row0, row0 + nr), rows + np.arange(col0, col0 + nc)])
    out.setflags(write=False)
    return out


def _kernel_array(a: np.ndarray) -> np.ndarray:
    """``a`` as the one array type the plan kernel is compiled for (C-contiguous, writable):
    another type would compile a second specialisation at its first call."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a)


@dataclass
class UpdatePlan:
    """What one update command does, in the controller's integer domain.

    Attributes
    ----------
    counts: (rows, cols) int64, signed pulse counts (sign = polarity) over the window.
    slots: number of pulse slots executed.
    subphases: list of (row_negative, col_negative, slots) executed, in order.
    row_levels, col_levels: per-line counts (deterministic) or firing codes (stochastic).
    row_bits, col_bits: stochastic only, per executed subphase the firing bits
        (slots, lines) of that subphase (for the slot scoreboard).
    """

    counts: np.ndarray
    slots: int
    subphases: list = field(default_factory=list)
    row_levels: np.ndarray | None = None
    col_levels: np.ndarray | None = None
    row_negative: np.ndarray | None = None
    col_negative: np.ndarray | None = None
    row_bits: list = field(default_factory=list)
    col_bits: list = field(default_factory=list)


class ControllerReference:
    """Fixed-point model of the controller for one :class:`ControllerConfig`.

    It owns the LFSR bank (the controller's only state besides its buffers), so
    one instance must see the same command sequence as the RTL it mirrors.
    """

    def __init__(self, config: ControllerConfig, *, compiled: bool = True):
        self.config = config
        self.lfsr = LfsrBank(config)
        #: stochastic plans by the numba kernel of :mod:`.plan_kernel` (bit-identical);
        #: False: by the numpy reference, :meth:`_plan_stochastic_numpy`
        self.compiled = bool(compiled)

    # ------------------------------------------------------------------ update
    def plan_update(
        self,
        x_codes,
        d_codes,
        *,
        mode: str = "deterministic",
        row_gain: int,
        col_gain: int,
        dither: bool = False,
        row0: int = 0,
        col0: int = 0,
    ) -> UpdatePlan:
        """Pulse counts of one rank-1 update on the window starting at (row0, col0).

        ``x_codes`` has one code per window row, ``d_codes`` one per window column.
        Advances the LFSR bank exactly as the RTL does.
        """
        cfg = self.config
        check_mode(mode)
        x = np.asarray(x_codes)
        d = np.asarray(d_codes)
        nr, nc = x.shape[-1], d.shape[-1]
        check_int("row0", row0, 0, cfg.rows - 1)
        check_int("col0", col0, 0, cfg.cols - 1)
        x = check_codes("x_codes", x, (min(nr, cfg.rows - row0),), -cfg.dac_max, cfg.dac_max)
        d = check_codes("d_codes", d, (min(nc, cfg.cols - col0),), -cfg.dac_max, cfg.dac_max)
        gmax = cfg.count_max if mode == "deterministic" else cfg.prob_max
        check_int("row_gain", row_gain, 0, gmax)
        check_int("col_gain", col_gain, 0, gmax)
        shift = cfg.dac_bits - 1
        half = 1 << (shift - 1)
        xneg, dneg = x < 0, d < 0
        rows_sel = slice(row0, row0 + nr)
        cols_sel = slice(cfg.rows + col0, cfg.rows + col0 + nc)

        if mode == "deterministic":
            xmag, dmag = np.abs(x), np.abs(d)
            if dither:
                states = self.lfsr.draw_block(1)[0]
                mask = (1 << shift) - 1
                rr, rc = states[rows_sel] & mask, states[cols_sel] & mask
            else:
                rr = rc = half
            a = (xmag * row_gain + rr) >> shift
            b = (dmag * col_gain + rc) >> shift
            counts = np.outer(np.where(xneg, -a, a), np.where(dneg, -b, b))
            plan = UpdatePlan(
                counts=counts, slots=0, row_levels=a, col_levels=b,
                row_negative=xneg, col_negative=dneg,
            )
            for sx, sd in SUBPHASES:
                P = int(a[xneg == bool(sx)].max(initial=0))
                Q = int(b[dneg == bool(sd)].max(initial=0))
                if P and Q:
                    plan.subphases.append((sx, sd, P * Q))
                    plan.slots += P * Q
            return plan

        if self.compiled:
            return self._plan_stochastic_compiled(x, d, xneg, dneg, row_gain, col_gain,
                                                  row0, col0)
        return self._plan_stochastic_numpy(x, d, xneg, dneg, row_gain, col_gain, row0, col0)

    def _plan_stochastic_compiled(self, x, d, xneg, dneg, row_gain, col_gain, row0, col0):
        """The stochastic plan by :func:`.plan_kernel.stochastic_plan` (same plan, bit for bit,
        as :meth:`_plan_stochastic_numpy`)."""
        from .plan_kernel import stochastic_plan

        cfg = self.config
        shift = cfg.dac_bits - 1
        bank = self.lfsr
        p, q, counts, rbits, cbits, live = stochastic_plan(
            _kernel_array(x), _kernel_array(d), int(row_gain), int(col_gain),
            shift, 1 << (shift - 1), (1 << cfg.prob_bits) - 1, cfg.bl, bank.table,
            bank.positions, row0, cfg.rows + col0, bank.draws, LFSR_STEPS_PER_DRAW)
        plan = UpdatePlan(
            counts=counts, slots=0, row_levels=p, col_levels=q,
            row_negative=xneg, col_negative=dneg,
        )
        k = 0
        for sub in range(4):
            if live[sub]:
                sx, sd = SUBPHASES[sub]
                plan.subphases.append((sx, sd, cfg.bl))
                plan.row_bits.append(rbits[k])
                plan.col_bits.append(cbits[k])
                k += 1
        plan.slots = cfg.bl * k
        bank.draws += cfg.bl * k
        return plan

    def _plan_stochastic_numpy(self, x, d, xneg, dneg, row_gain, col_gain, row0, col0):
        """The stochastic plan in numpy: the reference of the compiled kernel."""
        cfg = self.config
        nr, nc = x.shape[-1], d.shape[-1]
        shift = cfg.dac_bits - 1
        half = 1 << (shift - 1)
        xmag, dmag = np.abs(x), np.abs(d)
        p = (xmag * row_gain + half) >> shift
        q = (dmag * col_gain + half) >> shift
        smask = (1 << cfg.prob_bits) - 1
        counts = np.zeros((nr, nc), dtype=np.int64)
        plan = UpdatePlan(
            counts=counts, slots=0, row_levels=p, col_levels=q,
            row_negative=xneg, col_negative=dneg,
        )
        # the subphases that run (each draws bl states of every line, in order), all at once:
        # their draws in one block, of the window's lines only
        signs = np.array(SUBPHASES, dtype=bool)
        rsel = (xneg[None, :] == signs[:, :1]) & (p > 0)
        csel = (dneg[None, :] == signs[:, 1:]) & (q > 0)
        live = np.flatnonzero(rsel.any(axis=1) & csel.any(axis=1))
        if live.size == 0:
            return plan
        bl = cfg.bl
        window = _window_lines(cfg.rows, row0, nr, col0, nc)
        states = (self.lfsr.draw_block(live.size * bl, window) & smask).reshape(live.size, bl, -1)
        rbits = (states[:, :, :nr] < p) & rsel[live, None, :]
        cbits = (states[:, :, nr:] < q) & csel[live, None, :]
        # every slot's row bits signed by its subphase's polarity: one product sums them all
        pol = np.where(signs[live, 0] == signs[live, 1], 1, -1)
        counts += (rbits * pol[:, None, None]).reshape(-1, nr).T @ cbits.reshape(-1, nc).astype(np.int64)
        for k, sub in enumerate(live.tolist()):
            sx, sd = SUBPHASES[sub]
            plan.subphases.append((sx, sd, bl))
            plan.row_bits.append(rbits[k])
            plan.col_bits.append(cbits[k])
        plan.slots = bl * live.size
        return plan

    def slot_schedule(self, plan: UpdatePlan):
        """Yield every pulse slot of a plan: (polarity, row_fire, col_fire) boolean masks.

        Polarity is +1 or -1. This is the slot-by-slot schedule the RTL must emit.
        """
        levels_r, levels_c = plan.row_levels, plan.col_levels
        stochastic = bool(plan.row_bits)
        for k, (sx, sd, n) in enumerate(plan.subphases):
            pol = 1 if sx == sd else -1
            if stochastic:
                for t in range(n):
                    yield pol, plan.row_bits[k][t], plan.col_bits[k][t]
                continue
            # deterministic: P*Q slots, p outer; masks restricted to the subphase's signs
            rs = plan.row_negative == bool(sx)
            cs = plan.col_negative == bool(sd)
            P = int(levels_r[rs].max(initial=0))
            Q = int(levels_c[cs].max(initial=0))
            for p in range(P):
                for q in range(Q):
                    yield pol, rs & (levels_r > p), cs & (levels_c > q)

    def schedule(self, x_codes, d_codes, **kw):
        """Plan an update and return (plan, list of slots) for a scoreboard."""
        plan = self.plan_update(x_codes, d_codes, **kw)
        return plan, list(self.slot_schedule(plan))

    def update_cycles(self, plan: UpdatePlan) -> int:
        """Clock ticks the pulse slots of one update take (excluding command overhead)."""
        return plan.slots * (self.config.pulse_width + self.config.pulse_gap)

    # ------------------------------------------------------------------ reads
    def adc_positions(self, l0: int, l1: int) -> range:
        """Multiplexer positions a read of lines [l0, l1) visits, in order."""
        a = self.config.adcs
        return range(l0 // a, (l1 - 1) // a + 1)

    def average(self, samples) -> np.ndarray:
        """Combine ``adc_average`` conversions (axis 0) into one code per line."""
        s = np.asarray(samples, dtype=np.int64).sum(axis=0)
        n = self.config.adc_average
        k = n.bit_length() - 1
        return (s + (n >> 1)) >> k

    def read_cycles(self, l0: int, l1: int) -> int:
        """Converter time of a read of lines [l0, l1): settle + conversions per position."""
        c = self.config
        per_pos = c.settle_ticks + c.adc_average * c.convert_ticks
        return len(self.adc_positions(l0, l1)) * per_pos

    # ------------------------------------------------------------------ program
    def program_step(self, target: int, code: int, *, tolerance: int, shift: int) -> int:
        """Signed pulse count write-verify applies after reading ``code`` (0 = done)."""
        return int(
            program_steps(target, code, tolerance=tolerance, shift=shift,
                          count_max=self.config.count_max)
        )

    def state_dict(self) -> dict:
        return {"lfsr": self.lfsr.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        self.lfsr.load_state_dict(d["lfsr"])


def deterministic_counts(x, d, row_gain, col_gain, dac_bits: int, rr=None, rc=None):
    """Signed ``a_i * b_j`` counts and the slot count of a deterministic update.

    Vectorised over a leading instance axis: ``x`` (K, rows), ``d`` (K, cols) ->
    counts (K, rows, cols) and slots (K,). ``rr``/``rc`` are the rounding
    offsets (default: half, i.e. round half up; the dither draws otherwise).
    The same arithmetic as :meth:`ControllerReference.plan_update`; the slot
    count uses ``sum over subphases P*Q = (P+ + P-) * (Q+ + Q-)``.
    """
    shift = dac_bits - 1
    half = 1 << (shift - 1)
    ax, ad = np.abs(x), np.abs(d)
    a = (ax * row_gain + (half if rr is None else rr)) >> shift
    b = (ad * col_gain + (half if rc is None else rc)) >> shift
    xn, dn = x < 0, d < 0
    p_sum = np.where(xn, 0, a).max(axis=-1) + np.where(xn, a, 0).max(axis=-1)
    q_sum = np.where(dn, 0, b).max(axis=-1) + np.where(dn, b, 0).max(axis=-1)
    a = np.where(xn, -a, a)
    b = np.where(dn, -b, b)
    return a[..., :, None] * b[..., None, :], p_sum * q_sum


def program_steps(target, codes, *, tolerance: int, shift: int, count_max: int) -> np.ndarray:
    """Vectorised :meth:`ControllerReference.program_step`: signed pulse counts (0 = done)."""
    err = np.asarray(target, dtype=np.int64) - np.asarray(codes, dtype=np.int64)
    n = np.clip(np.abs(err) >> shift, 1, count_max)
    n = np.where(err > 0, n, -n)
    return np.where(np.abs(err) <= tolerance, 0, n)
