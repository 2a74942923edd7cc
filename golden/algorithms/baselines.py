"""Baselines that in-situ training is measured against.

* :class:`StochasticSGD`: the classic stochastic pulse-coincidence update
  (Gokmen and Vlasov, Front. Neurosci. 2016): standard backprop whose rank-1
  updates are Bernoulli pulse trains on rows and columns; a device moves where
  pulses coincide. It is :meth:`CrossbarMLP.backprop_step` on a network built
  with ``mode="stochastic"`` (the controller's LFSR streams, ``bl`` slots).
* :class:`WriteVerifySGD`: the costly baseline in-situ training avoids. The
  host keeps float weights, computes plain SGD updates in software (float
  forward and backward, softmax + cross-entropy) and writes the new weights to
  the array by write-verify programming (``backend.program``) every
  ``program_every`` samples. Accuracy is measured on the array; the reads and
  pulses write-verify spends are in ``backend.stats`` (``program_reads``,
  ``program_pulses``) and in :attr:`WriteVerifySGD.cost`.
"""

from __future__ import annotations

import numpy as np

from ..validate import check_int
from ._common import activate, activation_grad, host_weights, softmax


class StochasticSGD:
    """Backprop with stochastic pulse-coincidence updates; needs ``net.mode == "stochastic"``."""

    def __call__(self, net, x, t, lr: float) -> None:
        if net.mode != "stochastic":
            raise ValueError("StochasticSGD needs a CrossbarMLP built with mode='stochastic'")
        net.backprop_step(x, t, lr)

    def __repr__(self) -> str:
        return "StochasticSGD()"


class WriteVerifySGD:
    """Float SGD on the host, weights written to the array by write-verify.

    Parameters
    ----------
    net: the :class:`CrossbarMLP` whose array stores the weights.
    targets: the initial weights the host programmed (``net.init_weights(rng)``).
    program_every: samples between two write-verify passes (1 = after every
        sample); the host accumulates its updates meanwhile (plain SGD on its
        own float copy, so the samples in between see the host's new weights).
    tolerance, shift: write-verify settings passed to ``backend.program``.
    """

    def __init__(self, net, targets, *, program_every: int = 1, tolerance: int = 2,
                 shift: int = 3):
        self.w = host_weights(targets, net.K)
        self.program_every = check_int("program_every", program_every, 1, 10**6)
        self.tolerance = tolerance
        self.shift = shift
        self.seen = 0
        self.cost = {"program_calls": 0, "reads": 0, "pulses": 0, "unconverged": 0}

    def _host_step(self, act, x, t, lr):
        L = len(self.w)
        hs = [np.asarray(x, dtype=float)]
        for l, w in enumerate(self.w):
            xb = np.concatenate([hs[-1], np.ones((hs[-1].shape[0], 1))], axis=1)
            z = np.einsum("ki,kio->ko", xb, w)
            hs.append(softmax(z) if l == L - 1 else activate(act, z))
        delta = hs[-1] - t
        for l in range(L - 1, -1, -1):
            back = np.einsum("kio,ko->ki", self.w[l][:, :-1], delta) if l else None
            xb = np.concatenate([hs[l], np.ones((hs[l].shape[0], 1))], axis=1)
            self.w[l] -= lr * xb[:, :, None] * delta[:, None, :]
            if l:
                delta = back * activation_grad(act, hs[l])

    def write(self, net) -> None:
        """Program the host's weights into the array (all layers)."""
        for l in range(len(net.layers)):
            r = net.program_layer(l, self.w[l], tolerance=self.tolerance, shift=self.shift)
            self.cost["program_calls"] += 1
            self.cost["reads"] += r["reads"]
            self.cost["pulses"] += r["pulses"]
            self.cost["unconverged"] += r["unconverged"]

    def __call__(self, net, x, t, lr: float) -> None:
        self._host_step(net.activation, x, t, lr)
        self.seen += 1
        if self.seen % self.program_every == 0:
            self.write(net)

    def state_dict(self) -> dict:
        return {"w": [w.copy() for w in self.w], "seen": self.seen, "cost": dict(self.cost)}

    def load_state_dict(self, d: dict) -> None:
        self.w = [np.array(w, dtype=float) for w in d["w"]]
        self.seen = int(d["seen"])
        self.cost = dict(d["cost"])

    def __repr__(self) -> str:
        return f"WriteVerifySGD(program_every={self.program_every})"
