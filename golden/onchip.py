"""Fixed-point on-chip trainer reference: the integer arithmetic of one training sample.

This is the specification of the controller's trainer engine (the whole per-sample step on the
FPGA, the host only streams samples): every quantity below is an integer a controller holds,
and every operation is one a small datapath does (adds, one multiply by a configured constant,
arithmetic shifts, table look-ups, comparisons). The array is driven only through the backend
interface (``forward``, ``backward``, ``update``), exactly as the controller's read, transpose
and update engines would drive it, so the same step runs on any backend.

Network and codes
-----------------
An L-layer MLP laid out as :class:`~insitu.golden.nn.CrossbarMLP` lays it out (layers side by
side, a bias row per layer driven at full scale). With ``D = dac_max``, ``P = 2**(dac_bits-1)``
(``= D + 1``), ``A = adc_max`` and ``B = out_bound`` (the ADC full scale in weight units):

* inputs: the host sends ``X = round(x * D)`` for features ``x`` in [0, 1];
* forward, layer l: the row codes are ``[H_l, D]`` (activations and bias); the ADC codes ``y``
  of the layer's columns stand for ``z = y * B / A * u_l`` (``u_l``: the weight of one input
  code step, 1 for sigmoid units); the **activation table** index is
  ``i = clamp(((y * zm_l) >> zs) + T/2, 0, T - 1)`` (``T = 2**table_bits`` entries over
  ``[-z_range, z_range)``; ``zm_l`` a configured multiplier); ``H_{l+1} = act[i]`` (codes in
  [0, D]), and ``grad[i]`` (the derivative, ``D`` at its maximum) is kept for the backward step;
* output: sigmoid units, ``O = sig[i]``; the prediction is the first ``argmax`` of the output
  layer's ADC codes (the table is monotonic; the codes have finer steps);
* loss: sigmoid outputs with the cross-entropy per output, whose error needs no derivative:
  ``E = O - D * onehot(label)``; the integer loss answered is ``sum |E|``.

Block floating point for errors
-------------------------------
An error vector is integer mantissas ``m`` with one exponent ``e`` per vector (its value is
``m * 2**e * c``, ``c`` a per-layer constant fixed at configuration). Before every transpose
read and every update it is **normalised by its leading one**: shifted (with rounding) so that
``max |m|`` has the bit length of ``D``, the exponent adjusted. This replaces the host's float
abs-max scaling (noise management) with a priority encoder and a barrel shift.

Updates (update management in integer form)
--------------------------------------------
The rank-1 update ``W -= lr * [h, 1] delta^T`` is sent as row codes ``cx = (X * rho) >> R``,
column codes ``cd = -(m * rho) >> R`` and both gains at ``count_max = C``, so the expected
pulses of device (i, j) are ``X_i m_j rho^2 C^2 / (P^2 2**(2R))``. Matching ``lr x_i delta_j /
pulse_dw`` gives ``rho^2 = 2**(2R) q_l 2**e`` with ``q_l = lr c_l P^2 / (D pulse_dw C^2)``:
``rho = r_l[e & 1] >> -(e >> 1)`` (or ``<<``), two configured constants per layer
(``r_l[0] = round(2**R sqrt(q_l))``, ``r_l[1] = round(2**R sqrt(2 q_l))``) and a shift, no
square root on the chip. ``rho`` is capped at ``2**R`` (bound management; the step counts the
event). Pulse trains come from the controller's update engine as today (dithered deterministic
counts from the LFSRs).

PGD order (van Doremaele et al. 2024, as :class:`~insitu.golden.algorithms.pgd.PGD`): update the
output layer, transpose-read the normalised error through the *updated* layer, multiply by the
stored derivative codes, normalise, update the layer below, and so on. ``algorithm="backprop"``
reads every error through the weights before any update instead.

Every constant above is computed once on the host from the configuration
(:meth:`OnChipTrainer.constants`) and would be sent with the network configuration command.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .validate import check_choice, check_float, check_int

ACTIVATIONS = ("sigmoid", "hard_sigmoid", "relu")
ALGORITHMS = ("pgd", "backprop")
RELU_MAX = 4.0  # a ReLU output code of D stands for this activation (clipped above)


@dataclass(frozen=True)
class OnChipConfig:
    """What the network configuration command carries, before the host derives constants.

    Parameters
    ----------
    activation: hidden activation, ``sigmoid``, ``hard_sigmoid`` or ``relu``; the outputs are
        sigmoid units.
    algorithm: ``pgd`` (errors read through the freshly updated layers) or ``backprop``.
    table_bits: the activation and derivative tables have ``2**table_bits`` entries, 4..12.
    z_range: the tables cover pre-activations in ``[-z_range, z_range)``, (0, 64].
    mult_bits: width of the configured multipliers (``zm_l``, ``r_l``), 8..24.
    lr: learning rate, (0, 10].
    """

    activation: str = "sigmoid"
    algorithm: str = "pgd"
    table_bits: int = 8
    z_range: float = 8.0
    mult_bits: int = 16
    lr: float = 0.1

    def __post_init__(self):
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        check_int("table_bits", self.table_bits, 4, 12)
        check_float("z_range", self.z_range, 0.0, 64.0, lo_open=True)
        check_int("mult_bits", self.mult_bits, 8, 24)
        check_float("lr", self.lr, 0.0, 10.0, lo_open=True)

    def to_dict(self) -> dict:
        return asdict(self)


def _act(name: str, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "hard_sigmoid":
        return np.clip(z / 4.0 + 0.5, 0.0, 1.0)
    return np.clip(z, 0.0, RELU_MAX) / RELU_MAX


def _grad(name: str, z):
    """Derivative of the activation (in output units), divided by its maximum."""
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s) * 4.0
    if name == "hard_sigmoid":
        return ((z > -2.0) & (z < 2.0)).astype(float)
    return ((z > 0.0) & (z < RELU_MAX)).astype(float)


def _grad_max(name: str) -> float:
    return {"sigmoid": 0.25, "hard_sigmoid": 0.25, "relu": 1.0 / RELU_MAX}[name]


def _unit(name: str) -> float:
    """What one unit of a hidden output code range (0..D) stands for."""
    return RELU_MAX if name == "relu" else 1.0


def _codes(read) -> np.ndarray:
    """A read's ADC codes as integers (an exact backend's float codes rounded, as an ADC would)."""
    a = np.asarray(read)
    if a.dtype.kind == "f":
        a = np.floor(a + 0.5)
    return a.astype(np.int64)


def shift_round(v, s: int):
    """``v * 2**-s`` rounded half up (``s > 0``), or ``v << -s``: the datapath's one shifter."""
    if s > 0:
        return (v + (1 << (s - 1))) >> s
    return v << (-s)


def normalise(m, width: int):
    """Leading-one normalisation of a mantissa vector per instance: ``(m', shift)`` with
    ``m' = shift_round(m, shift)`` and ``max |m'|`` of bit length ``width`` (0 stays 0)."""
    top = np.max(np.abs(m), axis=1)
    lengths = np.array([int(t).bit_length() for t in top], dtype=np.int64)
    s = np.where(top > 0, lengths - width, 0)
    out = np.empty_like(m)
    for k in range(m.shape[0]):
        out[k] = shift_round(m[k], int(s[k]))
    # rounding up may carry into one more bit: take that bit off again
    over = np.max(np.abs(out), axis=1) >= (1 << width)
    for k in np.nonzero(over)[0]:
        out[k] = shift_round(m[k], int(s[k]) + 1)
        s[k] += 1
    return out, s


def make_tables(activation: str, table_bits: int, z_range: float, dac_max: int) -> dict:
    """The activation (``act``), derivative (``grad``) and output sigmoid (``sig``) tables:
    ``2**table_bits`` int64 codes in [0, dac_max] each, at the mid-points of the table's
    pre-activation steps over ``[-z_range, z_range)``. A controller holds them in a ROM."""
    check_choice("activation", activation, ACTIVATIONS)
    T = 1 << table_bits
    mids = (np.arange(T) - T // 2 + 0.5) * (2.0 * z_range / T)
    return {
        "act": np.round(_act(activation, mids) * dac_max).astype(np.int64),
        "grad": np.round(_grad(activation, mids) * dac_max).astype(np.int64),
        "sig": np.round(_act("sigmoid", mids) * dac_max).astype(np.int64),
    }


class OnChipTrainer:
    """The fixed-point trainer step on a :class:`~insitu.golden.nn.CrossbarMLP`'s array.

    Usable as ``Trainer(step=...)`` (``step(net, x, t, lr)``: ``x`` features in [0, 1], ``t``
    one-hot) and as a predictor (``predict(net, x)``). The network object supplies only the
    layout (layer windows) and the backend; all arithmetic is the integer arithmetic of the
    module docstring. ``stats`` counts samples, reads, updates and capped updates.
    """

    def __init__(self, config: OnChipConfig | None = None, **kw):
        self.config = config or OnChipConfig(**kw)
        self._consts = None
        self._key = None
        self.capped_updates = 0

    # -- constants the host derives once (the configuration command's payload) ----------
    def constants(self, net, lr: float) -> dict:
        conf = self.config
        be = net.backend
        cfg = be.config
        key = (id(be), tuple(net.sizes), float(lr))
        if self._key == key:
            return self._consts
        D, A, C = cfg.dac_max, cfg.adc_max, cfg.count_max
        P = D + 1
        B = be.periphery.out_bound
        T = 1 << conf.table_bits
        step = 2.0 * conf.z_range / T
        zs = conf.mult_bits
        hidden = conf.activation
        tables = make_tables(hidden, conf.table_bits, conf.z_range, D)
        L = len(net.layers)
        # c[l]: the value of one error mantissa step of layer l before its exponent. Output
        # layer: E / D. The layer below: a transpose read's weighted sum per code step (B / A)
        # times the derivative code's unit (grad_max / D), times the mantissa's D (the read
        # takes m / D): c[l - 1] = c[l] * B / A * grad_max.
        c = [0.0] * L
        c[L - 1] = 1.0 / D
        for l in range(L - 1, 0, -1):
            c[l - 1] = c[l] * B / A * _grad_max(hidden)
        zm, r = [], []
        for l in range(L):
            u = 1.0 if l == 0 else _unit(hidden)  # what an input code of D stands for
            zm.append(int(round(B / A * u / step * (1 << zs))))
            # the layer's inputs are codes X of x D / u: lr x delta = lr (X u / D) delta
            q = lr * c[l] * u * P * P / (D * be.pulse_dw * C * C)
            r.append((int(round((1 << zs) * math.sqrt(q))), int(round((1 << zs) * math.sqrt(2 * q)))))
        self._consts = {"D": D, "C": C, "T": T, "zs": zs, "zm": zm, "r": r,
                        "width": D.bit_length(), **tables}
        self._key = key
        return self._consts

    # -- one sample -------------------------------------------------------------------
    def _forward(self, net, X, k):
        """Row codes and table indices per layer; ``X`` (K, features) ints in [0, D]."""
        be, K = net.backend, X.shape[0]
        codes, idx, ys = [X], [], []
        for l, lw in enumerate(net.layers):
            rows = np.concatenate([codes[-1], np.full((K, 1), k["D"], dtype=np.int64)], axis=1)
            y = _codes(be.forward(rows, 0, lw.col0, lw.fan_out)).reshape(K, lw.fan_out)
            i = np.clip((y * k["zm"][l]) >> k["zs"], -(k["T"] // 2), k["T"] // 2 - 1) + k["T"] // 2
            idx.append(i)
            ys.append(y)
            table = k["sig"] if l == len(net.layers) - 1 else k["act"]
            codes.append(table[i])
        return codes, idx, ys

    def _update(self, net, l, X, m, e, k) -> None:
        """``W_l -= lr [X, 1] delta^T`` for the normalised error (m, e), as one update command."""
        lw = net.layers[l]
        K = X.shape[0]
        zs = k["zs"]
        rows = np.concatenate([X, np.full((K, 1), k["D"], dtype=np.int64)], axis=1)
        cx = np.empty_like(rows)
        cd = np.empty_like(m)
        for q in range(K):
            if not np.any(m[q]):
                cx[q], cd[q] = 0, 0
                continue
            rho = shift_round(k["r"][l][int(e[q]) & 1], -(int(e[q]) >> 1))
            if rho > (1 << zs):
                rho = 1 << zs
                self.capped_updates += 1
            cx[q] = shift_round(rows[q] * rho, zs)
            cd[q] = -shift_round(m[q] * rho, zs)
        if not np.any(cd):
            return
        C = k["C"]
        net.backend.update(cx, cd, mode="deterministic", row_gain=C, col_gain=C, dither=True,
                           row0=0, col0=lw.col0)

    def _back(self, net, l, m, e, grad_idx, k):
        """Hidden error of layer l - 1 from layer l's normalised error: transpose read,
        times the stored derivative codes, normalised. Returns (m', e')."""
        lw = net.layers[l]
        K = m.shape[0]
        b = _codes(net.backend.backward(m, lw.col0, 0, lw.fan_in)).reshape(K, lw.fan_in)
        prod = b * k["grad"][grad_idx]
        mn, s = normalise(prod, k["width"])
        return mn, e + s

    def __call__(self, net, x, t, lr: float):
        k = self.constants(net, lr)
        D = k["D"]
        X = np.floor(np.asarray(x, dtype=float) * D + 0.5).astype(np.int64)
        K = X.shape[0]
        X = np.broadcast_to(X, (net.K, X.shape[1])) if K == 1 and net.K > 1 else X
        return self.step_codes(net, X, t, k)

    def step_codes(self, net, X, t, k: dict) -> dict:
        """One training sample from its integer input codes ``X`` (K, features) and one-hot
        targets ``t``, with the constants ``k`` (:meth:`constants`, or what a TRAIN command's
        configuration carries): the TRAIN command. ``net`` needs only ``layers``, ``sizes``
        and ``backend`` (``forward``, ``backward``, ``update``). Returns (and keeps in
        ``last``) ``prediction`` and ``loss`` per instance."""
        D = k["D"]
        codes, idx, ys = self._forward(net, X, k)
        L = len(net.layers)
        T = np.asarray(t).reshape(-1, net.sizes[-1])
        E = codes[-1] - D * T.astype(np.int64)
        m, s = normalise(E, k["width"])
        errors = [(m, s)]  # exponents relative to c_l
        if self.config.algorithm == "backprop":
            for l in range(L - 1, 0, -1):
                errors.insert(0, self._back(net, l, *errors[0], idx[l - 1], k))
            for l in range(L - 1, -1, -1):
                self._update(net, l, codes[l], *errors[l], k)
        else:
            e = (m, s)
            for l in range(L - 1, -1, -1):
                self._update(net, l, codes[l], *e, k)
                if l == 0:
                    break
                e = self._back(net, l, *e, idx[l - 1], k)
        self.last = {"prediction": np.argmax(ys[-1], axis=1), "loss": np.abs(E).sum(axis=1)}
        return self.last

    def infer(self, net, X, k: dict | None = None):
        """Predicted classes of integer input codes ``X`` (K, features): the INFER command
        (``k``: the constants, default :meth:`constants` of ``net``)."""
        if k is None:
            k = self.constants(net, self._key[2] if self._key else self.config.lr)
        _, _, ys = self._forward(net, np.asarray(X, dtype=np.int64), k)
        return np.argmax(ys[-1], axis=1)

    def predict(self, net, x) -> np.ndarray:
        """Scores (K, n, classes) for a batch of float samples, one sample at a time: the
        one-hot of each predicted class (what the controller answers)."""
        k = self.constants(net, self._key[2] if self._key else self.config.lr)
        out = np.zeros((net.K, len(x), net.sizes[-1]))
        for i, xi in enumerate(np.asarray(x, dtype=float)):
            X = np.broadcast_to(np.floor(xi * k["D"] + 0.5).astype(np.int64), (net.K, xi.size))
            out[np.arange(net.K), i, self.infer(net, X)] = 1.0
        return out

    def __repr__(self) -> str:
        c = self.config
        return (f"OnChipTrainer(activation={c.activation!r}, algorithm={c.algorithm!r}, "
                f"table_bits={c.table_bits}, z_range={c.z_range}, mult_bits={c.mult_bits})")
