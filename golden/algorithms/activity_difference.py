"""Activity-difference training (equilibrium propagation) on a crossbar.

Yi, Kendall, Williams, Kumar, "Activity-difference training of deep neural
networks using memristor crossbars", Nat. Electron. 6:45-51 (2023): local
gradients from the difference between two behaviours of the same hardware
(memristor activity-difference energy minimisation). The rule used here is
equilibrium propagation (Scellier and Bengio 2017; Kendall et al. 2020) in its
layered, discrete-time form (Ernoult et al. 2019), with every matrix product a
crossbar read:

* **Free phase**: the input ``x`` is clamped; the layers relax to a fixed point
  ``s^0`` of ``s_l = sigma(W_{l-1}' [s_{l-1}, 1] + W_l s_{l+1})`` (a forward read
  of the layer below plus a transpose read of the layer above, through the same
  devices, so the interaction is symmetric as the energy needs), sweeping the
  layers bottom-up ``free_steps`` times.
* **Nudged phase**: starting from ``s^0``, the output is pulled towards the
  target by an injected term ``beta (y - s_L)`` and the layers relax again
  (``nudge_steps`` sweeps) to ``s^b``.
* **Update**: ``dW_l = (lr / beta) ([s_l^b, 1] s_{l+1}^b' - [s_l^0, 1] s_{l+1}^0')``.

How the update becomes pulses (``form``):

``"difference"`` (default) writes the activity difference exactly as rank-1
pulse updates whose vectors are themselves *differences*::

    s_l^b s_{l+1}^b' - s_l^0 s_{l+1}^0' = [s_l^0, 1] (ds_{l+1})' + [ds_l, 0] (s_{l+1}^b)'

One update for the first layer (its input is clamped, ``ds_0 = 0``), two for
the others. Each pulse train is ``O(beta)``, so a device that steps up and down
by different amounts (polarity-dependent gain, the asymmetry of every real
memristor) errs by a fraction of the *signal*.

``"two-phase"`` applies the nudged product and the negative free product as two
separate rank-1 updates (the literal reading of the rule). A static
polarity-independent per-device gain error still cancels (both updates pass
through the same device: ``k (A^b - A^0)``), but the up/down asymmetry does not:
the two ``O(1)`` updates leave ``(k_up - k_down) A^0``, which is ``O(1/beta)``
times the signal. ``tests/algorithms/test_activity_difference.py`` shows both.

Static errors of the read path (DAC/ADC gain and offset, device variation) are
part of the physical system both phases share: the rule estimates the gradient
of *that* system's loss, and an additive readout offset on the activities
cancels exactly in ``ds``.

Assumed rather than read (the paper's body was not available here): the
layered discrete-time dynamics, sigmoid units, the nudge as an injected term,
the settling schedule, and the network sizes of the Braille experiment
(:mod:`insitu.golden.braille`).
"""

from __future__ import annotations

import numpy as np

from ..validate import check_choice, check_float, check_int
from ._common import rank1_update, sigmoid

FORMS = ("difference", "two-phase")


class ActivityDifference:
    """Equilibrium-propagation step: ``Trainer(step=ActivityDifference())``.

    The output units are sigmoids (targets in ``[0, 1]``: one-hot classes or
    binary patterns); hidden units are sigmoids too, whatever the network's
    ``activation`` says (the energy form needs a bounded, monotone unit).

    Parameters
    ----------
    beta: nudging strength, (0, 1].
    free_steps, nudge_steps: relaxation sweeps of the two phases.
    form: ``difference`` or ``two-phase`` (see the module docstring).
    """

    def __init__(self, *, beta: float = 0.5, free_steps: int = 12, nudge_steps: int = 6,
                 form: str = "difference"):
        self.beta = check_float("beta", beta, 0.0, 1.0, lo_open=True)
        self.free_steps = check_int("free_steps", free_steps, 1, 1000)
        self.nudge_steps = check_int("nudge_steps", nudge_steps, 1, 1000)
        self.form = check_choice("form", form, FORMS)
        self.last = None  # (s_free, s_nudged) of the last step, for inspection

    # -- phases ----------------------------------------------------------------------
    def relax(self, net, x, s=None, *, steps: int, target=None, drive0=None):
        """Relax the layers for ``steps`` bottom-up sweeps; returns ``[x, s_1, ..., s_L]``.

        ``drive0`` is the clamped input's drive of the first layer (one forward
        read, shared by both phases when given).
        """
        L = len(net.layers)
        K = x.shape[0]
        if drive0 is None:
            drive0 = net.layer_forward(0, x)
        if s is None:
            s = [x] + [np.full((K, n), 0.5) for n in net.sizes[1:]]
        else:
            s = [x] + [v.copy() for v in s[1:]]
        for _ in range(steps):
            for l in range(1, L + 1):
                z = drive0 if l == 1 else net.layer_forward(l - 1, s[l - 1])
                if l < L:
                    z = z + net.layer_backward(l, s[l + 1])
                new = sigmoid(z)
                if l == L and target is not None:
                    new = new + self.beta * (target - s[L])
                s[l] = new
        return s

    def free(self, net, x, steps: int | None = None):
        """Free-phase fixed point (the network's inference)."""
        return self.relax(net, x, steps=self.free_steps if steps is None else steps)

    def predict(self, net, x) -> np.ndarray:
        """Outputs (K, n, out) of the free phase for a batch x (n, features), one
        sample at a time."""
        out = np.empty((net.K, len(x), net.sizes[-1]))
        for i, xi in enumerate(x):
            out[:, i] = self.free(net, np.broadcast_to(xi, (net.K, xi.size)))[-1]
        return out

    # -- step ----------------------------------------------------------------------------
    def __call__(self, net, x, t, lr: float) -> None:
        x = np.asarray(x, dtype=float)
        drive0 = net.layer_forward(0, x)
        s0 = self.relax(net, x, steps=self.free_steps, drive0=drive0)
        sb = self.relax(net, x, s0, steps=self.nudge_steps, target=t, drive0=drive0)
        self.last = (s0, sb)
        self.apply(net, s0, sb, lr)

    def apply(self, net, s0, sb, lr: float) -> None:
        """Write ``(lr/beta)(A^b - A^0)`` for every layer as rank-1 pulse updates."""
        K = s0[0].shape[0]
        one, zero = np.ones((K, 1)), np.zeros((K, 1))
        k = lr / self.beta
        for l in range(len(net.layers)):
            if self.form == "two-phase":
                rank1_update(net, l, np.concatenate([sb[l], one], 1), -sb[l + 1], k)
                rank1_update(net, l, np.concatenate([s0[l], one], 1), s0[l + 1], k)
                continue
            rank1_update(net, l, np.concatenate([s0[l], one], 1), -(sb[l + 1] - s0[l + 1]), k)
            if l > 0:
                rank1_update(net, l, np.concatenate([sb[l] - s0[l], zero], 1), -sb[l + 1], k)

    def __repr__(self) -> str:
        return (f"ActivityDifference(beta={self.beta}, free_steps={self.free_steps}, "
                f"nudge_steps={self.nudge_steps}, form={self.form!r})")
