"""In-order scoreboard of pulse slots against the golden controller reference.

The analog front-end hands every completed pulse burst (all its slots, in
order) to :meth:`SlotScoreboard.burst`; the driver that sent the command
queues what the burst must be: an update's ``slot_schedule`` from
:class:`~insitu.golden.controller.ControllerReference` (slot by slot: polarity,
row mask, column mask), or a write-verify step (one device, ``n`` pulses of one
polarity). A mismatch is recorded with the first differing slot; the test
fails on :meth:`check`.
"""

from __future__ import annotations

import collections

import numpy as np


def schedule_arrays(reference, plan):
    """``list(reference.slot_schedule(plan))`` as arrays: polarity (n,), row masks (n, nr),
    column masks (n, nc) over the plan's window.

    The same slots in the same order, built without a Python loop per slot (a training run
    checks every update); ``tests/sim/test_cli_units.py`` checks the equality against
    ``slot_schedule`` itself on random plans.
    """
    nr, nc = len(plan.row_levels), len(plan.col_levels)
    pols, rows, cols = [], [], []
    stochastic = bool(plan.row_bits)
    for k, (sx, sd, n) in enumerate(plan.subphases):
        pol = 1 if sx == sd else -1
        pols.append(np.full(n, pol, dtype=np.int64))
        if stochastic:
            rows.append(np.asarray(plan.row_bits[k], dtype=bool))
            cols.append(np.asarray(plan.col_bits[k], dtype=bool))
            continue
        rs = plan.row_negative == bool(sx)
        cs = plan.col_negative == bool(sd)
        P = int(plan.row_levels[rs].max(initial=0))
        Q = int(plan.col_levels[cs].max(initial=0))
        p = np.repeat(np.arange(P), Q)  # p outer, q inner
        q = np.tile(np.arange(Q), P)
        rows.append(rs[None, :] & (plan.row_levels[None, :] > p[:, None]))
        cols.append(cs[None, :] & (plan.col_levels[None, :] > q[:, None]))
    if not pols:
        return (np.zeros(0, dtype=np.int64), np.zeros((0, nr), dtype=bool),
                np.zeros((0, nc), dtype=bool))
    return np.concatenate(pols), np.concatenate(rows), np.concatenate(cols)


class SlotScoreboard:
    def __init__(self, config):
        self.config = config
        self.expected: collections.deque = collections.deque()
        self.errors: list[str] = []
        self.bursts = 0
        self.slots = 0

    def expect_update(self, reference, plan, row0: int, col0: int) -> None:
        """Queue the slot schedule of an update plan (window at ``row0``, ``col0``)."""
        pol, rm, cm = schedule_arrays(reference, plan)
        R, C = self.config.rows, self.config.cols
        rows = np.zeros((len(pol), R), dtype=bool)
        cols = np.zeros((len(pol), C), dtype=bool)
        rows[:, row0:row0 + rm.shape[1]] = rm
        cols[:, col0:col0 + cm.shape[1]] = cm
        self.expected.append(("update", pol, rows, cols))

    def expect_device(self, row: int, col: int, n: int) -> None:
        """Queue a write-verify step: ``|n|`` pulses of sign(n) on device (row, col) only."""
        self.expected.append(("device", row, col, n))

    def expect_any(self) -> None:
        """Queue a burst that is not checked slot by slot (e.g. a write-verify step whose count
        depends on a read the scoreboard does not predict)."""
        self.expected.append(("any",))

    def burst(self, pol, rows, cols, counts) -> None:
        self.bursts += 1
        self.slots += len(pol)
        k = self.bursts
        if not self.expected:
            self.errors.append(f"burst {k}: {len(pol)} unexpected pulse slots")
            return
        exp = self.expected.popleft()
        if exp[0] == "any":
            return
        if exp[0] == "device":
            _, r, c, n = exp
            ok = (len(pol) == abs(n) and np.all(pol == np.sign(n)) and rows[:, r].all()
                  and cols[:, c].all() and rows.sum() == len(pol) and cols.sum() == len(pol))
            if not ok:
                self.errors.append(f"burst {k}: write-verify step on ({r}, {c}) of {n} pulses, got "
                                   f"{len(pol)} slots, counts {counts[np.nonzero(counts)]}")
            return
        _, epol, erows, ecols = exp
        if len(epol) != len(pol):
            self.errors.append(f"burst {k}: expected {len(epol)} slots, got {len(pol)}")
            return
        bad = (epol != pol) | (erows != rows).any(axis=1) | (ecols != cols).any(axis=1)
        if bad.any():
            s = int(np.argmax(bad))
            self.errors.append(
                f"burst {k} slot {s}: expected pol {epol[s]} rows {np.flatnonzero(erows[s])} "
                f"cols {np.flatnonzero(ecols[s])}, got pol {pol[s]} rows {np.flatnonzero(rows[s])} "
                f"cols {np.flatnonzero(cols[s])}")

    def check(self) -> None:
        if self.expected:
            self.errors.append(f"{len(self.expected)} expected bursts never came")
        if self.errors:
            raise AssertionError("slot scoreboard: " + "; ".join(self.errors[:5]))
