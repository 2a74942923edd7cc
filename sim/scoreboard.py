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


class SlotScoreboard:
    def __init__(self, config):
        self.config = config
        self.expected: collections.deque = collections.deque()
        self.errors: list[str] = []
        self.bursts = 0
        self.slots = 0

    def expect_update(self, reference, plan, row0: int, col0: int) -> None:
        """Queue the slot schedule of an update plan."""
        sched = list(reference.slot_schedule(plan))
        R, C = self.config.rows, self.config.cols
        n = len(sched)
        pol = np.empty(n, dtype=np.int64)
        rows = np.zeros((n, R), dtype=bool)
        cols = np.zeros((n, C), dtype=bool)
        r0, c0 = row0, col0
        for k, (p, rm, cm) in enumerate(sched):
            pol[k] = p
            rows[k, r0:r0 + len(rm)] = rm
            cols[k, c0:c0 + len(cm)] = cm
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
