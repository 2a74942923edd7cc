"""Compiled kernels for the golden model's hot paths (numba).

The numpy code in :mod:`insitu.golden.devices` and
:mod:`insitu.golden.backends` is the readable reference; these kernels fuse
the same arithmetic, in the same order, into one call each, because a
per-sample training step on small arrays is dominated by numpy's per-call
overhead rather than by arithmetic. Read noise is drawn by the backend's
``numpy.random.Generator`` and passed in (the same stream as the numpy path);
cycle-to-cycle noise is the counter-based draw of :mod:`insitu.golden.noise`,
computed inside the kernel, so Monte-Carlo instances can run on threads.

* :func:`apply_counts`: the n-pulse response (closed form for constant step
  and soft bounds, pulse by pulse for the power law, the linear and the exponential step
  and the table; the exponential step's shape ``exp_a, exp_b, exp_A_up, exp_A_down`` rides
  on four trailing arguments, the table's curve on a fifth, :func:`table_shape`; the
  table's interpolation is ``numpy.interp``'s arithmetic), cycle-to-cycle noise
  (one draw per device with ``n != 0``, a function of the burst and the
  device's index), clip,
  stuck devices and the refresh of the weight cache; equal to the numpy path
  (bit-identical for constant step; within 1e-12 uS where ``pow`` is
  evaluated differently; tested).
* :func:`read_convert`: DAC -> array -> TIA/ADC of one read. The dot products
  are summed in a fixed sequential order, which may differ from BLAS in the
  last bit of a current; a code can therefore differ by one LSB from the
  numpy path in rare boundary cases (tested: agreement within 1 LSB). Both
  backends of a golden-vs-RTL comparison use the same engine, so the contract
  is unaffected.
"""

from __future__ import annotations

import math

import numpy as np

from .jit import njit
from .noise import normal_at, normals_into

try:
    from numba import prange

    AVAILABLE = True
except ImportError:  # pragma: no cover - numba is a declared dependency
    AVAILABLE = False
    prange = range


FAMILY_CODES = {"constant": 0, "soft_bounds": 1, "power": 2, "linear_step": 3, "exp_step": 4,
                "table": 5}
NO_TABLE = np.zeros(0)


def table_shape(params) -> np.ndarray:
    """The ``table`` family's curve for the kernels: ``[g_min, g_max, dw_min, table_g...,
    table_up..., table_down...]`` (float64); empty for any other family."""
    if params.family != "table":
        return NO_TABLE
    return np.array([params.g_min, params.g_max, params.dw_min, *params.table_g,
                     *params.table_up, *params.table_down], dtype=np.float64)


@njit(inline="always")
def _interp(x, tab, n, col):
    """``numpy.interp(x, table_g, f)`` with ``f`` the table's column ``col`` (1 up, 2 down),
    numpy's arithmetic: the segment ``j`` with ``xp[j] <= x < xp[j+1]``, ``slope * (x -
    xp[j]) + fp[j]``, the end values outside, the node value on a node."""
    xp0, fp0 = 3, 3 + col * n
    if x < tab[xp0]:
        return tab[fp0]
    if x > tab[xp0 + n - 1]:
        return tab[fp0 + n - 1]
    lo, hi = 0, n - 1  # xp[lo] <= x <= xp[hi]
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if tab[xp0 + mid] <= x:
            lo = mid
        else:
            hi = mid
    if tab[xp0 + hi] <= x:
        lo = hi
    if lo == n - 1 or tab[xp0 + lo] == x:
        return tab[fp0 + lo]
    slope = (tab[fp0 + lo + 1] - tab[fp0 + lo]) / (tab[xp0 + lo + 1] - tab[xp0 + lo])
    y = slope * (x - tab[xp0 + lo]) + tab[fp0 + lo]
    if math.isnan(y):  # numpy's retry from the other end of the segment
        y = slope * (x - tab[xp0 + lo + 1]) + tab[fp0 + lo + 1]
        if math.isnan(y) and tab[fp0 + lo] == tab[fp0 + lo + 1]:
            y = tab[fp0 + lo]
    return y


@njit
def _move(family, m, v, s_up, s_down, gl, gh, scale, gamma_up, gamma_down, ea, eb, au, ad,
          tab):
    """n-pulse response of one device (the laws of ``DeviceArray``); returns (g, first step)."""
    if family == 0:
        step = s_up if m > 0 else s_down
        if scale != 1.0:
            step = step * scale
        v = v + m * step
        return min(max(v, gl), gh), step
    rng_ = gh - gl
    if family == 1:
        if m > 0:
            a = s_up * scale / rng_
            step = s_up * (gh - v) / rng_ * scale
            v = gh - (gh - v) * (1.0 - a) ** m
        else:
            a = s_down * scale / rng_
            step = s_down * (v - gl) / rng_ * scale
            v = gl + (v - gl) * (1.0 - a) ** (-m)
        return min(max(v, gl), gh), step
    step = 0.0
    if family == 5:  # table, pulse by pulse (DeviceArray.step_size): the nominal curve on
        # the device's own range, scaled by its step spread
        nt = (tab.size - 3) // 3
        t_lo, t_span, dw = tab[0], tab[1] - tab[0], tab[2]
        for q in range(abs(m)):
            pos = t_lo + (v - gl) / rng_ * t_span
            if m > 0:
                s = _interp(pos, tab, nt, 1) * (s_up / dw) * scale
                v = min(max(v + s, gl), gh)
            else:
                s = _interp(pos, tab, nt, 2) * (s_down / dw) * scale
                v = min(max(v - s, gl), gh)
            if q == 0:
                step = s
        return v, step
    if family == 4:  # exponential step, pulse by pulse (DeviceArray.step_size)
        for q in range(abs(m)):
            u = min(max(2.0 * (v - gl) / rng_ - 1.0, -1.0), 1.0)
            z = ea * u + eb
            if m > 0:
                s = s_up * max(1.0 - au * math.exp(gamma_up * z), 0.0) * scale
                v = min(max(v + s, gl), gh)
            else:
                s = s_down * max(1.0 - ad * math.exp(-gamma_down * z), 0.0) * scale
                v = min(max(v - s, gl), gh)
            if q == 0:
                step = s
        return v, step
    if family == 3:  # linear step, pulse by pulse (DeviceArray.step_size)
        for q in range(abs(m)):
            u = min(max(2.0 * (v - gl) / rng_ - 1.0, -1.0), 1.0)
            if m > 0:
                s = s_up * max(1.0 - gamma_up * u, 0.0) * scale
                v = min(max(v + s, gl), gh)
            else:
                s = s_down * max(1.0 + gamma_down * u, 0.0) * scale
                v = min(max(v - s, gl), gh)
            if q == 0:
                step = s
        return v, step
    for q in range(abs(m)):
        om = min(max((gh - v) / rng_, 0.0), 1.0)
        if m > 0:
            s = s_up * om**gamma_up * scale
            v = min(max(v + s, gl), gh)
        else:
            s = s_down * (1.0 - om) ** gamma_down * scale
            v = min(max(v - s, gl), gh)
        if q == 0:
            step = s
    return v, step


@njit
def _apply_counts_instance(k, family, g, up, down, lo, hi, n, row0, col0, pair_sign, c2c,
                           key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down,
                           ea, eb, au, ad, tab):
    """Instance ``k`` of :func:`apply_counts`."""
    P, R, C = g.shape[1], g.shape[2], g.shape[3]
    nr, nc = n.shape[1], n.shape[2]
    for i in range(nr):
        r = row0 + i
        for j in range(nc):
            m0 = n[k, i, j]
            if m0 == 0:
                continue
            c = col0 + j
            for p in range(P):
                m = m0 * pair_sign[p]
                gl, gh = lo[k, p, r, c], hi[k, p, r, c]
                v, step = _move(family, m, g[k, p, r, c], up[k, p, r, c], down[k, p, r, c],
                                gl, gh, scale, gamma_up, gamma_down, ea, eb, au, ad, tab)
                if c2c != 0.0:
                    xi = normal_at(key, np.uint64(((k * P + p) * R + r) * C + c))
                    v = v + c2c * step * math.sqrt(abs(m)) * xi
                    v = min(max(v, gl), gh)
                if stuck.size and stuck[k, p, r, c]:
                    v = stuck_value[k, p, r, c]
                g[k, p, r, c] = v
            if P == 2:
                gdiff[k, r, c] = g[k, 0, r, c] - g[k, 1, r, c]
            else:
                gdiff[k, r, c] = g[k, 0, r, c] - g_ref


@njit
def apply_counts(family, g, up, down, lo, hi, n, row0, col0, pair_sign, c2c, key,
                 stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down,
                 ea, eb, au, ad, tab):
    """Apply signed per-weight counts ``n`` (K, nr, nc) to the window at (row0, col0).

    Devices are visited weight by weight (both devices of a pair together, so
    the weight cache is refreshed in the same pass and zero counts cost one
    read); the cycle-to-cycle draw of each device is
    :func:`insitu.golden.noise.normal_at` of the burst's ``key`` and the
    device's flat index, as the numpy path computes it.
    """
    for k in range(g.shape[0]):
        _apply_counts_instance(k, family, g, up, down, lo, hi, n, row0, col0, pair_sign, c2c,
                               key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up,
                               gamma_down, ea, eb, au, ad, tab)


@njit(parallel=True)
def apply_counts_parallel(family, g, up, down, lo, hi, n, row0, col0, pair_sign, c2c, key,
                          stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down,
                          ea, eb, au, ad, tab):
    """:func:`apply_counts` with the instances spread over threads (same result: each
    instance touches only its own devices, and a draw depends only on its index)."""
    for k in prange(g.shape[0]):
        _apply_counts_instance(k, family, g, up, down, lo, hi, n, row0, col0, pair_sign, c2c,
                               key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up,
                               gamma_down, ea, eb, au, ad, tab)


@njit
def _apply_rank1_instance(k, family, g, up, down, lo, hi, a, b, row0, col0, pair_sign,
                          c2c, key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up,
                          gamma_down, ea, eb, au, ad, tab):
    """Instance ``k`` of :func:`apply_rank1`.

    The per-weight body is the one of :func:`_apply_counts_instance`, written out
    again on purpose: factored into a shared njit function (inlined or not), numba
    compiled the loop 8x slower (46 vs 5.5 ns per device, measured).
    """
    P, R, C = g.shape[1], g.shape[2], g.shape[3]
    nr, nc = a.shape[1], b.shape[1]
    rows = np.empty(nr, dtype=np.int64)
    cols = np.empty(nc, dtype=np.int64)
    nzr = 0
    for i in range(nr):
        if a[k, i] != 0:
            rows[nzr] = i
            nzr += 1
    nzc = 0
    for j in range(nc):
        if b[k, j] != 0:
            cols[nzc] = j
            nzc += 1
    for ii in range(nzr):
        i = rows[ii]
        r = row0 + i
        for jj in range(nzc):
            j = cols[jj]
            m0 = a[k, i] * b[k, j]
            c = col0 + j
            for p in range(P):
                m = m0 * pair_sign[p]
                gl, gh = lo[k, p, r, c], hi[k, p, r, c]
                v, step = _move(family, m, g[k, p, r, c], up[k, p, r, c], down[k, p, r, c],
                                gl, gh, scale, gamma_up, gamma_down, ea, eb, au, ad, tab)
                if c2c != 0.0:
                    xi = normal_at(key, np.uint64(((k * P + p) * R + r) * C + c))
                    v = v + c2c * step * math.sqrt(abs(m)) * xi
                    v = min(max(v, gl), gh)
                if stuck.size and stuck[k, p, r, c]:
                    v = stuck_value[k, p, r, c]
                g[k, p, r, c] = v
            if P == 2:
                gdiff[k, r, c] = g[k, 0, r, c] - g[k, 1, r, c]
            else:
                gdiff[k, r, c] = g[k, 0, r, c] - g_ref


#: sqrt(n) of pulse counts, bit-identical to ``math.sqrt`` (a lookup is cheaper per device)
SQRT_TABLE = np.sqrt(np.arange(4096, dtype=np.float64))


@njit
def _rank1_constant_instance(k, g, up, down, lo, hi, a, b, row0, col0, pair_sign, c2c, key,
                             stuck, stuck_value, gdiff, g_ref, sqrt_table, P, R, C):
    """Instance ``k`` of :func:`apply_rank1` for the constant step at ``scale == 1`` on
    flat (C-order) views of the arrays: the arithmetic of :func:`_move` family 0, the
    same draws and visiting order. Unsigned flat indices spare numba's negative-index
    fix-up of every 4-D subscript: 6.0 against 9.9 ns per device without c2c noise,
    12.7 against 15.4 with it (K=32, measured). A row's cycle-to-cycle draws are made
    in one batch (:func:`noise.normals_into`, the same values) before its devices move:
    8.9 against 10.7 ns per device with c2c, 3.8 without (K=32, process_time, best of 15
    on a busy machine)."""
    nr, nc = a.shape[1], b.shape[1]
    cols = np.empty(nc, dtype=np.uint64)
    has_stuck = stuck.size > 0
    noisy = c2c != 0.0
    rc = np.uint64(R * C)
    nzc = 0
    for j in range(nc):
        if b[k, j] != 0:
            cols[nzc] = j
            nzc += 1
    if nzc == 0:
        return
    # a row's cycle-to-cycle draws in one batch (noise.normals_into), in visiting order
    xis = np.empty(nzc * P if noisy else 0)
    flat = np.empty(xis.size, dtype=np.uint64)
    uniforms = np.empty(xis.size)
    for i in range(nr):
        ai = a[k, i]
        if ai == 0:
            continue
        gbase = np.uint64((k * P * R + row0 + i) * C + col0)
        dbase = np.uint64((k * R + row0 + i) * C + col0)
        if noisy:
            t = 0
            for jj in range(nzc):
                q = gbase + cols[jj]
                for p in range(P):
                    flat[t] = q
                    q += rc
                    t += 1
            normals_into(key, flat, t, xis, uniforms)
        t = 0
        for jj in range(nzc):
            j = cols[jj]
            m0 = ai * b[k, j]
            am = abs(m0)
            sq = sqrt_table[am] if am < sqrt_table.size else math.sqrt(am)
            q = gbase + j  # ((k * P + p) * R + r) * C + c, from p = 0
            gd = 0.0
            for p in range(P):
                m = m0 * pair_sign[p]
                gl = lo[q]
                gh = hi[q]
                s_up = up[q]
                s_down = down[q]
                step = s_up if m > 0 else s_down
                v = min(max(g[q] + np.float64(m) * step, gl), gh)
                if noisy:
                    v = min(max(v + c2c * step * sq * xis[t], gl), gh)
                    t += 1
                if has_stuck and stuck[q]:
                    v = stuck_value[q]
                g[q] = v
                gd = v if p == 0 else gd - v
                q += rc
            gdiff[dbase + j] = gd if P == 2 else gd - g_ref


@njit
def _rank1_views(family, scale, g, up, down, lo, hi, stuck, stuck_value, gdiff):
    """Flat C-order views of the arrays for :func:`_rank1_constant_instance` where it
    applies (constant step, unit scale, C order), else empty arrays (the general kernel)."""
    if (family == 0 and scale == 1.0 and g.flags.c_contiguous and up.flags.c_contiguous
            and down.flags.c_contiguous and lo.flags.c_contiguous and hi.flags.c_contiguous
            and stuck.flags.c_contiguous and stuck_value.flags.c_contiguous
            and gdiff.flags.c_contiguous):
        return (g.reshape(-1), up.reshape(-1), down.reshape(-1), lo.reshape(-1),
                hi.reshape(-1), stuck.reshape(-1), stuck_value.reshape(-1), gdiff.reshape(-1))
    e = np.empty(0)
    return e, e, e, e, e, np.empty(0, dtype=np.bool_), e, e


@njit
def _rank1_instance(k, views, family, g, up, down, lo, hi, a, b, row0, col0, pair_sign, c2c,
                    key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down, ea, eb,
                    au, ad, tab):
    """Instance ``k`` of :func:`apply_rank1`: the flat constant-step kernel on ``views``
    (from :func:`_rank1_views`) when they are not empty, else the general one."""
    if views[0].size:
        _, P, R, C = g.shape
        _rank1_constant_instance(k, views[0], views[1], views[2], views[3], views[4], a, b,
                                 row0, col0, pair_sign, c2c, key, views[5], views[6], views[7],
                                 g_ref, SQRT_TABLE, P, R, C)
    else:
        _apply_rank1_instance(k, family, g, up, down, lo, hi, a, b, row0, col0, pair_sign, c2c,
                              key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up,
                              gamma_down, ea, eb, au, ad, tab)


@njit
def apply_rank1(family, g, up, down, lo, hi, a, b, row0, col0, pair_sign, c2c, key,
                stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down,
                ea, eb, au, ad, tab):
    """:func:`apply_counts` for counts ``n[k] = outer(a[k], b[k])``: visits only the
    nonzero rows and columns (a deterministic update leaves most lines at zero),
    same arithmetic and the same draws."""
    views = _rank1_views(family, scale, g, up, down, lo, hi, stuck, stuck_value, gdiff)
    for k in range(g.shape[0]):
        _rank1_instance(k, views, family, g, up, down, lo, hi, a, b, row0, col0, pair_sign,
                        c2c, key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down,
                        ea, eb, au, ad, tab)


@njit(parallel=True)
def apply_rank1_parallel(family, g, up, down, lo, hi, a, b, row0, col0, pair_sign, c2c, key,
                         stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down,
                         ea, eb, au, ad, tab):
    """:func:`apply_rank1` with the instances spread over threads (same result)."""
    views = _rank1_views(family, scale, g, up, down, lo, hi, stuck, stuck_value, gdiff)
    for k in prange(g.shape[0]):
        _rank1_instance(k, views, family, g, up, down, lo, hi, a, b, row0, col0, pair_sign,
                        c2c, key, stuck, stuck_value, gdiff, g_ref, scale, gamma_up, gamma_down,
                        ea, eb, au, ad, tab)


@njit
def _read_convert_instance(k, codes, gdiff, l0, o0, n, transpose, v_scale, dac_gain, dac_off,
                           dac_mism, adc_gain, adc_off, adc_mism, lsb, draws, rn_lsb, pairs,
                           adc_noise, adcs, average, adc_max, out):
    """Instance ``k`` of :func:`read_convert`; returns its saturated samples."""
    nx = codes.shape[1]
    shift = 0
    while (1 << shift) < average:
        shift += 1
    pos0 = o0 // adcs
    sat = 0
    v = np.empty(nx)
    ssq = 0.0
    for i in range(nx):
        vi = codes[k, i] * v_scale
        if dac_mism and codes[k, i] != 0:
            vi = vi * dac_gain[k, l0 + i] + dac_off[k, l0 + i]
        v[i] = vi
        ssq += vi * vi
    sig = 0.0
    if draws.size:
        sig = math.sqrt(rn_lsb * rn_lsb * pairs * ssq + adc_noise * adc_noise)
    # Each line's current is summed over the driven lines in ascending order, skipping
    # floating ones (code 0: their product is +-0.0 and a sum that starts at +0.0 is
    # unchanged by it, so the result is the plain sequential sum, bit for bit). A forward
    # read runs rows outer and lines inner: the same per-line order, contiguous in memory.
    idx = np.empty(nx, dtype=np.int64)
    nd = 0
    for i in range(nx):
        if v[i] != 0.0:
            idx[nd] = i
            nd += 1
    curs = np.zeros(n)
    if transpose:
        for j in range(n):
            cur = 0.0
            row = gdiff[k, o0 + j]
            for q in range(nd):
                i = idx[q]
                cur += row[l0 + i] * v[i]
            curs[j] = cur
    else:
        for q in range(nd):
            i = idx[q]
            vi = v[i]
            # one row's slice: numba vectorises this loop (3-D subscripts it did not;
            # 0.66 -> 0.34 ns per product, measured), the same per-line order
            row = gdiff[k, l0 + i, o0:o0 + n]
            for j in range(n):
                curs[j] += vi * row[j]
    # converter position and index of line o0 + j, stepped instead of divided per line
    cpos, conv = o0 // adcs - pos0, o0 % adcs
    for j in range(n):
        line = o0 + j
        cur = curs[j]
        base = cur * lsb
        if adc_mism:
            base = base * adc_gain[k, line] + adc_off[k, line]
        if draws.size:
            acc = 0
            for rep in range(average):
                q = math.floor(base + sig * draws[k, cpos, rep, conv] + 0.5)
                if abs(q) > adc_max:
                    sat += 1
                    q = adc_max if q > 0 else -adc_max
                acc += int(q)
            out[k, j] = (acc + (average >> 1)) >> shift
        else:
            q = math.floor(base + 0.5)
            if abs(q) > adc_max:
                sat += average
                q = adc_max if q > 0 else -adc_max
            out[k, j] = int(q)
        conv += 1
        if conv == adcs:
            conv = 0
            cpos += 1
    return sat


@njit
def read_convert(codes, gdiff, l0, o0, n, transpose, v_scale, dac_gain, dac_off, dac_mism,
                 adc_gain, adc_off, adc_mism, lsb, draws, rn_lsb, pairs, adc_noise, adcs,
                 average, adc_max, out):
    """One read: returns the number of saturated samples; codes land in ``out`` (K, n).

    ``draws`` is (K, positions, average, adcs) standard normals, or size 0 when
    the read is noiseless.
    """
    sat = 0
    for k in range(codes.shape[0]):
        sat += _read_convert_instance(k, codes, gdiff, l0, o0, n, transpose, v_scale, dac_gain,
                                      dac_off, dac_mism, adc_gain, adc_off, adc_mism, lsb, draws,
                                      rn_lsb, pairs, adc_noise, adcs, average, adc_max, out)
    return sat


@njit(parallel=True)
def read_convert_parallel(codes, gdiff, l0, o0, n, transpose, v_scale, dac_gain, dac_off,
                          dac_mism, adc_gain, adc_off, adc_mism, lsb, draws, rn_lsb, pairs,
                          adc_noise, adcs, average, adc_max, out):
    """:func:`read_convert` with the instances spread over threads (same result)."""
    sat = 0
    for k in prange(codes.shape[0]):
        sat += _read_convert_instance(k, codes, gdiff, l0, o0, n, transpose, v_scale, dac_gain,
                                      dac_off, dac_mism, adc_gain, adc_off, adc_mism, lsb, draws,
                                      rn_lsb, pairs, adc_noise, adcs, average, adc_max, out)
    return sat


@njit
def deterministic_counts(x, d, row_gain, col_gain, shift, rr, rc, a_out, b_out, slots_out,
                         lfsr_table, lfsr_pos, lfsr_step, row_line0, col_line0):
    """Kernel of :func:`insitu.golden.controller.deterministic_counts` (integer-exact).

    Writes the signed line counts ``a`` (K, rows) and ``b`` (K, cols) whose outer
    product is the update's pulse counts. ``rr``/``rc`` are per-line rounding
    offsets; with a non-empty ``lfsr_table`` they are instead the dither: the low
    ``shift`` bits of line ``l``'s LFSR state ``table[(pos[l] + step) % period]``
    (rows at ``row_line0 + i``, columns at ``col_line0 + j``). Returns the number
    of nonzero counts and the sum of |counts| over all instances.
    """
    dither = lfsr_table.size > 0
    period = lfsr_table.size
    mask = (1 << shift) - 1
    K, nr = x.shape
    nc = d.shape[1]
    nnz = 0
    total = 0
    for k in range(K):
        pp = pm = qp = qm = 0
        nza = nzb = 0
        sa = sb = 0
        for i in range(nr):
            off = (lfsr_table[(lfsr_pos[row_line0 + i] + lfsr_step) % period] & mask
                   if dither else rr[i])
            v = (abs(x[k, i]) * row_gain + off) >> shift
            if x[k, i] < 0:
                pm = max(pm, v)
                v = -v
            else:
                pp = max(pp, v)
            a_out[k, i] = v
            if v != 0:
                nza += 1
                sa += abs(v)
        for j in range(nc):
            off = (lfsr_table[(lfsr_pos[col_line0 + j] + lfsr_step) % period] & mask
                   if dither else rc[j])
            v = (abs(d[k, j]) * col_gain + off) >> shift
            if d[k, j] < 0:
                qm = max(qm, v)
                v = -v
            else:
                qp = max(qp, v)
            b_out[k, j] = v
            if v != 0:
                nzb += 1
                sb += abs(v)
        slots_out[k] = (pp + pm) * (qp + qm)
        nnz += nza * nzb
        total += sa * sb
    return nnz, total


@njit
def encode_with_bias(h, bias, dac_max, out, scale):
    """Codes of ``[h, bias]`` at full DAC scale (round half up); scale per instance."""
    K, n = h.shape
    for k in range(K):
        s = abs(bias)
        for i in range(n):
            s = max(s, abs(h[k, i]))
        if s == 0.0:
            s = 1.0
        scale[k] = s
        f = dac_max / s
        for i in range(n):
            out[k, i] = int(math.floor(h[k, i] * f + 0.5))
        if out.shape[1] > n:
            out[k, n] = int(math.floor(bias * f + 0.5))


@njit
def update_codes(x, bias, delta, lr, pulse_dw, full_pulses, dac_max, cx, cd):
    """Update management: codes for ``W -= lr [x, bias] delta^T``; returns 1 if capped."""
    K, n = x.shape
    m = delta.shape[1]
    capped = 0
    for k in range(K):
        sx = abs(bias)
        for i in range(n):
            sx = max(sx, abs(x[k, i]))
        sd = 0.0
        for j in range(m):
            sd = max(sd, abs(delta[k, j]))
        if sx == 0.0:
            sx = 1.0
        if sd == 0.0:
            sd = 1.0
        g = lr * sx * sd / (pulse_dw * full_pulses)
        rho = math.sqrt(g)
        if rho > 1.0:
            capped = 1
            rho = 1.0
        fx = rho * dac_max / sx
        fd = rho * dac_max / sd
        for i in range(n):
            cx[k, i] = int(math.floor(x[k, i] * fx + 0.5))
        cx[k, n] = int(math.floor(bias * fx + 0.5))
        for j in range(m):
            cd[k, j] = int(math.floor(-delta[k, j] * fd + 0.5))
    return capped
