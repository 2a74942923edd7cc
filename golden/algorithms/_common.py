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


def backprop_deltas(net, hs, t) -> list:
    """Every layer's error of standard backprop for the forward activations ``hs`` (input
    first) and one-hot targets ``t``: the output error, read back through each layer's
    weights before any update."""
    L = len(net.layers)
    deltas = [None] * L
    deltas[-1] = hs[-1] - t
    for l in range(L - 1, 0, -1):
        deltas[l - 1] = net.hidden_delta(l - 1, net.layer_backward(l, deltas[l]), hs[l])
    return deltas


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
    lr = lr / net.alpha[l]  # the weight scale: the devices move dW / alpha_l
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


def count_codes(net, counts):
    """Column DAC codes and the column gain that make a deterministic update with
    the row driven at full scale (row gain 1, one pulse per column slot) deliver
    exactly ``counts`` pulses per column.

    The controller's line count is ``b = (|code| * gain + half) >> (dac_bits - 1)``
    (:func:`insitu.golden.controller.deterministic_counts`); with the gain at
    ``count_max`` the smallest code giving ``b = m`` is
    ``ceil((m << shift) - half) / count_max)``. On an exact (float) backend the
    code is ``m * dac_max / count_max``. ``counts`` must be integers in
    ``[-count_max, count_max]``.
    """
    cfg = net.backend.config
    cm = cfg.count_max
    m = np.asarray(counts)
    a = np.abs(m)
    if np.any(a > cm):
        raise ValueError(f"pulse counts must be in [-{cm}, {cm}], got max |n| = {int(a.max())}")
    if net.exact:
        return np.sign(m) * a * (net.dac_max / cm), cm
    shift = cfg.dac_bits - 1
    half = 1 << (shift - 1)
    c = np.where(a > 0, -(-((a << shift) - half) // cm), 0)
    if np.any(c > net.dac_max):
        raise ValueError(f"count_max {cm} is too large for exact pulse counts with "
                         f"{cfg.dac_bits}-bit DACs")
    return np.where(m < 0, -c, c).astype(np.int64), cm


def pulse_row(net, row: int, col0: int, counts) -> int:
    """Send ``counts`` (K, ncols) signed pulses to the devices of one row, columns
    ``[col0, col0 + ncols)``: one deterministic rank-1 update command with the
    row one-hot at full scale and no dither, through the public ``update`` call.
    Returns the pulse slots spent (0 when no count is nonzero)."""
    counts = np.asarray(counts)
    if not np.any(counts):
        return 0
    be = net.backend
    cd, gain = count_codes(net, counts)
    x = np.zeros((net.K, row + 1), dtype=float if net.exact else np.int64)
    x[:, row] = net.dac_max
    # rows [0, row] are driven (all but `row` at code 0), columns from col0
    return be.update(x, cd, mode="deterministic", row_gain=1, col_gain=gain, dither=False,
                     row0=0, col0=col0)


def read_row(net, row: int, col0: int, ncols: int):
    """Forward read of the one-hot code vector ``e_row`` (full DAC scale): the ADC
    codes (K, ncols) of one row of devices, and their value in weight units."""
    x = np.zeros((net.K, row + 1), dtype=float if net.exact else np.int64)
    x[:, row] = net.dac_max
    codes = net.backend.forward(x, 0, col0, ncols)
    return codes, net.backend.codes_to_weighted_sum(codes, 1.0)
