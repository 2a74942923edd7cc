"""Progressive gradient descent (PGD): backprop without storing the layers' errors.

van Doremaele, Stevens, Ringeling, Spolaor, Fattori, van de Burgt, "Hardware
implementation of backpropagation using progressive gradient descent for in
situ training of multilayer neural networks", Sci. Adv. 10(28):eado8999 (2024),
DOI 10.1126/sciadv.ado8999, open access PMC11244533.

Confirmed in the paper's abstract (PMC11244533, read through the project's
search tool): backprop in hardware normally needs the partial derivatives
stored; PGD "progressively updates each layer using in situ stochastic
gradient descent, avoiding this storage requirement"; the in-situ error
calculation is demonstrated on a multilayer hardware network with "identical
learning characteristics and classification performance compared to
conventional backpropagation in software".

Assumed (the body of the paper could not be read here; see
docs/reproductions.md): the network sizes and datasets (we use 64-32-10 on
scikit-learn digits and 4-8-3 on iris), that errors become pulses by the
controller's deterministic pulse counts with abs-max update management (the
project's standard scheme, :meth:`CrossbarMLP.layer_update`), and whether a
forward pass is re-run between layer updates (option
``reforward_between_layers``, off by default).

Per sample, for layers ``L-1 .. 0``:

1. forward pass through the array, output error ``e = y - t`` computed
   digitally (softmax + cross-entropy);
2. update layer ``l`` at once, in situ: ``W_l -= lr [h_l, 1] delta_l^T``;
3. only then the transpose read through the *already updated* ``W_l`` gives
   the error of the layer below: ``delta_{l-1} = (W_l' delta_l) * f'(h_l)``.

Standard backprop reads ``W_l`` before its update; the difference is
``O(lr)`` and PGD needs no storage of the deltas of all layers.
"""

from __future__ import annotations

from ._common import forward_from


class PGD:
    """Progressive gradient descent step, usable as ``Trainer(step=PGD())``.

    Parameters
    ----------
    reforward_between_layers:
        After updating layer ``l``, run the forward pass again from layer ``l``'s
        input through the updated layers and take the error of the layer below
        from the fresh output error (back-propagated through the updated layers
        above). Costs extra reads; removes the last stored quantity (the output
        error of the first pass).
    """

    def __init__(self, *, reforward_between_layers: bool = False):
        self.reforward_between_layers = bool(reforward_between_layers)

    def __call__(self, net, x, t, lr: float) -> None:
        hs = net.forward(x)
        L = len(net.layers)
        delta = hs[-1] - t
        for l in range(L - 1, -1, -1):
            net.layer_update(l, hs[l], delta, lr)
            if l == 0:
                break
            if self.reforward_between_layers:
                hs = hs[: l + 1] + forward_from(net, l, hs[l])
                delta = hs[-1] - t
                for m in range(L - 1, l, -1):
                    delta = net.hidden_delta(m - 1, net.layer_backward(m, delta), hs[m])
            back = net.layer_backward(l, delta)  # W_l has been updated already
            delta = net.hidden_delta(l - 1, back, hs[l])

    def __repr__(self) -> str:
        return f"PGD(reforward_between_layers={self.reforward_between_layers})"


def pgd_step(net, x, t, lr: float) -> None:
    """PGD without re-forwarding: ``Trainer(step=pgd_step)``."""
    PGD()(net, x, t, lr)
