"""Chip-in-the-loop training under device and converter mismatch.

Cramer, Billaudelle, ..., Schemmel, Zenke, "Surrogate gradients for analog
neuromorphic computing", PNAS 119(4):e2109194119 (2022): the chip runs the
forward pass and its outputs are *measured*; the host runs a software model
whose forward values are replaced by the measured ones while the gradients
flow through the software model; the new weights are written back to the
chip. Because the forward pass is the hardware's own, learning corrects for
the hardware's fixed-pattern mismatch.

Here (non-spiking, crossbar form):

1. forward through the array: measured activations ``h_l`` (ADC codes rescaled,
   with all DAC/ADC gain and offset mismatch, device variation, noise);
2. the host back-propagates the output error ``e = y_meas - t`` through its own
   float copy of the weights, with the derivatives taken at the *measured*
   activations: ``delta_{l-1} = (W_host_l' delta_l) * f'(h_l)`` (no transpose
   read: the BrainScaleS scheme computes gradients on the host);
3. write-back: ``W_host_l -= lr [h_l, 1] delta_l^T`` and the same update sent to
   the array, either in situ as pulses (``write="pulse"``, the default: one
   rank-1 pulse update per layer, cheap) or by write-verify of the host weights
   every ``program_every`` samples (``write="program"``, what BrainScaleS-2 does
   with its SRAM weights, and expensive for analog devices).

Assumed rather than read: the SuperSpike surrogate derivative of the paper is
for spiking neurons; with rate (sigmoid) units the exact derivative at the
measured activation plays its part.
"""

from __future__ import annotations

import numpy as np

from ..validate import check_choice, check_int
from ._common import activation_grad, host_weights


class ChipInTheLoop:
    """Chip-in-the-loop step: ``Trainer(step=ChipInTheLoop(net, targets))``.

    Parameters
    ----------
    net: the network on the hardware backend.
    targets: the weights the host believes are on the chip (``init_weights``
        targets, or the software-trained weights that were transferred).
    write: ``pulse`` (in-situ rank-1 update) or ``program`` (write-verify).
    program_every: with ``write="program"``, samples between write-verify passes.
    """

    def __init__(self, net, targets, *, write: str = "pulse", program_every: int = 1):
        self.w = host_weights(targets, net.K)
        self.write = check_choice("write", write, ("pulse", "program"))
        self.program_every = check_int("program_every", program_every, 1, 10**6)
        self.seen = 0

    def __call__(self, net, x, t, lr: float) -> None:
        hs = net.forward(x)  # measured on the hardware
        L = len(net.layers)
        delta = hs[-1] - t
        deltas = [None] * L
        for l in range(L - 1, -1, -1):
            deltas[l] = delta
            if l:
                back = np.einsum("kio,ko->ki", self.w[l][:, :-1], delta)  # host model
                delta = back * activation_grad(net.activation, hs[l])
        for l in range(L):
            xb = np.concatenate([hs[l], np.ones((hs[l].shape[0], 1))], axis=1)
            self.w[l] -= lr * xb[:, :, None] * deltas[l][:, None, :]
            if self.write == "pulse":
                net.layer_update(l, hs[l], deltas[l], lr)
        self.seen += 1
        if self.write == "program" and self.seen % self.program_every == 0:
            for l in range(len(net.layers)):
                net.program_layer(l, self.w[l])

    def state_dict(self) -> dict:
        return {"w": [w.copy() for w in self.w], "seen": self.seen}

    def load_state_dict(self, d: dict) -> None:
        self.w = [np.array(w, dtype=float) for w in d["w"]]
        self.seen = int(d["seen"])

    def __repr__(self) -> str:
        return f"ChipInTheLoop(write={self.write!r})"
