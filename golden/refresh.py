"""Refresh of unidirectional device pairs: the controller's digital logic that keeps a
SET-only differential pair (PCM-like, device family ``set_reset``) trainable.

Why
---
A phase-change device moves gradually only one way (SET, crystallisation); its
RESET (amorphisation) is abrupt, all the way down. A weight is therefore held by
two such devices, ``w = (G+ - G-) / range``, and changed by SET pulses on one of
them (the backend's *unidirectional drive*: a positive count pulses G+, a
negative one G-). Both devices only climb; once one nears its bound its steps
vanish and the weight can no longer move that way. Burr et al., IEEE Trans.
Electron Devices 62:3498 (2015) (two PCM devices per weight, "occasional
RESET") and Nandakumar et al., Front. Neurosci. 14:406 (2020) describe the
remedy this module implements as the controller would (the exact trigger and
schedule of those papers were not read: the rule below is this project's,
documented here).

The rule (per call, e.g. once per training sample)
--------------------------------------------------
1. *check*: the next ``rows_per_check`` rows of the array (round robin) are read
   device by device: a single-device read of G+ and of G- of every pair of those
   rows (``2 * cols`` conversions per row, TIA at ``program_bound``);
2. a pair is *due* when either device reads at or above ``threshold`` of the
   nominal single-device full range (``g_min + threshold * (g_max - g_min)``,
   in ADC codes; default 0.75, the leading simulator's ``refresh_upper_thres``);
3. for the due pairs: the weight is read (a single-device read of the pair's
   difference current, as write-verify reads it: a device's own read may
   saturate the ADC near ``g_max``), both devices get one RESET pulse (:meth:`~insitu.golden.backends.GoldenBackend.reset_pairs`), and
   write-verify programs the weight back with SET pulses on one device of the
   pair (:meth:`~insitu.golden.backends.Backend.program` with a ``mask``).

Costs are counted: the checks' and write-verify's conversions in the backend's
``stats.conversions`` and ``program_reads``, the RESET pulses in
``stats.reset_pulses``, the re-programming pulses in ``program_pulses``, and the
refresh's own :attr:`PairRefresh.counters`. The refresh is host-side digital
logic for now (like the Tiki-Taka buffer); the RTL controller has no refresh
engine, so a ``set_reset`` run is not co-simulated.
"""

from __future__ import annotations

import numpy as np

from .backends import GoldenBackend
from .devices import UNIDIRECTIONAL
from .validate import check_float, check_int


class PairRefresh:
    """The refresh of the unidirectional pairs of one :class:`GoldenBackend`.

    Parameters
    ----------
    backend: a ``GoldenBackend`` whose device family is unidirectional (``set_reset``).
    threshold: fraction of the device range at which a device counts as near
        saturation, ``[0.5, 1.0)``.
    rows_per_check: rows of the array checked per call, ``[1, rows]``.
    tolerance: write-verify tolerance of the re-programming, ADC codes of a
        single-device read, ``[0, adc_max]`` (default ``min(2, adc_max)``).
    """

    def __init__(self, backend, *, threshold: float = 0.75, rows_per_check: int = 1,
                 tolerance: int | None = None):
        if not isinstance(backend, GoldenBackend):
            raise ValueError(f"the pair refresh drives a GoldenBackend, got "
                             f"{type(backend).__name__}")
        if backend.device.family not in UNIDIRECTIONAL:
            raise ValueError(f"the pair refresh is for device families "
                             f"{', '.join(UNIDIRECTIONAL)}, got {backend.device.family!r}")
        self.backend = backend
        self.threshold = check_float("threshold", threshold, 0.5, 1.0, hi_open=True)
        self.rows_per_check = check_int("rows_per_check", rows_per_check, 1, backend.rows)
        self.tolerance = min(2, backend.adc_max) if tolerance is None else \
            check_int("tolerance", tolerance, 0, backend.adc_max)
        d, pp = backend.device, backend.periphery
        # a single device of the pair reads g / g_unit * adc_max / program_bound codes
        g_due = d.g_min + self.threshold * (d.g_max - d.g_min)
        self.due_code = int(np.ceil(g_due / backend.g_unit / pp.program_bound * backend.adc_max))
        self.next_row = 0
        self.counters = {"checks": 0, "device_reads": 0, "weight_reads": 0, "refreshed": 0}

    def __call__(self) -> int:
        """Check the next rows; refresh the due pairs. Returns the pairs refreshed."""
        be = self.backend
        K, R, C = be.instances, be.rows, be.cols
        rows = (self.next_row + np.arange(self.rows_per_check)) % R
        self.next_row = int((self.next_row + self.rows_per_check) % R)
        ri = np.broadcast_to(np.repeat(rows, C)[None, :], (K, rows.size * C))
        ci = np.broadcast_to(np.tile(np.arange(C), rows.size)[None, :], (K, rows.size * C))
        plus = be.read_device_codes(ri, ci, device=0)
        minus = be.read_device_codes(ri, ci, device=1)
        self.counters["checks"] += 1
        self.counters["device_reads"] += 2 * ri.size
        due = (plus >= self.due_code) | (minus >= self.due_code)
        if not due.any():
            return 0
        kk = np.broadcast_to(np.arange(K)[:, None], due.shape)
        mask = np.zeros((K, R, C), dtype=bool)
        mask[kk[due], ri[due], ci[due]] = True
        # the weight itself: a single-device read of the pair (its difference current), the
        # read write-verify uses; a device's own read may saturate the ADC near g_max
        m = int(due.sum(axis=1).max())
        order = np.argsort(~due, axis=1, kind="stable")[:, :m]
        valid = np.take_along_axis(due, order, axis=1)
        wr, wc = np.take_along_axis(ri, order, axis=1), np.take_along_axis(ci, order, axis=1)
        w = be.read_device_codes(wr, wc) * (be.periphery.program_bound / be.adc_max)
        self.counters["weight_reads"] += int(valid.sum())
        target = np.zeros((K, R, C))
        kv = np.broadcast_to(np.arange(K)[:, None], valid.shape)
        target[kv[valid], wr[valid], wc[valid]] = w[valid]
        be.reset_pairs(mask)
        be.program(target, mask=mask, tolerance=self.tolerance)
        n = int(due.sum())
        self.counters["refreshed"] += n
        return n

    def state_dict(self) -> dict:
        return {"next_row": self.next_row, "counters": dict(self.counters)}

    def load_state_dict(self, d: dict) -> None:
        self.next_row = int(d["next_row"])
        self.counters = {k: int(v) for k, v in d["counters"].items()}


class RefreshedStep:
    """A training step followed by one :class:`PairRefresh` call per sample.

    ``step(net, x, t, lr)`` is any Trainer step (``None``: the network's backprop
    step). Attributes the step has (counters, settings...) are reachable through
    this wrapper; its state is saved with the refresh's.
    """

    def __init__(self, step, refresh: PairRefresh):
        self.inner = step
        self.refresh = refresh

    def __call__(self, net, x, t, lr) -> None:
        if self.inner is None:
            net.backprop_step(x, t, lr)
        else:
            self.inner(net, x, t, lr)
        self.refresh()

    def __getattr__(self, name):
        if name in ("inner", "refresh"):  # not yet set (copy, unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def state_dict(self) -> dict:
        inner = self.inner.state_dict() if hasattr(self.inner, "state_dict") else None
        return {"step": inner, "refresh": self.refresh.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        if d.get("step") is not None:
            self.inner.load_state_dict(d["step"])
        self.refresh.load_state_dict(d["refresh"])

    def __repr__(self) -> str:
        return (f"RefreshedStep({self.inner!r}, threshold={self.refresh.threshold}, "
                f"rows_per_check={self.refresh.rows_per_check})")
