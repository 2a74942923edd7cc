"""Surrogate-gradient training of spiking networks, in software and chip in the loop.

Cramer, Billaudelle, ..., Schemmel, Zenke, "Surrogate gradients for analog
neuromorphic computing", PNAS 119(4):e2109194119 (2022):

* loss: ``NLL(softmax(max_t V_out[t]))`` plus a spike-count regulariser on the
  hidden layers, ``reg * mean_b (1/H) sum_i n_bi^2`` (``n_bi`` the spikes of
  hidden neuron ``i`` for sample ``b``), and an amplitude penalty on the output,
  ``amp * mean_b (1/C) sum_c y_bc^2`` (``y = max_t V_out``, keeps the membranes
  inside the readout's range);
* BPTT through the host model of :mod:`insitu.golden.snn` (nominal neurons);
  the spike's derivative is SuperSpike's ``dS/dV = (1 + beta |V - theta|)^-2``;
  the reset is not differentiated (Zenke and Vogels 2021);
* in the loop: the forward pass runs on the chip (mismatched neurons, crossbar
  and converters); every membrane and spike of the model is replaced by the
  *measured* one, the derivatives are the model's; the weight change is written
  back to the array in situ.

Backward recursions per layer (``a_s``, ``a_m`` the nominal decays, ``g`` the
layer's synaptic gain, ``X`` its input spikes, ``S`` its spikes)::

    eV[t] = dL/dV[t] + a_m (1 - S[t]) eV[t+1]
    eI[t] = eV[t] + a_s eI[t+1]
    dL/dW = g sum_t X[t]^T eI[t]            dL/dX[t] = g eI[t] W^T

Write-back (``write=``):

* ``pulse`` (default): plain SGD, ``dW = -lr sum_t X[t] (g eI[t])^T``, sent as one
  rank-1 pulse update per time step with input spikes (update management as
  :func:`~insitu.golden.algorithms._common.rank1_update`: abs-max scaling split
  between rows and columns, capped at full gain, LFSR dither);
* ``program``: the host's optimiser (Adam or SGD) on its weights, written by
  write-verify every ``program_every`` samples (what BrainScaleS-2 does with its
  SRAM weights; costly for analog devices).

Both keep the host's copy of the weights (clipped to ``[-w_max, w_max]``, the
devices' range) for the backward pass; the chip's own weights are never read.
"""

from __future__ import annotations

import numpy as np

from ..snn import SpikeRecord, SpikingNet, check_gains, model_forward
from ..validate import check_choice, check_float, check_int

OPTIMISERS = ("adam", "sgd")


def superspike(v, theta: float, beta: float):
    """SuperSpike surrogate derivative ``(1 + beta |v - theta|)^-2``."""
    return 1.0 / (1.0 + beta * np.abs(v - theta)) ** 2


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def bptt(weights, record: SpikeRecord, labels, lif, syn_gain, *, beta: float = 5.0,
         reg: float = 1e-3, amp: float = 1e-3):
    """Loss and gradients of a batch through the host model.

    Parameters
    ----------
    weights: one (fan_in, fan_out) array per layer (the host's weights).
    record: the forward pass (batch on axis 1): from :func:`model_forward` in
        software, measured on the chip in the loop.
    labels: (B,) class indices.
    lif: the nominal :class:`~insitu.golden.neurons.LIFParams` (decays, threshold).

    Returns
    -------
    grads: dL/dW per layer, (fan_in, fan_out).
    loss: the batch's mean loss (float).
    errors: per layer (T, B, fan_out) the factor ``g eI[t]`` with
        ``dL/dW = sum_t X[t]^T errors[t]`` (the rank-1 terms of the pulse write-back).
    """
    labels = np.asarray(labels, dtype=np.int64)
    L = len(weights)
    gains = check_gains(syn_gain, L)
    a_s, a_m, th = lif.alpha_syn, lif.alpha_mem, lif.threshold
    vout = record.v[-1]
    T, B, C = vout.shape
    if labels.shape != (B,) or labels.min() < 0 or labels.max() >= C:
        raise ValueError(f"labels must be {B} class indices in [0, {C - 1}]")
    y = vout.max(axis=0)
    tmax = vout.argmax(axis=0)
    p = softmax(y)
    bb = np.arange(B)
    loss = float(-np.mean(np.log(np.maximum(p[bb, labels], 1e-300))))
    dy = p.copy()
    dy[bb, labels] -= 1.0
    loss += float(amp * np.mean(np.sum(y * y, axis=1)) / C)
    dy += (2.0 * amp / C) * y
    dy /= B
    g_v = np.zeros((T, B, C))
    bi, ci = np.meshgrid(bb, np.arange(C), indexing="ij")
    g_v[tmax, bi, ci] = dy
    grads = [None] * L
    errors = [None] * L
    d_s = None
    for l in range(L - 1, -1, -1):
        if l < L - 1:
            n = record.s[l].sum(axis=0)  # (B, H) spike counts
            H = n.shape[1]
            loss += float(reg * np.mean(np.sum(n * n, axis=1)) / H)
            d_s = d_s + (2.0 * reg / (H * B)) * n[None, :, :]
            g_v = d_s * superspike(record.v[l], th, beta)
            keep = a_m * (1.0 - record.s[l])
        else:
            keep = np.full(g_v.shape[1:], a_m)
        ev = np.zeros(g_v.shape[1:])
        ei = np.zeros(g_v.shape[1:])
        e = np.empty_like(g_v)
        for t in range(T - 1, -1, -1):
            ev = g_v[t] + (keep[t] if keep.ndim == 3 else keep) * ev
            ei = ev + a_s * ei
            e[t] = ei
        e *= gains[l]
        errors[l] = e
        x = record.inputs[l]
        T_, B_ = x.shape[:2]  # sum over steps and batch as one matrix product (BLAS)
        grads[l] = x.reshape(T_ * B_, -1).T @ e.reshape(T_ * B_, -1)
        if l:
            d_s = e @ np.asarray(weights[l]).T
    return grads, loss, errors


class Adam:
    """Adam (Kingma and Ba 2015) over a list of arrays, in place."""

    def __init__(self, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.b1 = check_float("b1", b1, 0.0, 1.0, hi_open=True)
        self.b2 = check_float("b2", b2, 0.0, 1.0, hi_open=True)
        self.eps = check_float("eps", eps, 0.0, 1.0, lo_open=True)
        self.m = self.v = None
        self.t = 0

    def step(self, params, grads, lr: float) -> None:
        if self.m is None:
            self.m = [np.zeros_like(g) for g in grads]
            self.v = [np.zeros_like(g) for g in grads]
        self.t += 1
        c1 = 1.0 - self.b1**self.t
        c2 = 1.0 - self.b2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * g * g
            p -= lr * (m / c1) / (np.sqrt(v / c2) + self.eps)

    def state_dict(self) -> dict:
        return {"t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, d: dict) -> None:
        self.t = int(d["t"])
        self.m = None if d["m"] is None else [np.array(a, dtype=float) for a in d["m"]]
        self.v = None if d["v"] is None else [np.array(a, dtype=float) for a in d["v"]]


class SGD:
    """Plain gradient descent over a list of arrays, in place."""

    def step(self, params, grads, lr: float) -> None:
        for p, g in zip(params, grads):
            p -= lr * g

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, d: dict) -> None:
        pass


def make_optimiser(name: str):
    check_choice("optimiser", name, OPTIMISERS)
    return Adam() if name == "adam" else SGD()


class _SurrogateBase:
    def __init__(self, net: SpikingNet, *, beta: float, reg: float, amp: float, w_max: float,
                 optimiser: str):
        if not isinstance(net, SpikingNet):
            raise ValueError("net must be a SpikingNet")
        self.beta = check_float("beta", beta, 0.0, 1000.0)
        self.reg = check_float("reg", reg, 0.0, 100.0)
        self.amp = check_float("amp", amp, 0.0, 100.0)
        self.w_max = check_float("w_max", w_max, 0.0, 10.0, lo_open=True)
        self.optimiser_name = check_choice("optimiser", optimiser, OPTIMISERS)
        self.opt = make_optimiser(optimiser)
        self.lif = net.lif.with_(sigma_d=0.0, readout_noise=0.0)  # the host's nominal model
        self.seen = 0
        self.last_loss = float("nan")

    def _clip(self, ws) -> None:
        for w in ws:
            np.clip(w, -self.w_max, self.w_max, out=w)


class SNNSoftware(_SurrogateBase):
    """Software training of the host model (the ideal reference): ``Trainer(step=...)``.

    Weights are float, in ``[-w_max, w_max]``; neurons nominal; no chip involved
    (the net's backend is not used). Batches: :meth:`train_batch`.
    """

    def __init__(self, net: SpikingNet, weights, *, beta: float = 5.0, reg: float = 1e-3,
                 amp: float = 1e-3, w_max: float = 0.9, optimiser: str = "adam"):
        super().__init__(net, beta=beta, reg=reg, amp=amp, w_max=w_max, optimiser=optimiser)
        self.coding = net.coding
        self.syn_gain = net.syn_gain
        self.w = [np.array(w, dtype=float) for w in weights]
        self._clip(self.w)

    def train_batch(self, x, labels, lr: float) -> float:
        """One optimiser step on a batch of features ``x`` (B, f); returns the loss."""
        record = model_forward(self.w, self.coding.encode(x), self.lif, self.syn_gain)
        grads, loss, _ = bptt(self.w, record, labels, self.lif, self.syn_gain,
                              beta=self.beta, reg=self.reg, amp=self.amp)
        self.opt.step(self.w, grads, lr)
        self._clip(self.w)
        self.seen += len(labels)
        self.last_loss = loss
        return loss

    def __call__(self, net, x, t, lr: float) -> None:
        self.train_batch(np.asarray(x)[:1], np.argmax(t, axis=1)[:1], lr)

    def scores(self, x) -> np.ndarray:
        """(n, classes) max-over-time output membranes of the software model."""
        return model_forward(self.w, self.coding.encode(x), self.lif, self.syn_gain).scores()

    def accuracy(self, x, y) -> float:
        return 100.0 * float(np.mean(np.argmax(self.scores(x), axis=1) == y))

    def predict(self, net, x) -> np.ndarray:
        """(K, n, classes) scores for :class:`RunTrainer` (the same for every instance)."""
        return np.broadcast_to(self.scores(x), (net.K,) + (len(x), net.sizes[-1]))

    def state_dict(self) -> dict:
        return {"w": [w.copy() for w in self.w], "opt": self.opt.state_dict(),
                "seen": self.seen}

    def load_state_dict(self, d: dict) -> None:
        self.w = [np.array(w, dtype=float) for w in d["w"]]
        self.opt.load_state_dict(d["opt"])
        self.seen = int(d["seen"])

    def __repr__(self) -> str:
        return f"SNNSoftware(optimiser={self.optimiser_name!r}, beta={self.beta}, reg={self.reg})"


class SNNInTheLoop(_SurrogateBase):
    """Chip-in-the-loop surrogate-gradient step: ``Trainer(step=SNNInTheLoop(net, targets))``.

    Parameters
    ----------
    net: the :class:`SpikingNet` on the (mismatched) hardware backend.
    targets: the weights the host believes are on the chip (what was programmed).
    write: ``pulse`` (per-time-step rank-1 updates, SGD) or ``program`` (write-verify
        of the host optimiser's weights every ``program_every`` samples).
    optimiser: ``adam`` or ``sgd`` (the host's, used with ``write="program"``).
    rounding: how the host turns the scaled update vectors into DAC codes:
        ``stochastic`` (unbiased; a requested change far below one pulse still
        reaches every column on average) or ``nearest`` (round half up: only the
        largest entries of a tiny update survive).
    precondition: ``none`` (plain SGD) or ``factored``: with ``write="pulse"``, the
        gradient scaled elementwise by ``1 / sqrt(v_ij)`` with ``v ~ r c^T / mean(r)``
        (Adafactor's factored second moments, Shazeer and Stern 2018, no momentum):
        row and column factors, so every per-time-step term stays rank-1.
    seed: seeds the stochastic rounding.

    Attributes
    ----------
    pulse_updates: rank-1 update commands sent; ``program_cost``: write-verify reads
        and pulses spent by the write-back (the backend's stats count both too).
    """

    def __init__(self, net: SpikingNet, targets, *, write: str = "pulse",
                 program_every: int = 1, beta: float = 5.0, reg: float = 1e-3,
                 amp: float = 1e-3, w_max: float = 0.9, optimiser: str = "adam",
                 rounding: str = "stochastic", precondition: str = "none", seed: int = 0):
        super().__init__(net, beta=beta, reg=reg, amp=amp, w_max=w_max, optimiser=optimiser)
        self.write = check_choice("write", write, ("pulse", "program"))
        self.rounding = check_choice("rounding", rounding, ("stochastic", "nearest"))
        self.precondition = check_choice("precondition", precondition, ("none", "factored"))
        self.rms = None
        self.rng = np.random.default_rng(check_int("seed", seed, 0, 2**63 - 1))
        self.program_every = check_int("program_every", program_every, 1, 10**6)
        self.net = net
        self.w = []
        for t in targets:
            t = np.asarray(t, dtype=float)
            if t.ndim == 2:
                t = np.broadcast_to(t, (net.K,) + t.shape)
            self.w.append(np.array(t, dtype=float))
        self._clip(self.w)
        self.pulse_updates = 0
        self.program_cost = {"reads": 0, "pulses": 0}

    def __call__(self, net, x, t, lr: float) -> None:
        record = net.run(net.encode(np.asarray(x)[0]))  # measured on the chip
        label = np.argmax(t, axis=1)[:1]
        K, L = net.K, len(net.layers)
        grads = [np.empty_like(w) for w in self.w]
        errors = [np.empty_like(record.v[l]) for l in range(L)]
        loss = 0.0
        for k in range(K):
            sub = SpikeRecord([a[:, k:k + 1] for a in record.inputs],
                              [a[:, k:k + 1] for a in record.v],
                              [a[:, k:k + 1] for a in record.s])
            g, lk, e = bptt([w[k] for w in self.w], sub, label, self.lif, net.syn_gain,
                            beta=self.beta, reg=self.reg, amp=self.amp)
            loss += lk / K
            for l in range(L):
                grads[l][k] = g[l]
                errors[l][:, k] = e[l][:, 0]
        self.last_loss = loss
        self.seen += 1
        if self.write == "pulse":
            for l in range(L):
                x, e = record.inputs[l], errors[l]
                if self.precondition == "factored":
                    p, q = self._factored(l, grads[l])
                    grads[l] = grads[l] * p[:, :, None] * q[:, None, :]
                    x, e = x * p[None], e * q[None]
                self.w[l] -= lr * grads[l]
                self._pulse_write(net, l, x, lr * e)
            self._clip(self.w)
            return
        self.opt.step(self.w, grads, lr)
        self._clip(self.w)
        if self.seen % self.program_every == 0:
            cost = net.program(self.w)
            for k in self.program_cost:
                self.program_cost[k] += cost[k]

    def _pulse_write(self, net, l: int, x, d) -> None:
        """``W_l -= sum_t x[t] d[t]^T`` as one rank-1 pulse update per time step."""
        be = net.backend
        cfg = be.config
        lw = net.layers[l]
        gain = cfg.count_max
        full = float(cfg.count_max**2)
        for t in range(x.shape[0]):
            xt, dt = x[t], d[t]
            sx = np.max(np.abs(xt), axis=1, keepdims=True)
            sd = np.max(np.abs(dt), axis=1, keepdims=True)
            if not (np.any(sx > 0) and np.any(sd > 0)):
                continue
            sx = np.where(sx > 0, sx, 1.0)
            sd = np.where(sd > 0, sd, 1.0)
            rho = np.sqrt(sx * sd / (be.pulse_dw * full))
            if np.any(rho > 1.0):
                net.capped_updates += 1
                rho = np.minimum(rho, 1.0)
            cx = xt * (rho * net.dac_max / sx)
            cd = -dt * (rho * net.dac_max / sd)
            if not net.exact:
                cx = self._round(cx)
                cd = self._round(cd)
            if not (np.any(cx) and np.any(cd)):
                continue
            be.update(cx, cd, mode="deterministic", row_gain=gain, col_gain=gain, dither=True,
                      row0=0, col0=lw.col0)
            self.pulse_updates += 1

    def _factored(self, l: int, g):
        """Row and column factors (K, fan_in), (K, fan_out) of the factored RMS
        preconditioner of layer ``l``, after folding in the gradient ``g`` (K, i, o)."""
        b2 = 0.999
        if self.rms is None:
            self.rms = [[np.zeros(w.shape[:2]), np.zeros((w.shape[0], w.shape[2]))]
                        for w in self.w]
        r, c = self.rms[l]
        g2 = g * g
        r *= b2
        r += (1 - b2) * g2.mean(axis=2)
        c *= b2
        c += (1 - b2) * g2.mean(axis=1)
        corr = 1.0 - b2 ** self.seen
        rh, ch = r / corr, c / corr
        tiny = 1e-30
        p = 1.0 / np.sqrt(rh + tiny)
        q = np.sqrt(rh.mean(axis=1, keepdims=True)) / (np.sqrt(ch) + 1e-8)
        return p, q

    def _round(self, c) -> np.ndarray:
        """Codes from scaled values: stochastic rounding (``rounding="stochastic"``, one
        uniform per code from the step's own generator) or round half up."""
        if self.rounding == "stochastic":
            return np.floor(c + self.rng.random(c.shape)).astype(np.int64)
        return np.floor(c + 0.5).astype(np.int64)

    def state_dict(self) -> dict:
        return {"w": [w.copy() for w in self.w], "opt": self.opt.state_dict(),
                "rng": self.rng.bit_generator.state, "rms": self.rms,
                "seen": self.seen, "pulse_updates": self.pulse_updates,
                "program_cost": dict(self.program_cost), "net": self.net.state_dict(),
                "capped_updates": self.net.capped_updates}

    def load_state_dict(self, d: dict) -> None:
        self.w = [np.array(w, dtype=float) for w in d["w"]]
        self.opt.load_state_dict(d["opt"])
        self.rng.bit_generator.state = d["rng"]
        rms = d.get("rms")
        self.rms = None if rms is None else [[np.array(a, dtype=float) for a in p] for p in rms]
        self.seen = int(d["seen"])
        self.pulse_updates = int(d["pulse_updates"])
        self.program_cost = {k: int(v) for k, v in d["program_cost"].items()}
        self.net.load_state_dict(d["net"])
        self.net.capped_updates = int(d["capped_updates"])

    def __repr__(self) -> str:
        return f"SNNInTheLoop(write={self.write!r}, optimiser={self.optimiser_name!r})"
