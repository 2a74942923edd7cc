"""The stochastic update plan compiled: :meth:`ControllerReference.plan_update`'s pulse trains
in one numba call, bit-identical to the numpy reference (``stochastic_plan_reference``).

The numpy reference spends most of its time in the overhead of some forty small array
operations per call; the co-simulation's monitor and the golden trainer each plan every
update, so that overhead is paid twice per training sample. The kernel does the same
integer arithmetic line by line: firing codes, the subphases that run, every slot's LFSR
states looked up in the period table (draw ``t`` of the whole bank at table position
``pos + 16 t``, the draws of the subphases that run numbered consecutively), firing bits and
the signed counts.
"""

from __future__ import annotations

import numpy as np

from .jit import njit


@njit
def firing_codes(x, d, row_gain, col_gain, half, shift):
    """The lines' firing codes ``p = (|x| row_gain + half) >> shift`` and ``q`` likewise."""
    p = np.empty(x.shape[0], dtype=np.int64)
    q = np.empty(d.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        p[i] = (abs(x[i]) * row_gain + half) >> shift
    for j in range(d.shape[0]):
        q[j] = (abs(d[j]) * col_gain + half) >> shift
    return p, q


@njit
def subphase_runs(x, d, p, q, sx, sd):
    """Whether the sign subphase (``sx``, ``sd``) runs: some row of sign ``sx`` and some column
    of sign ``sd`` fire (``SUBPHASES`` order of ``sub``: ``sx, sd = sub >> 1, sub & 1``)."""
    rany = False
    for i in range(x.shape[0]):
        if (x[i] < 0) == (sx == 1) and p[i] > 0:
            rany = True
    cany = False
    for j in range(d.shape[0]):
        if (d[j] < 0) == (sd == 1) and q[j] > 0:
            cany = True
    return rany and cany


@njit
def stochastic_plan(x, d, row_gain, col_gain, shift, half, smask, bl, table, pos, row_line0,
                    col_line0, draws, steps_per_draw):
    """Firing codes ``p``, ``q``, signed counts (nr, nc), firing bits of the subphases that
    run ((live, bl, nr) and (live, bl, nc)) and which of the four subphases run (bool (4,)).

    ``pos`` holds every line's initial table position; the window's rows are lines
    ``row_line0 ..``, its columns ``col_line0 ..``; ``draws`` is the bank's draw count before
    the update (it advances by ``live * bl``, counted by the caller)."""
    nr, nc = x.shape[0], d.shape[0]
    period = table.shape[0]
    p, q = firing_codes(x, d, row_gain, col_gain, half, shift)
    live = np.zeros(4, dtype=np.bool_)
    nlive = 0
    for sub in range(4):
        if subphase_runs(x, d, p, q, sub >> 1, sub & 1):
            live[sub] = True
            nlive += 1
    counts = np.zeros((nr, nc), dtype=np.int64)
    rbits = np.zeros((nlive, bl, nr), dtype=np.bool_)
    cbits = np.zeros((nlive, bl, nc), dtype=np.bool_)
    k = 0
    t = draws
    for sub in range(4):
        if not live[sub]:
            continue
        sx, sd = sub >> 1, sub & 1
        sign = 1 if sx == sd else -1
        for s in range(bl):
            t += 1
            step = steps_per_draw * t
            for j in range(nc):
                if (d[j] < 0) == (sd == 1) and q[j] > 0:
                    cbits[k, s, j] = (table[(pos[col_line0 + j] + step) % period] & smask) < q[j]
            for i in range(nr):
                if (x[i] < 0) == (sx == 1) and p[i] > 0:
                    if (table[(pos[row_line0 + i] + step) % period] & smask) < p[i]:
                        rbits[k, s, i] = True
                        for j in range(nc):
                            if cbits[k, s, j]:
                                counts[i, j] += sign
        k += 1
    return p, q, counts, rbits, cbits, live


def warm() -> None:
    """Compile :func:`stochastic_plan` (or load it from the on-disk cache) now, so that a
    timed phase does not pay for it."""
    codes = np.ones(1, dtype=np.int64)
    table = np.ones(4, dtype=np.int64)
    stochastic_plan(codes, codes, 1, 1, 1, 1, 1, 1, table, np.zeros(2, dtype=np.int64), 0, 1,
                    0, 1)
