"""A compiled training step: one numba call per block of samples, bit-identical to the
interface path.

The interface path of a training step is :class:`~insitu.golden.nn.CrossbarMLP`
calling the backend once per read and per update (each call a compiled kernel
of :mod:`insitu.golden.fastpath`, the glue in Python and numpy). On a small
network the glue costs more than the physics. :class:`CompiledStep` runs the
same step for a block of samples in one compiled call: the DAC encoding of
each read, the reads themselves (:func:`fastpath.read_convert`), the digital
rescaling, activations, softmax and output error, the hidden errors, update
management (:func:`fastpath.update_codes`), the controller's pulse counts
with LFSR dither (:func:`fastpath.deterministic_counts`) and the device
physics with cycle-to-cycle noise (:func:`fastpath.apply_rank1`), for all
``K`` instances, in the same order and with the same arithmetic as the
interface path. It therefore gives the same conductances, codes and counters,
bit for bit (tested for every family the compiled engine covers).

Random numbers: the read noise of a block is drawn by the backend's
``numpy.random.Generator`` in one call before the kernel runs; a
``Generator`` fills one large array exactly as it fills the same numbers in
consecutive calls, and the kernel consumes them in the interface path's read
order. The cycle-to-cycle draws are the counter-based draws of
:mod:`insitu.golden.noise` (burst keys numbered as the backend numbers them).

Activations: numpy's vectorised ``exp`` and ``tanh`` differ from libm's in the
last bit for some inputs, so on the compiled engine :class:`CrossbarMLP` takes
its activations and softmax from :func:`activate` and :func:`softmax` here,
the very functions the kernel uses.

Covered: ``backprop`` (:meth:`CrossbarMLP.backprop_step`) and ``pgd``
(:class:`~insitu.golden.algorithms.pgd.PGD` without re-forwarding), MLPs of any
depth, sigmoid / relu / tanh hidden units, the deterministic update mode with
or without dither and the stochastic mode, with or without a digital per-layer
weight scale, one :class:`~insitu.golden.backends.GoldenBackend` or tiles of them
on the numba engine with a family of :data:`fastpath.FAMILY_CODES` (exp_step and
table included). Anything else (the numpy engine, ``set_reset`` devices, whose
physics runs in numpy, a backend with a ``burst_observer``, ideal backends, samples that
differ between instances) runs through the interface path, one sample at a time: the same
result, just not compiled (:attr:`CompiledStep.fallback_reason` says why).
"""

from __future__ import annotations

import math

import numpy as np

from . import fastpath, noise
from .controller import LFSR_STEPS_PER_DRAW
from .jit import njit
from .plan_kernel import firing_codes, subphase_runs
from .validate import check_choice, check_int

ACTIVATION_CODES = {"sigmoid": 0, "relu": 1, "tanh": 2}
ALGORITHMS = ("backprop", "pgd")
#: counters the kernel returns, in this order
COUNTERS = ("c2c_bursts", "lfsr_draws", "capped", "forward_reads", "backward_reads",
            "conversions", "saturated", "updates", "update_slots", "pulses", "devices_pulsed",
            "devices_changed")


# -- the arithmetic shared with the interface path -------------------------------------
@njit
def _activate_into(code, z, out):
    K, n = z.shape
    for k in range(K):
        for j in range(n):
            v = z[k, j]
            if code == 0:
                out[k, j] = 1.0 / (1.0 + math.exp(-v))
            elif code == 1:
                out[k, j] = v if v >= 0.0 else 0.0  # noqa: FURB136 (-0.0 kept, as np.maximum)
            else:
                out[k, j] = math.tanh(v)


@njit
def _softmax_into(z, out):
    K, n = z.shape
    for k in range(K):
        m = z[k, 0]
        for j in range(1, n):
            m = max(m, z[k, j])
        s = 0.0
        for j in range(n):
            e = math.exp(z[k, j] - m)
            out[k, j] = e
            s += e
        for j in range(n):
            out[k, j] = out[k, j] / s


def activate(name: str, z) -> np.ndarray:
    """Hidden activation of ``z`` (K, n) with libm's ``exp``/``tanh`` (the kernel's)."""
    z = np.ascontiguousarray(z, dtype=float)
    out = np.empty_like(z)
    _activate_into(ACTIVATION_CODES[name], z, out)
    return out


def softmax(z) -> np.ndarray:
    """Softmax over the last axis of ``z`` (K, n), as the kernel computes it."""
    z = np.ascontiguousarray(z, dtype=float)
    out = np.empty_like(z)
    _softmax_into(z, out)
    return out


@njit
def _grad_mul(code, back, h, out):
    """``back * f'(h)`` with f' expressed through the output (``CrossbarMLP.hidden_delta``)."""
    K, n = back.shape
    for k in range(K):
        for j in range(n):
            v = h[k, j]
            if code == 0:
                gr = v * (1.0 - v)
            elif code == 1:
                gr = 1.0 if v > 0 else 0.0
            else:
                gr = 1.0 - v * v
            out[k, j] = back[k, j] * gr


# -- the kernel -------------------------------------------------------------------------
# Layout: ``blocks`` (NB, 7) rows of (tile, row0, col0, rows, cols, tile_row0, tile_col0),
# virtual lines as in :mod:`insitu.golden.tiles` (one GoldenBackend: one block per layer,
# at its own window). Per-tile arrays come as typed lists indexed by tile; ``counters``
# (T, len(COUNTERS)) are per tile (``capped`` is counted in row 0).
@njit
def _read(x, bias, transpose, l0, o0, n, blocks, gdiff, dac_rg, dac_ro, dac_cg, dac_co,
          dac_mism, adc_rg, adc_ro, adc_cg, adc_co, adc_mism, v_scale, lsb, draws, pos,
          noisy, rn_lsb, pairs, adc_noise, adcs, average, adc_max, dac_max, codes_to_sum,
          alpha, counters, out):
    """``CrossbarMLP.layer_forward`` (bias 1) / ``layer_backward`` (bias 0) into ``out``
    (K, n): encode once, read every block the window touches, add the blocks' ADC codes
    (the controller's digital partial sums), rescale."""
    K, nx = x.shape
    width = nx + 1 if bias != 0.0 else nx
    codes = np.empty((K, width), dtype=np.int64)
    s = np.empty(K)
    fastpath.encode_with_bias(x, bias, dac_max, codes, s)
    acc = np.zeros((K, n), dtype=np.int64)
    for bi in range(blocks.shape[0]):
        t = blocks[bi, 0]
        if transpose:
            d0, dn, dt = blocks[bi, 2], blocks[bi, 4], blocks[bi, 6]
            q0, qn, qt = blocks[bi, 1], blocks[bi, 3], blocks[bi, 5]
        else:
            d0, dn, dt = blocks[bi, 1], blocks[bi, 3], blocks[bi, 5]
            q0, qn, qt = blocks[bi, 2], blocks[bi, 4], blocks[bi, 6]
        lo, hi = max(l0, d0), min(l0 + width, d0 + dn)
        olo, ohi = max(o0, q0), min(o0 + n, q0 + qn)
        if lo >= hi or olo >= ohi:
            continue
        tl0, to0, tn = dt + lo - d0, qt + olo - q0, ohi - olo
        positions = (to0 + tn - 1) // adcs - to0 // adcs + 1
        counters[t, 4 if transpose else 3] += 1
        counters[t, 5] += positions * average
        if noisy:
            m = K * positions * average * adcs
            d4 = draws[pos[t]:pos[t] + m].reshape((K, positions, average, adcs))
            pos[t] += m
        else:
            d4 = np.zeros((0, 0, 0, 0))
        y = np.empty((K, tn), dtype=np.int64)
        if transpose:
            dg, do, ag, ao = dac_cg[t], dac_co[t], adc_rg[t], adc_ro[t]
        else:
            dg, do, ag, ao = dac_rg[t], dac_ro[t], adc_cg[t], adc_co[t]
        counters[t, 6] += fastpath.read_convert(
            codes[:, lo - l0:hi - l0], gdiff[t], tl0, to0, tn, transpose, v_scale, dg, do,
            dac_mism, ag, ao, adc_mism, lsb, d4, rn_lsb, pairs, adc_noise, adcs, average,
            adc_max, y)
        for k in range(K):
            for j in range(tn):
                acc[k, olo - o0 + j] += y[k, j]
    for k in range(K):
        sk = s[k] * alpha  # exact for alpha == 1
        for j in range(n):
            out[k, j] = acc[k, j] * codes_to_sum * sk


@njit
def _pulsed(g, a, b, row0, col0, m):
    """Conductances of the devices a rank-1 count ``outer(a[k], b[k])`` pulses, in order."""
    out = np.empty(m)
    q = 0
    for k in range(a.shape[0]):
        for i in range(a.shape[1]):
            if a[k, i] == 0:
                continue
            for j in range(b.shape[1]):
                if b[k, j] == 0:
                    continue
                for p in range(g.shape[1]):
                    out[q] = g[k, p, row0 + i, col0 + j]
                    q += 1
    return out


@njit
def _stochastic_counts(x, d, gain, shift, half, smask, bl, table, pos, draws, k, row_line0,
                       col_line0, out):
    """``ControllerReference.plan_update`` in the stochastic mode for instance ``k``: the
    signed pulse counts of its four sign subphases (``SUBPHASES`` order) into ``out`` (nr,
    nc); each executed subphase takes ``bl`` draws of the instance's LFSR bank (``draws[k]``
    advances). Returns the pulse slots spent."""
    nr, nc = x.shape[0], d.shape[0]
    period = table.size
    p, q = firing_codes(x, d, gain, gain, half, shift)
    cbit = np.empty(nc, dtype=np.bool_)
    slots = 0
    for sub in range(4):
        sx, sd = sub >> 1, sub & 1  # (0, 0), (0, 1), (1, 0), (1, 1)
        if not subphase_runs(x, d, p, q, sx, sd):
            continue
        sign = 1 if sx == sd else -1
        d0 = draws[k]
        for t in range(bl):
            step = LFSR_STEPS_PER_DRAW * (d0 + 1 + t)
            for j in range(nc):
                cbit[j] = ((d[j] < 0) == (sd == 1) and q[j] > 0
                           and (table[(pos[col_line0 + j] + step) % period] & smask) < q[j])
            for i in range(nr):
                if not ((x[i] < 0) == (sx == 1) and p[i] > 0):
                    continue
                if (table[(pos[row_line0 + i] + step) % period] & smask) >= p[i]:
                    continue
                for j in range(nc):
                    if cbit[j]:
                        out[i, j] += sign
        draws[k] = d0 + bl
        slots += bl
    return slots


@njit
def _stochastic_update(cx, cd, t, tr0, tc0, rows, gain, shift, half, smask, bl, table, pos,
                       draws, family, g, up, down, lo, hi, pair_sign, c2c, c2c_base, stuck,
                       stuck_value, gdiff, g_ref, gamma_up, gamma_down, exp_shape, curve, pairs,
                       counters, count_changed):
    """``GoldenBackend._update`` in the stochastic mode on one tile: every instance's
    counts, then ``apply_counts`` (one burst key if any device moves)."""
    K, nr = cx.shape
    nc = cd.shape[1]
    n = np.zeros((K, nr, nc), dtype=np.int64)
    slots = 0
    for k in range(K):
        slots = max(slots, _stochastic_counts(cx[k], cd[k], gain, shift, half, smask, bl, table,
                                              pos, draws, k, tr0, rows + tc0, n[k]))
    nnz = 0
    total = 0
    for k in range(K):
        for i in range(nr):
            for j in range(nc):
                if n[k, i, j] != 0:
                    nnz += 1
                    total += abs(n[k, i, j])
    key = np.uint64(0)
    if nnz:
        key = noise.mix(c2c_base[t] + np.uint64(counters[t, 0]) * noise.GOLDEN)
        counters[t, 0] += 1
    before = np.empty((0, 0, 0, 0))
    if count_changed and nnz:
        before = g[:, :, tr0:tr0 + nr, tc0:tc0 + nc].copy()
    fastpath.apply_counts(family, g, up, down, lo, hi, n, tr0, tc0, pair_sign, c2c, key, stuck,
                          stuck_value, gdiff, g_ref, 1.0, gamma_up, gamma_down, exp_shape[0],
                          exp_shape[1], exp_shape[2], exp_shape[3], curve)
    if count_changed and nnz:
        for k in range(K):
            for p in range(g.shape[1]):
                for i in range(nr):
                    for j in range(nc):
                        if n[k, i, j] != 0 and g[k, p, tr0 + i, tc0 + j] != before[k, p, i, j]:
                            counters[t, 11] += 1
    counters[t, 9] += total * pairs
    counters[t, 10] += nnz * pairs
    counters[t, 7] += 1
    counters[t, 8] += slots


@njit
def _update(h, delta, col0, blocks, rows, lr, pulse_dw, full_pulses, dac_max, gain, shift,
            half, dither, lfsr_table, lfsr_pos, family, g, up, down, lo, hi, pair_sign, c2c,
            c2c_base, stuck, stuck_value, gdiff, g_ref, gamma_up, gamma_down, exp_shape, curve,
            pairs, counters, count_changed, stoch, ldraws):
    """``CrossbarMLP.layer_update`` on the numba engine: update management once, then
    per block the pulse counts (the tile's LFSR dither, or in the stochastic mode,
    ``stoch[0] == 1``, every instance's pulse trains) and the device physics."""
    K, nx = h.shape
    nc = delta.shape[1]
    anyd = False
    for k in range(K):
        for j in range(nc):
            if delta[k, j] != 0.0:
                anyd = True
    if not anyd:
        return
    cx = np.empty((K, nx + 1), dtype=np.int64)
    cd = np.empty((K, nc), dtype=np.int64)
    counters[0, 2] += fastpath.update_codes(h, 1.0, delta, lr, pulse_dw, full_pulses, dac_max,
                                            cx, cd)
    for bi in range(blocks.shape[0]):
        t = blocks[bi, 0]
        rlo, rhi = max(0, blocks[bi, 1]), min(nx + 1, blocks[bi, 1] + blocks[bi, 3])
        clo, chi = max(col0, blocks[bi, 2]), min(col0 + nc, blocks[bi, 2] + blocks[bi, 4])
        if rlo >= rhi or clo >= chi:
            continue
        tr0 = blocks[bi, 5] + rlo - blocks[bi, 1]
        tc0 = blocks[bi, 6] + clo - blocks[bi, 2]
        if stoch[0]:
            _stochastic_update(cx[:, rlo:rhi], cd[:, clo - col0:chi - col0], t, tr0, tc0, rows,
                               gain, shift, half[0], stoch[2], stoch[1], lfsr_table, lfsr_pos[t],
                               ldraws[t], family, g[t], up[t], down[t], lo[t], hi[t],
                               pair_sign, c2c, c2c_base, stuck[t], stuck_value[t], gdiff[t],
                               g_ref, gamma_up, gamma_down, exp_shape, curve, pairs, counters,
                               count_changed)
            continue
        step = 0
        table = np.zeros(0, dtype=np.int64)
        if dither:
            step = LFSR_STEPS_PER_DRAW * (counters[t, 1] + 1)
            counters[t, 1] += 1
            table = lfsr_table
        a = np.empty((K, rhi - rlo), dtype=np.int64)
        b = np.empty((K, chi - clo), dtype=np.int64)
        slot_k = np.empty(K, dtype=np.int64)
        nnz, total = fastpath.deterministic_counts(
            cx[:, rlo:rhi], cd[:, clo - col0:chi - col0], gain, gain, shift, half, half, a, b,
            slot_k, table, lfsr_pos[t], step, tr0, rows + tc0)
        key = np.uint64(0)
        if nnz:
            key = noise.mix(c2c_base[t] + np.uint64(counters[t, 0]) * noise.GOLDEN)
            counters[t, 0] += 1
        before = np.empty(0)
        if count_changed and nnz:
            before = _pulsed(g[t], a, b, tr0, tc0, nnz * pairs)
        fastpath.apply_rank1(family, g[t], up[t], down[t], lo[t], hi[t], a, b, tr0, tc0,
                             pair_sign, c2c, key, stuck[t], stuck_value[t], gdiff[t], g_ref,
                             1.0, gamma_up, gamma_down, exp_shape[0], exp_shape[1],
                             exp_shape[2], exp_shape[3], curve)
        if count_changed and nnz:
            after = _pulsed(g[t], a, b, tr0, tc0, nnz * pairs)
            for q in range(after.size):
                if after[q] != before[q]:
                    counters[t, 11] += 1
        counters[t, 9] += total * pairs
        counters[t, 10] += nnz * pairs
        counters[t, 7] += 1
        slots = 0
        for k in range(K):
            slots = max(slots, slot_k[k])
        counters[t, 8] += slots


@njit
def train_block(xs, ts, lr, algo, act, fan_in, fan_out, col0s, alphas, blocks, rows, family,
                g, up, down, lo, hi, pair_sign, c2c, c2c_base, stuck, stuck_value, gdiff, g_ref,
                gamma_up, gamma_down, exp_shape, curve, v_scale, dac_rg, dac_ro, dac_cg, dac_co,
                dac_mism, adc_rg, adc_ro, adc_cg, adc_co, adc_mism, lsb, rn_lsb, pairs, adc_noise,
                adcs, average, adc_max, draws, draw0, noisy, codes_to_sum, dac_max, shift, gain,
                pulse_dw, full_pulses, dither, lfsr_table, lfsr_pos, half, counters, count_changed,
                stoch, ldraws):
    """Train on samples ``xs`` (B, features) with targets ``ts`` (B, classes), every
    instance seeing the same sample; ``algo`` 0 = backprop, 1 = PGD. ``alphas`` are the
    layers' digital weight scales (reads times alpha, updates of lr / alpha, as
    ``CrossbarMLP``); ``exp_shape`` the exp-step family's (a, b, A_up, A_down), ``curve``
    the table family's (:func:`fastpath.table_shape`); ``stoch``
    (stochastic mode 0/1, bl, firing-code mask) and ``ldraws`` (tiles, K) the stochastic
    mode's per-instance LFSR draw counts."""
    K = g[0].shape[0]
    L = fan_in.size
    wmax = 1
    for l in range(L):
        wmax = max(wmax, fan_in[l], fan_out[l])
    hs = np.zeros((L + 1, K, wmax))
    ds = np.zeros((L, K, wmax))
    back = np.empty((K, wmax))
    pos = draw0.copy()  # each tile's next read-noise draw in ``draws``
    for smp in range(xs.shape[0]):
        for k in range(K):
            for i in range(fan_in[0]):
                hs[0, k, i] = xs[smp, i]
        for l in range(L):
            fi, fo = fan_in[l], fan_out[l]
            z = np.empty((K, fo))
            _read(hs[l, :, :fi], 1.0, False, 0, col0s[l], fo, blocks, gdiff, dac_rg, dac_ro,
                  dac_cg, dac_co, dac_mism, adc_rg, adc_ro, adc_cg, adc_co, adc_mism, v_scale,
                  lsb, draws, pos, noisy, rn_lsb, pairs, adc_noise, adcs, average, adc_max,
                  dac_max, codes_to_sum, alphas[l], counters, z)
            if l == L - 1:
                _softmax_into(z, hs[l + 1, :, :fo])
            else:
                _activate_into(act, z, hs[l + 1, :, :fo])
        fo = fan_out[L - 1]
        for k in range(K):
            for j in range(fo):
                ds[L - 1, k, j] = hs[L, k, j] - ts[smp, j]
        for q in range(L):
            # backprop: all transpose reads first (layers L-1..1), then all updates;
            # PGD: per layer from the top, update then read through the updated weights
            l = L - 1 - q
            if algo == 1:
                _update(hs[l, :, :fan_in[l]], ds[l, :, :fan_out[l]], col0s[l], blocks, rows,
                        lr / alphas[l], pulse_dw, full_pulses, dac_max, gain, shift, half,
                        dither, lfsr_table, lfsr_pos, family, g, up, down, lo, hi, pair_sign,
                        c2c, c2c_base, stuck, stuck_value, gdiff, g_ref, gamma_up, gamma_down,
                        exp_shape, curve, pairs, counters, count_changed, stoch, ldraws)
            if l == 0:
                break
            fi = fan_in[l]
            _read(ds[l, :, :fan_out[l]], 0.0, True, col0s[l], 0, fi, blocks, gdiff, dac_rg,
                  dac_ro, dac_cg, dac_co, dac_mism, adc_rg, adc_ro, adc_cg, adc_co, adc_mism,
                  v_scale, lsb, draws, pos, noisy, rn_lsb, pairs, adc_noise, adcs, average,
                  adc_max, dac_max, codes_to_sum, alphas[l], counters, back[:, :fi])
            _grad_mul(act, back[:, :fi], hs[l, :, :fi], ds[l - 1, :, :fi])
        if algo == 0:
            for l in range(L):
                _update(hs[l, :, :fan_in[l]], ds[l, :, :fan_out[l]], col0s[l], blocks, rows,
                        lr / alphas[l], pulse_dw, full_pulses, dac_max, gain, shift, half,
                        dither, lfsr_table, lfsr_pos, family, g, up, down, lo, hi, pair_sign,
                        c2c, c2c_base, stuck, stuck_value, gdiff, g_ref, gamma_up, gamma_down,
                        exp_shape, curve, pairs, counters, count_changed, stoch, ldraws)


# -- the step object ----------------------------------------------------------------------
class CompiledStep:
    """A training step usable as ``Trainer(step=CompiledStep("backprop"))``.

    Parameters
    ----------
    algorithm: ``backprop`` (:meth:`CrossbarMLP.backprop_step`) or ``pgd``
        (:class:`~insitu.golden.algorithms.pgd.PGD`, no re-forwarding).
    block: samples per compiled call when a trainer hands over a block
        (:meth:`train_block`), 1..4096 (the read noise of a block is drawn before the
        call: ``block * K`` samples' worth).

    Attributes
    ----------
    fallback_reason: ``None`` while the compiled kernel runs, else why the
        interface path runs instead (set at the first call).
    count_changed: also count :attr:`device_updates` (compares every pulsed device's
        conductance before and after its update: exact, and slower).
    devices_pulsed: devices that received at least one pulse, summed over updates
        (both devices of a differential pair count).
    device_updates: devices whose conductance an update changed, summed over updates
        (0 unless ``count_changed``; a pulsed device at its bound, or stuck, does not
        change).
    """

    def __init__(self, algorithm: str = "backprop", *, block: int = 256,
                 count_changed: bool = False):
        self.algorithm = check_choice("algorithm", algorithm, ALGORITHMS)
        self.block = check_int("block", block, 1, 4096)
        self.count_changed = bool(count_changed)
        self.fallback_reason: str | None = None
        self.devices_pulsed = 0
        self.device_updates = 0
        self._net = None

    def __repr__(self) -> str:
        return f"CompiledStep({self.algorithm!r}, block={self.block})"

    # -- what the kernel covers ----------------------------------------------------------
    @staticmethod
    def _tiles(be):
        """(tiles, blocks (NB, 7)) of a GoldenBackend or a TiledBackend, else None."""
        from .backends import GoldenBackend
        from .tiles import TiledBackend

        if isinstance(be, TiledBackend):
            blocks = np.array([[b.tile, b.row0, b.col0, b.rows, b.cols, b.tile_row0,
                                b.tile_col0] for b in be.blocks], dtype=np.int64)
            return be.tiles, blocks
        if isinstance(be, GoldenBackend):
            return [be], None
        return None

    @classmethod
    def unsupported(cls, net) -> str | None:
        """Why ``net`` cannot run the compiled kernel (``None``: it can)."""
        from .backends import GoldenBackend

        got = cls._tiles(net.backend)
        if got is None or not all(type(t) is GoldenBackend for t in got[0]):
            return (f"backend {type(net.backend).__name__} (the kernel drives GoldenBackends, "
                    f"alone or as tiles)")
        for be in got[0]:
            if be.engine != "numba":
                return "engine numpy"
            if be._kernel is None:
                return f"device family {be.device.family!r} has no compiled kernel"
            if be.burst_observer is not None:
                return "a burst_observer is set"
        if not net._fast:
            return "the network is not on the compiled engine"
        return None

    def _interface(self, net, x, t, lr):
        if self.algorithm == "backprop":
            net.backprop_step(x, t, lr)
        else:
            from .algorithms.pgd import PGD

            PGD()(net, x, t, lr)

    # -- one sample (the Trainer's step interface) ----------------------------------------
    def __call__(self, net, x, t, lr: float) -> None:
        x = np.asarray(x, dtype=float)
        t = np.asarray(t, dtype=float)
        same = x.shape[0] == 1 or x.strides[0] == 0 or bool(np.all(x == x[:1]))
        tsame = t.shape[0] == 1 or bool(np.all(t == t[:1]))
        if not (same and tsame):
            self._interface(net, x, t, lr)
            return
        self.train_block(net, x[:1], t[:1], lr)

    # -- a block of samples ------------------------------------------------------------------
    def train_block(self, net, xs, ts, lr: float) -> None:
        """Train on samples ``xs`` (B, features), targets ``ts`` (B, classes), in order;
        every instance sees the same samples. One compiled call per :attr:`block` samples."""
        xs = np.ascontiguousarray(xs, dtype=float)
        ts = np.ascontiguousarray(ts, dtype=float)
        if self._net is not net:
            self._net = net
            self.fallback_reason = self.unsupported(net)
            self._lists = None
        if self.fallback_reason is not None:
            for i in range(len(xs)):
                x = np.broadcast_to(xs[i], (net.K, xs.shape[1]))
                self._interface(net, x, ts[i][None, :], lr)
            return
        for s in range(0, len(xs), self.block):
            self._run(net, xs[s:s + self.block], ts[s:s + self.block], lr)

    def _prepare(self, net):
        """Layout, per-tile draw counts per sample and the typed lists of tile arrays
        (rebuilt only when an array was replaced, e.g. by ``load_state_dict``)."""
        tiles, blocks = self._tiles(net.backend)
        if blocks is None:
            blocks = np.array([[0, 0, lw.col0, lw.rows, lw.fan_out, 0, lw.col0]
                               for lw in net.layers], dtype=np.int64)
        arrays = [[t.devices.g, t.devices.up, t.devices.down, t.devices.g_lo, t.devices.g_hi,
                   t._stuck, t._stuck_value, t._gdiff, t.dac_rows.gain, t.dac_rows.offset,
                   t.dac_cols.gain, t.dac_cols.offset, t.adc_rows.gain, t.adc_rows.offset,
                   t.adc_cols.gain, t.adc_cols.offset, t.refs[0].lfsr.positions]
                  for t in tiles]
        cached = getattr(self, "_lists", None)
        if cached is None or any(a is not b for ta, tb in zip(arrays, cached[0])
                                 for a, b in zip(ta, tb)):
            from numba.typed import List

            lists = []
            for q in range(len(arrays[0])):
                lst = List()
                for ta in arrays:
                    lst.append(ta[q])
                lists.append(lst)
            self._lists = (arrays, lists, blocks, self._draws_per_sample(net, tiles, blocks))
        return tiles, self._lists[1], self._lists[2], self._lists[3]

    @staticmethod
    def _draws_per_sample(net, tiles, blocks) -> list:
        """Read-noise draws of one sample per tile (the interface path's reads)."""
        c = tiles[0].config
        per = [0] * len(tiles)

        def read(l0, width, o0, n, transpose):
            for tile, r0, c0, nr, nc, tr0, tc0 in blocks.tolist():
                d0, dn, q0, qn, qt = (c0, nc, r0, nr, tr0) if transpose else (r0, nr, c0, nc, tc0)
                lo, hi = max(l0, d0), min(l0 + width, d0 + dn)
                olo, ohi = max(o0, q0), min(o0 + n, q0 + qn)
                if lo < hi and olo < ohi:
                    to0 = qt + olo - q0
                    per[tile] += (to0 + ohi - olo - 1) // c.adcs - to0 // c.adcs + 1

        for l, lw in enumerate(net.layers):
            read(0, lw.rows, lw.col0, lw.fan_out, False)
            if l:
                read(lw.col0, lw.fan_out, 0, lw.fan_in, True)
        return [p * net.K * c.adc_average * c.adcs for p in per]

    def _run(self, net, xs, ts, lr):
        tiles, lists, blocks, per_sample = self._prepare(net)
        be = tiles[0]
        c, pp = be.config, be.periphery
        noisy = be._noisy_reads
        # every tile's read noise of the block, one tile after the other in one array (a
        # typed list of arrays cost ~80 us a block to build)
        sizes = [len(xs) * m if noisy else 0 for m in per_sample]
        draw0 = np.zeros(len(tiles), dtype=np.int64)
        draw0[1:] = np.cumsum(sizes)[:-1]
        draws = np.concatenate([t.rng.standard_normal(n) for t, n in zip(tiles, sizes)]) \
            if noisy else np.zeros(0)
        counters = np.zeros((len(tiles), len(COUNTERS)), dtype=np.int64)
        for q, t in enumerate(tiles):
            counters[q, 0] = t.c2c_bursts
            counters[q, 1] = t.refs[0].lfsr.draws
        stochastic = net.mode == "stochastic"
        stoch = np.array([int(stochastic), c.bl, (1 << c.prob_bits) - 1], dtype=np.int64)
        # stochastic mode: every instance's LFSR bank draws for its own subphases
        ldraws = np.array([[ref.lfsr.draws for ref in t.refs] for t in tiles], dtype=np.int64)
        base = np.array([t._c2c_base for t in tiles], dtype=np.uint64)
        fan_in = np.array([lw.fan_in for lw in net.layers], dtype=np.int64)
        fan_out = np.array([lw.fan_out for lw in net.layers], dtype=np.int64)
        col0s = np.array([lw.col0 for lw in net.layers], dtype=np.int64)
        alphas = np.array(net.alpha, dtype=np.float64)
        (g, up, down, lo, hi, stuck, stuck_value, gdiff, dac_rg, dac_ro, dac_cg, dac_co,
         adc_rg, adc_ro, adc_cg, adc_co, lfsr_pos) = lists
        train_block(
            xs, ts, float(lr), 0 if self.algorithm == "backprop" else 1,
            ACTIVATION_CODES[net.activation], fan_in, fan_out, col0s, alphas, blocks, c.rows,
            be._kernel, g, up, down, lo, hi, be._pair_sign_flat, be.device.c2c, base, stuck,
            stuck_value, gdiff, be.g_ref, be.device.gamma_up, be.device.gamma_down,
            np.array(be._exp_shape, dtype=np.float64), be._table,
            pp.v_read / be.dac_max, dac_rg, dac_ro,
            dac_cg, dac_co, be._dac_mism, adc_rg, adc_ro, adc_cg, adc_co, be._adc_mism,
            be._read_lsb, be._read_noise_lsb, be.pairs,
            pp.adc_noise, c.adcs, c.adc_average, be.adc_max, draws, draw0, noisy,
            be._codes_to_sum,
            be.dac_max, c.dac_bits - 1, net._gain, be.pulse_dw, float(net._full_pulses),
            net.dither, be.refs[0].lfsr.table, lfsr_pos, be._half, counters,
            self.count_changed, stoch, ldraws)
        net.capped_updates += int(counters[0, 2])
        for q, t in enumerate(tiles):
            t.c2c_bursts = int(counters[q, 0])
            for k, ref in enumerate(t.refs):
                ref.lfsr.draws = int(ldraws[q, k] if stochastic else counters[q, 1])
            st = t.stats
            st.forward_reads += int(counters[q, 3])
            st.backward_reads += int(counters[q, 4])
            st.conversions += int(counters[q, 5])
            st.saturated += int(counters[q, 6])
            st.updates += int(counters[q, 7])
            st.update_slots += int(counters[q, 8])
            st.pulses += int(counters[q, 9])
            self.devices_pulsed += int(counters[q, 10])
            self.device_updates += int(counters[q, 11])
