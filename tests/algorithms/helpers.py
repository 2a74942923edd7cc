"""Test doubles and float references for the algorithm tests."""

from __future__ import annotations

import numpy as np
from insitu.golden import presets
from insitu.golden.backends import IdealBackend
from insitu.golden.nn import CrossbarMLP
from insitu.golden.train import make_backend


class RecordingBackend:
    """Wraps a backend and records every read and update as (op, layer)."""

    def __init__(self, inner, col_to_layer):
        self._inner = inner
        self._col_to_layer = col_to_layer
        self.log = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _read(self, x, l0, o0, n, transpose):
        self.log.append(("B" if transpose else "F", self._col_to_layer[l0 if transpose else o0]))
        return self._inner._read(x, l0, o0, n, transpose)

    def _update(self, x, d, mode, rg, cg, dither, row0, col0):
        self.log.append(("U", self._col_to_layer[col0]))
        return self._inner._update(x, d, mode, rg, cg, dither, row0, col0)

    def update(self, x, d, **kw):
        self.log.append(("U", self._col_to_layer[kw["col0"]]))
        return self._inner.update(x, d, **kw)


class GainErrorBackend(IdealBackend):
    """IdealBackend whose devices move by ``k_up`` times the requested change
    when potentiated and ``k_down`` times when depressed: a static per-device
    (polarity-dependent) gain error of the update. Reads stay exact."""

    def __init__(self, *a, k_up=None, k_down=None, **kw):
        super().__init__(*a, **kw)
        self.k_up = k_up
        self.k_down = k_down

    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        before = self.w.copy()
        super()._update(x, d, mode, row_gain, col_gain, dither, row0, col0)
        dw = self.w - before
        k = np.where(dw > 0, self.k_up, self.k_down)
        self.w = before + k * dw
        return 0


def ideal_net(sizes, seed=0, instances=1, **kw):
    be = make_backend("ideal", sizes, presets.ideal, instances=instances)
    net = CrossbarMLP(be, sizes, **kw)
    targets = net.init_weights(np.random.default_rng(seed))
    return net, targets


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def float_forward(ws, x):
    hs = [x]
    for l, w in enumerate(ws):
        z = np.append(hs[-1], 1.0) @ w
        hs.append(softmax(z) if l == len(ws) - 1 else sigmoid(z))
    return hs


def float_pgd_step(ws, x, t, lr, reforward=False):
    """Straightforward float PGD: update a layer, then back-propagate through it."""
    hs = float_forward(ws, x)
    L = len(ws)
    delta = hs[-1] - t
    for l in range(L - 1, -1, -1):
        ws[l] -= lr * np.outer(np.append(hs[l], 1.0), delta)
        if l == 0:
            break
        if reforward:
            hs = hs[: l + 1] + float_forward(ws[l:], hs[l])[1:]
            delta = hs[-1] - t
            for m in range(L - 1, l, -1):
                delta = (ws[m][:-1] @ delta) * hs[m] * (1 - hs[m])
        delta = (ws[l][:-1] @ delta) * hs[l] * (1 - hs[l])


def float_ep_step(ws, x, t, lr, beta, free_steps, nudge_steps):
    """Float equilibrium propagation with the same layered dynamics."""
    L = len(ws)

    def relax(s, steps, target):
        s = [v.copy() for v in s]
        for _ in range(steps):
            for l in range(1, L + 1):
                z = np.append(s[l - 1], 1.0) @ ws[l - 1]
                if l < L:
                    z = z + ws[l][:-1] @ s[l + 1]
                new = sigmoid(z)
                if l == L and target is not None:
                    new = new + beta * (target - s[L])
                s[l] = new
        return s

    s0 = relax([x] + [np.full(w.shape[1], 0.5) for w in ws], free_steps, None)
    sb = relax(s0, nudge_steps, t)
    for l in range(L):
        ws[l] += lr / beta * (np.outer(np.append(sb[l], 1.0), sb[l + 1])
                              - np.outer(np.append(s0[l], 1.0), s0[l + 1]))
    return s0, sb
