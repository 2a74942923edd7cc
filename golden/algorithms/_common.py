"""Helpers shared by the training algorithms: activations and a rank-1 update
with an explicit row vector.

Everything here goes through the :class:`~insitu.golden.nn.CrossbarMLP` layer
operations or the public backend ``update`` call; nothing touches device
conductances.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def activate(name: str, z):
    """The hidden activations of :class:`~insitu.golden.nn.CrossbarMLP`."""
    if name == "sigmoid":
        return sigmoid(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    raise ValueError(f"activation must be one of sigmoid, relu, tanh; got {name!r}")


def activation_grad(name: str, h):
    """Derivative of the activation expressed through its output ``h``."""
    if name == "sigmoid":
        return h * (1.0 - h)
    if name == "relu":
        return (h > 0).astype(float)
    return 1.0 - h * h


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward_from(net, l0: int, h, *, output: str = "softmax"):
    """Activations of layers ``l0+1 .. L`` for input ``h`` of layer ``l0`` (array reads)."""
    L = len(net.layers)
    out = []
    for m in range(l0, L):
        z = net.layer_forward(m, h)
        if m == L - 1:
            h = softmax(z) if output == "softmax" else sigmoid(z)
        else:
            h = activate(net.activation, z)
        out.append(h)
    return out


def rank1_update(net, l: int, row_vec, delta, lr: float) -> int:
    """In-situ ``W_l -= lr * row_vec delta^T`` where ``row_vec`` (K, fan_in + 1)
    includes the bias row's entry explicitly.

    :meth:`CrossbarMLP.layer_update` always drives the bias row with 1; an
    activity-difference update needs it driven with 0 for the term whose row
    vector is a *difference* of activities. Update management is the same as
    the network's (abs-max scaling, split evenly between rows and columns,
    capped at full gain); the request goes through the public backend ``update``.
    """
    lw = net.layers[l]
    be = net.backend
    x = np.asarray(row_vec, dtype=float)
    delta = np.asarray(delta, dtype=float)
    sx = np.max(np.abs(x), axis=1, keepdims=True)
    sd = np.max(np.abs(delta), axis=1, keepdims=True)
    if not np.any(sd > 0) or not np.any(sx > 0):
        return 0
    sx = np.where(sx > 0, sx, 1.0)
    sd = np.where(sd > 0, sd, 1.0)
    g = lr * sx * sd / (be.pulse_dw * net._full_pulses)
    rho = np.sqrt(g)
    if np.any(rho > 1.0):
        net.capped_updates += 1
        rho = np.minimum(rho, 1.0)
    cx = x * (rho * net.dac_max / sx)
    cd = -delta * (rho * net.dac_max / sd)
    if not net.exact:
        cx = np.floor(cx + 0.5).astype(np.int64)
        cd = np.floor(cd + 0.5).astype(np.int64)
    return be.update(cx, cd, mode=net.mode, row_gain=net._gain, col_gain=net._gain,
                     dither=net.dither, row0=0, col0=lw.col0)


def host_weights(targets, instances: int) -> list:
    """Per-instance copies (K, fan_in + 1, fan_out) of the weight targets a host
    programmed (``CrossbarMLP.init_weights`` returns one (rows, fan_out) array per layer)."""
    out = []
    for t in targets:
        t = np.asarray(t, dtype=float)
        if t.ndim == 2:
            t = np.broadcast_to(t, (instances,) + t.shape)
        out.append(np.array(t, dtype=float))
    return out
