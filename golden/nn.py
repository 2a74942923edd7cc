"""A multilayer perceptron mapped onto one crossbar, driven through a backend.

Layer ``l`` (``fan_in -> fan_out``) occupies the window rows ``[0, fan_in + 1)``
(the last row carries the bias: its input is always 1) and columns
``[c_l, c_l + fan_out)``, layers side by side. A read converts only its own
columns, and an update drives only its own rows and columns, so layers never
disturb each other.

The conversions between floats and codes are the controller's digital job
(DESIGN.md, *noise management*):

* reads: a vector ``v`` is sent as ``round(v / max|v| * dac_max)`` and the ADC
  result is rescaled by ``max|v|``, so small backward errors keep their
  resolution;
* updates (*update management*): ``dW = -lr * x delta^T`` is requested as
  codes and gains such that the expected pulse count times the nominal
  weight step per pulse equals it; when the request exceeds what one command
  can deliver the update is capped (bound management), and the event counted.

*Weight scale*: layer ``l``'s weight is ``alpha_l (g+ - g-) / g_range``; the
digital gain ``alpha_l`` multiplies the rescaled ADC result of its forward and
transpose reads, and its updates request ``dW / alpha_l`` of the devices
(:func:`weight_scales`). ``alpha_l = 1`` (the default) is the array's own
``|w| <= 1``.

All float arrays carry a leading instance axis ``K`` (Monte-Carlo device draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import compiled_step, fastpath
from .backends import Backend
from .config import ControllerConfig
from .validate import check_choice, check_float, check_int

ACTIVATIONS = ("sigmoid", "relu", "tanh")
#: pre-activation a layer's weights must be able to reach from unit inputs (``auto`` scale)
SCALE_PREACTIVATION = 16.0


def weight_scales(weight_scale, fan_ins) -> list:
    """The digital per-layer gains ``alpha_l``.

    ``None``: 1 for every layer. ``"auto"``: ``max(1, SCALE_PREACTIVATION /
    sqrt(fan_in + 1))``, fixed at initialisation from the fan-in: the gain with
    which ``fan_in + 1`` inputs of unit size and random sign can reach a
    pre-activation of 16 (deep in a sigmoid's saturation); wide layers keep 1.
    (Measured on iris, 4 draws, 40 epochs, in-situ backprop on ``ecram_organic``:
    95.6 % with 12, 96.7 % with 16, 73 % without a scale.) A number in
    ``(0, 1000]`` or one per layer: used as given.
    """
    n = len(fan_ins)
    if weight_scale is None:
        return [1.0] * n
    if isinstance(weight_scale, str):
        check_choice("weight_scale", weight_scale, ("auto",))
        return [max(1.0, SCALE_PREACTIVATION / float(np.sqrt(f + 1))) for f in fan_ins]
    if np.ndim(weight_scale) == 0:
        return [check_float("weight_scale", weight_scale, 0.0, 1000.0, lo_open=True)] * n
    vals = list(weight_scale)
    if len(vals) != n:
        raise ValueError(f"weight_scale needs one gain per layer ({n}), got {len(vals)}")
    return [check_float("weight_scale", v, 0.0, 1000.0, lo_open=True) for v in vals]


def layout_shape(sizes, max_size: int = 255) -> tuple[int, int]:
    """(rows, cols) of the array that holds an MLP of ``sizes`` side by side
    (a tiled backend's virtual array may exceed one array's 256 lines)."""
    sizes = [check_int("layer size", s, 1, max_size) for s in sizes]
    if len(sizes) < 2:
        raise ValueError("an MLP needs at least 2 layer sizes (inputs, outputs)")
    return max(s + 1 for s in sizes[:-1]), sum(sizes[1:])


def layout_config(sizes, base: ControllerConfig | None = None, **overrides) -> ControllerConfig:
    """The ControllerConfig whose array holds an MLP of ``sizes`` side by side."""
    rows, cols = layout_shape(sizes)
    d = (base or ControllerConfig()).to_dict()
    d.update(overrides)
    d.update(rows=rows, cols=cols)
    d["adcs"] = min(d.get("adcs", 1), max(rows, cols))
    return ControllerConfig(**d)


@dataclass(frozen=True)
class LayerWindow:
    fan_in: int
    fan_out: int
    col0: int

    @property
    def rows(self) -> int:
        return self.fan_in + 1  # + bias row


def _act(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "relu":
        return np.maximum(z, 0.0)
    return np.tanh(z)


def _act_grad(name, h):
    """Derivative expressed through the activation's output."""
    if name == "sigmoid":
        return h * (1.0 - h)
    if name == "relu":
        return (h > 0).astype(h.dtype)
    return 1.0 - h * h


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class CrossbarMLP:
    """An MLP whose weights live on a backend's array.

    Parameters
    ----------
    backend: any :class:`~insitu.golden.backends.Backend` with a layout from
        :func:`layout_config`.
    sizes: layer sizes, e.g. (64, 32, 10).
    activation: hidden activation, ``sigmoid``, ``relu`` or ``tanh``; the output is
        softmax with cross-entropy loss.
    mode: pulse update mode, ``deterministic`` or ``stochastic``.
    dither: deterministic mode with LFSR stochastic rounding of line counts.
    weight_scale: the digital per-layer gains, see :func:`weight_scales`
        (default ``None``: 1).
    """

    def __init__(self, backend: Backend, sizes, *, activation: str = "sigmoid",
                 mode: str = "deterministic", dither: bool = True, weight_scale=None):
        self.backend = backend
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.mode = check_choice("mode", mode, ("deterministic", "stochastic"))
        self.dither = bool(dither)
        cfg = backend.config
        need_rows, need_cols = layout_shape(self.sizes, max_size=65535)
        if backend.rows < need_rows or backend.cols < need_cols:
            raise ValueError(
                f"the array ({backend.rows}x{backend.cols}) is too small for layers "
                f"{self.sizes}: need at least {need_rows}x{need_cols}"
            )
        self.layers = []
        c0 = 0
        for fi, fo in zip(self.sizes[:-1], self.sizes[1:]):
            self.layers.append(LayerWindow(fi, fo, c0))
            c0 += fo
        self.alpha = weight_scales(weight_scale, [lw.fan_in for lw in self.layers])
        self.K = backend.instances
        self.exact = backend.exact
        self.dac_max = cfg.dac_max
        self.capped_updates = 0
        self._det = mode == "deterministic"
        self._gain = cfg.count_max if self._det else cfg.prob_max
        # expected pulses per unit (x/sx)(d/sd) at full codes and full gains
        self._full_pulses = cfg.count_max**2 if self._det else float(cfg.bl)
        # compiled controller-side arithmetic when the backend runs the compiled engine
        self._fast = getattr(backend, "engine", "numpy") == "numba" and not self.exact

    # -- weights ---------------------------------------------------------------
    def init_weights(self, rng: np.random.Generator, scale: float = 1.0) -> list:
        """Program uniform random weights ``U(-a, a)``, ``a = scale / sqrt(fan_in + 1)``,
        by write-verify. Returns the targets (one (rows, fan_out) array per layer)."""
        targets = []
        for l, lw in enumerate(self.layers):
            a = scale / np.sqrt(lw.rows)
            t = rng.uniform(-a, a, size=(lw.rows, lw.fan_out))
            self.program_layer(l, t)
            targets.append(t)
        return targets

    def program_layer(self, l: int, w, **kw) -> dict:
        """Write-verify layer ``l`` to weights ``w`` (its scale removed: the devices get
        ``w / alpha_l``); keyword arguments go to ``backend.program``."""
        lw = self.layers[l]
        a = self.alpha[l]
        return self.backend.program(w if a == 1.0 else np.asarray(w) / a, 0, lw.col0, **kw)

    def layer_weights(self, l: int) -> np.ndarray:
        """(K, fan_in + 1, fan_out) weights of layer ``l`` read directly."""
        lw = self.layers[l]
        w = self.backend.read_weights()[:, : lw.rows, lw.col0 : lw.col0 + lw.fan_out]
        return w if self.alpha[l] == 1.0 else w * self.alpha[l]

    # -- codes -----------------------------------------------------------------
    def encode(self, v):
        """(codes, scale): ``v`` (K, n) sent at full DAC scale; scale per instance."""
        s = np.max(np.abs(v), axis=1, keepdims=True)
        s = np.where(s > 0, s, 1.0)
        c = v * (self.dac_max / s)
        if not self.exact:
            c = np.floor(c + 0.5).astype(np.int64)
        return c, s

    # -- layer operations ------------------------------------------------------------
    def layer_forward(self, l: int, h):
        """Pre-activation of layer ``l`` for inputs ``h`` (K, fan_in), through the array."""
        lw = self.layers[l]
        if self._fast:
            codes = np.empty((self.K, lw.rows), dtype=np.int64)
            s = np.empty((self.K, 1))
            fastpath.encode_with_bias(np.ascontiguousarray(h, dtype=float), 1.0, self.dac_max,
                                      codes, s[:, 0])
        else:
            codes, s = self.encode(np.concatenate([h, np.ones((h.shape[0], 1))], axis=1))
        y = self.backend._read(codes, 0, lw.col0, lw.fan_out, transpose=False)
        a = self.alpha[l]
        return self.backend.codes_to_weighted_sum(y, s if a == 1.0 else s * a)

    def layer_backward(self, l: int, delta):
        """``W_l delta`` (K, fan_in) by a transpose read (the bias row is not read)."""
        lw = self.layers[l]
        if self._fast:
            codes = np.empty((self.K, lw.fan_out), dtype=np.int64)
            s = np.empty((self.K, 1))
            fastpath.encode_with_bias(np.ascontiguousarray(delta, dtype=float), 0.0, self.dac_max,
                                      codes, s[:, 0])
        else:
            codes, s = self.encode(delta)
        e = self.backend._read(codes, lw.col0, 0, lw.fan_in, transpose=True)
        a = self.alpha[l]
        return self.backend.codes_to_weighted_sum(e, s if a == 1.0 else s * a)

    def layer_update(self, l: int, h, delta, lr: float) -> int:
        """In-situ ``W_l -= lr * [h, 1] delta^T``; returns the pulse slots spent."""
        lw = self.layers[l]
        if not np.any(delta):
            return 0
        lr = lr / self.alpha[l]  # the devices move dW / alpha_l
        if self._fast:
            cx = np.empty((self.K, lw.rows), dtype=np.int64)
            cd = np.empty((self.K, lw.fan_out), dtype=np.int64)
            self.capped_updates += fastpath.update_codes(
                np.ascontiguousarray(h, dtype=float), 1.0, np.ascontiguousarray(delta, dtype=float),
                lr, self.backend.pulse_dw, float(self._full_pulses), self.dac_max, cx, cd)
            return self.backend._update(cx, cd, self.mode, self._gain, self._gain, self.dither,
                                        0, lw.col0)
        x = np.concatenate([h, np.ones((h.shape[0], 1))], axis=1)
        sx = np.max(np.abs(x), axis=1, keepdims=True)
        sd = np.max(np.abs(delta), axis=1, keepdims=True)
        if not np.any(sd > 0):
            return 0
        sx = np.where(sx > 0, sx, 1.0)
        sd = np.where(sd > 0, sd, 1.0)
        # rho_x * rho_d * full_pulses * pulse_dw = lr * sx * sd, split evenly
        g = lr * sx * sd / (self.backend.pulse_dw * self._full_pulses)
        rho = np.sqrt(g)
        if np.any(rho > 1.0):
            self.capped_updates += 1
            rho = np.minimum(rho, 1.0)
        cx = x * (rho * self.dac_max / sx)
        cd = -delta * (rho * self.dac_max / sd)
        if not self.exact:
            cx = np.floor(cx + 0.5).astype(np.int64)
            cd = np.floor(cd + 0.5).astype(np.int64)
        return self.backend._update(cx, cd, self.mode, self._gain, self._gain, self.dither,
                                    0, lw.col0)

    # -- whole network ---------------------------------------------------------------
    def forward(self, x):
        """Activations per layer, the input first and the softmax output last."""
        hs = [x]
        n = len(self.layers)
        # the compiled engine takes libm's exp/tanh, as the compiled training step does
        act, soft = (compiled_step.activate, compiled_step.softmax) if self._fast else \
            (_act, softmax)
        for l in range(n):
            z = self.layer_forward(l, hs[-1])
            hs.append(soft(z) if l == n - 1 else act(self.activation, z))
        return hs

    def hidden_delta(self, l: int, back, h):
        """delta of hidden layer ``l`` from the back-propagated error and its output h."""
        return back * _act_grad(self.activation, h)

    def predict(self, x) -> np.ndarray:
        """Class predictions (K, n) for a batch x (n, features), one sample at a time
        as the hardware would (each read is one vector)."""
        out = np.empty((self.K, len(x)), dtype=np.int64)
        for i, xi in enumerate(x):
            hs = self.forward(np.broadcast_to(xi, (self.K, xi.size)))
            out[:, i] = np.argmax(hs[-1], axis=1)
        return out

    def backprop_step(self, x, target_onehot, lr: float) -> None:
        """Standard SGD backprop on one sample: all deltas from one forward pass
        (through the weights before any update), then the in-situ updates."""
        hs = self.forward(x)
        delta = hs[-1] - target_onehot
        deltas = [None] * len(self.layers)
        deltas[-1] = delta
        for l in range(len(self.layers) - 1, 0, -1):
            back = self.layer_backward(l, deltas[l])
            deltas[l - 1] = self.hidden_delta(l - 1, back, hs[l])
        for l, d in enumerate(deltas):
            self.layer_update(l, hs[l], d, lr)


def check_lr(lr) -> float:
    return check_float("lr", lr, 0.0, 100.0, lo_open=True)
