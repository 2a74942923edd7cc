"""Mixed-precision training: gradients accumulated digitally, devices pulsed when a
whole step is due.

Nandakumar, Le Gallo, Piveteau, Joshi, Mariani, Boybat, Karunaratne,
Khaddam-Aljameh, Egger, Petropoulos, Antonakopoulos, Rajendran, Sebastian,
Eleftheriou, "Mixed-precision deep learning based on computational memory",
Front. Neurosci. 14:406 (2020); the form implemented is the one of the leading
simulator (REFERENCES.md, *The Tiki-Taka family*):

1. forward and backward reads through the array (the weights ``W`` are the
   devices), errors from one forward pass as in standard backprop;
2. the desired update is accumulated in a digital matrix ``chi`` per layer:
   ``chi += -lr [h, 1] delta^T``;
3. where ``|chi| >= one nominal step`` the device receives
   ``n = trunc(chi / pulse_dw)`` pulses (at most ``count_max`` per sample) and
   ``chi -= n pulse_dw``.

The controller holds ``chi`` as a fixed-point integer in units of
``pulse_dw / 2**CHI_FRAC_BITS`` (so the accumulation is exact integer
arithmetic and the remainder is kept bit for bit). The pulses are sent one row
at a time (a one-hot row update, :func:`~._common.pulse_row`): the per-device
counts are not a rank-1 product, so a row costs one update command. Rows with
no count due in any instance cost nothing.
"""

from __future__ import annotations

import numpy as np

from ..validate import check_int
from ._common import backprop_deltas, pulse_row

#: fraction bits of the digital accumulator ``chi`` (units of one nominal pulse)
CHI_FRAC_BITS = 12


class MixedPrecision:
    """Mixed-precision step: ``Trainer(step=MixedPrecision(net))``.

    Parameters
    ----------
    net: the network (its layer windows size the accumulators).
    max_pulses: pulses per device and sample, ``[1, count_max]`` (default
        ``count_max``); what is left stays in ``chi``.

    Attributes
    ----------
    chi: per layer, (K, fan_in + 1, fan_out) int64 fixed-point accumulators.
    counters: ``row_updates`` (update commands), ``buffer_ops`` (accumulator
        element updates), ``samples``.
    """

    def __init__(self, net, *, max_pulses: int | None = None):
        cm = net.backend.config.count_max
        self.max_pulses = check_int("max_pulses", cm if max_pulses is None else max_pulses, 1, cm)
        self.chi = [np.zeros((net.K, lw.rows, lw.fan_out), dtype=np.int64) for lw in net.layers]
        self.counters = {"row_updates": 0, "buffer_ops": 0, "transfer_reads": 0, "samples": 0}

    def __call__(self, net, x, t, lr: float) -> None:
        hs = net.forward(x)
        deltas = backprop_deltas(net, hs, t)
        one = float(1 << CHI_FRAC_BITS)
        pdw = net.backend.pulse_dw
        for l, lw in enumerate(net.layers):
            xb = np.concatenate([hs[l], np.ones((hs[l].shape[0], 1))], axis=1)
            # the weight scale: the devices hold W / alpha_l
            inc = -(lr / net.alpha[l]) * xb[:, :, None] * deltas[l][:, None, :] * (one / pdw)
            chi = self.chi[l]
            chi += np.floor(inc + 0.5).astype(np.int64)
            self.counters["buffer_ops"] += chi.size // net.K
            # trunc towards zero: whole pulses due, the remainder stays
            n = np.sign(chi) * (np.abs(chi) >> CHI_FRAC_BITS)
            n = np.clip(n, -self.max_pulses, self.max_pulses)
            if not np.any(n):
                continue
            chi -= n << CHI_FRAC_BITS
            for i in np.flatnonzero(np.any(n != 0, axis=(0, 2))):
                pulse_row(net, int(i), lw.col0, n[:, i, :])
                self.counters["row_updates"] += 1
        self.counters["samples"] += 1

    def state_dict(self) -> dict:
        return {"chi": [c.copy() for c in self.chi], "counters": dict(self.counters)}

    def load_state_dict(self, d: dict) -> None:
        self.chi = [np.array(c, dtype=np.int64) for c in d["chi"]]
        self.counters = {k: int(v) for k, v in d["counters"].items()}

    def __repr__(self) -> str:
        return f"MixedPrecision(max_pulses={self.max_pulses})"
