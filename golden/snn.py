"""A spiking network on the crossbar: input spikes drive the rows, analog LIF
neurons integrate the column currents (Cramer et al., PNAS 2022, BrainScaleS-2).

One time step of the forward pass, for every layer in order::

    codes = round(x[t] * dac_max)                    x[t]: the layer's input spikes
    adc   = backend.forward(codes, 0, col0, fan_out) an ordinary crossbar read
    c[t]  = syn_gain * codes_to_weighted_sum(adc)    column currents, threshold units
    S[t]  = neurons.step(c[t])                       LIF dynamics (:mod:`.neurons`)
    V[t]  = neurons.readout() * readout_lsb          the membrane ADC's sample

and the layer's spikes are the next layer's input of the same step. Input
spikes are binary (code ``dac_max``) or graded (an amplitude in [0, 1]). The
hidden layers spike; the output layer is a membrane-readout population and
the class is ``argmax_k max_t V_out[t, k]``. Neurons are reset to rest before
every sample. Because the array is only reached through ``forward``, the same
network runs on :class:`~insitu.golden.backends.IdealBackend`,
:class:`~insitu.golden.backends.GoldenBackend` and the controller's backends.

Where the neurons sit. On a backend with a neuron stage (``backend.neurons``,
:class:`~insitu.golden.neuron_stage.NeuronStage`: the chip's neurons between
the columns and the converters, BrainScaleS-2's position) the neurons live on
the chip: the read of step ``t`` steps them with the analog column currents and
returns readout words (membrane code and spike flag), which the network
decodes; before every sample the host resets them and turns neuron reads on
through the controller (``backend.neuron_control``, the NEURON_CONTROL command),
and turns neuron reads off after it. This is how
:func:`~insitu.golden.algorithms.snn_runs.make_snn` builds a golden chip, and
what the co-simulation's analog front-end does. On a backend without one
(:class:`~insitu.golden.backends.IdealBackend`, the float reference) the
network keeps the neurons itself and integrates the read's weighted sum
(``c[t] = syn_gain * codes_to_weighted_sum(adc)``, the converter in front of
the neurons).

Layout: layer ``l`` (``fan_in -> fan_out``, no bias row: the paper's network
has none) occupies rows ``[0, fan_in)`` and columns ``[c_l, c_l + fan_out)``,
layers side by side, so 256-246-10 fits a 256x256 array.

Random order (the network's own ``Generator``, from ``SeedSequence(seed,
spawn_key=(1,))``, independent of a backend given the same seed): at
construction, the fixed pattern of every layer's neurons in layer order
(:class:`~insitu.golden.neurons.LIFPopulation`); per sample, after its time
steps, the readout noise of each layer's trace (T, K, n) in layer order (only
when ``readout_noise > 0``). Chip neurons draw the same fixed pattern from the
stage's generator (same seed, same spawn key) and their readout noise per read
(:mod:`insitu.golden.neuron_stage`).

:func:`model_forward` is the same dynamics in float on the host (nominal
parameters, no converters): the software model of the surrogate-gradient
training (:mod:`insitu.golden.algorithms.surrogate`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .backends import Backend
from .config import ControllerConfig
from .neuron_stage import NeuronStage, unpack_words
from .neurons import LIFParams, LIFPopulation
from .validate import check_float, check_int


@dataclass(frozen=True)
class LatencyCode:
    """Latency coding of features in [0, 1] (the paper's MNIST input).

    A feature ``x > theta_in`` spikes once at ``t = tau_in log(x / (x - theta_in))``,
    in step ``floor(t / dt)`` when that is below ``steps``; larger values spike
    earlier; ``x <= theta_in`` never spikes. ``bias_spike`` appends one input that
    spikes at step 0 for every sample (a learnable offset; Goeltz et al. use one
    for Yin-Yang).

    Parameters
    ----------
    steps: time steps per sample, [1, 10000].
    tau_in: coding time constant (units of ``dt``), (0, 1e6].
    theta_in: coding threshold, [0, 1).
    dt: time step, (0, 1e3].
    bias_spike: add the always-spiking bias input.
    """

    steps: int = 25
    tau_in: float = 8.0
    theta_in: float = 0.2
    dt: float = 1.0
    bias_spike: bool = False

    def __post_init__(self):
        check_int("steps", self.steps, 1, 10000)
        check_float("tau_in", self.tau_in, 0.0, 1e6, lo_open=True)
        check_float("theta_in", self.theta_in, 0.0, 1.0, hi_open=True)
        check_float("dt", self.dt, 0.0, 1e3, lo_open=True)

    def inputs(self, features: int) -> int:
        return features + int(self.bias_spike)

    def spike_steps(self, x) -> np.ndarray:
        """Step index of each feature's spike (n, f); ``steps`` means no spike."""
        x = np.asarray(x, dtype=float)
        if x.size and (np.nanmin(x) < 0.0 or np.nanmax(x) > 1.0 or not np.all(np.isfinite(x))):
            raise ValueError("latency-coded features must be finite and in [0, 1]")
        out = np.full(x.shape, self.steps, dtype=np.int64)
        on = x > self.theta_in
        t = self.tau_in * np.log(x[on] / (x[on] - self.theta_in))
        k = np.floor(t / self.dt).astype(np.int64)
        out[on] = np.minimum(k, self.steps)
        return out

    def encode(self, x) -> np.ndarray:
        """Spike rasters (T, n, inputs) in {0, 1} (float) of samples ``x`` (n, f)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        k = self.spike_steps(x)
        n, f = x.shape
        r = np.zeros((self.steps + 1, n, self.inputs(f)))
        ii, jj = np.meshgrid(np.arange(n), np.arange(f), indexing="ij")
        r[k, ii, jj] = 1.0
        if self.bias_spike:
            r[0, :, f] = 1.0
        return r[: self.steps]

    def to_dict(self) -> dict:
        return asdict(self)


def snn_layout_config(sizes, base: ControllerConfig | None = None, **overrides) -> ControllerConfig:
    """The ControllerConfig whose array holds a spiking network of ``sizes`` (no bias rows)."""
    sizes = check_sizes(sizes)
    d = (base or ControllerConfig()).to_dict()
    d.update(overrides)
    d.update(rows=max(sizes[:-1]), cols=sum(sizes[1:]))
    d["adcs"] = min(d.get("adcs", 1), max(d["rows"], d["cols"]))
    return ControllerConfig(**d)


def check_sizes(sizes) -> tuple:
    sizes = tuple(check_int("layer size", s, 1, 256) for s in sizes)
    if len(sizes) < 2:
        raise ValueError("a spiking network needs at least 2 layer sizes (inputs, outputs)")
    if sum(sizes[1:]) > 256:
        raise ValueError(f"layer sizes {sizes} need {sum(sizes[1:])} columns; the array has "
                         f"at most 256")
    return sizes


def check_gains(gains, layers: int) -> tuple:
    if np.isscalar(gains):
        gains = (gains,) * layers
    gains = tuple(gains)
    if len(gains) != layers:
        raise ValueError(f"syn_gain must be one number or {layers} (one per layer), "
                         f"got {len(gains)}")
    return tuple(check_float("syn_gain", g, 0.0, 1000.0, lo_open=True) for g in gains)


@dataclass(frozen=True)
class SpikeWindow:
    fan_in: int
    fan_out: int
    col0: int


@dataclass
class SpikeRecord:
    """What one forward pass recorded, per layer (lists over layers).

    ``inputs[l]`` (T, K, fan_in) the spikes (or amplitudes) that drove layer ``l``;
    ``v[l]`` (T, K, fan_out) the membranes sampled (readout codes times LSB on the
    chip, exact in the model); ``s[l]`` (T, K, fan_out) bool spikes (all False for
    the membrane-readout output layer).
    """

    inputs: list
    v: list
    s: list

    def scores(self) -> np.ndarray:
        """max over time of the output membranes (K, classes)."""
        return self.v[-1].max(axis=0)


class SpikingNet:
    """A feed-forward spiking network whose weights live on a backend's array.

    Parameters
    ----------
    backend: any backend whose array holds :func:`snn_layout_config` of ``sizes``.
    sizes: layer sizes, e.g. (256, 246, 10); hidden layers spike, the last is read out.
    lif: nominal neuron parameters (with the fixed-pattern spread ``sigma_d``).
    coding: the input :class:`LatencyCode` (``sizes[0]`` must equal its inputs).
    syn_gain: synaptic gain per layer (thresholds per weight unit), one number or one per layer.
    seed: seeds the neurons' fixed pattern and readout noise.
    """

    def __init__(self, backend: Backend, sizes, lif: LIFParams, coding: LatencyCode, *,
                 syn_gain=1.0, seed: int = 0):
        if not isinstance(lif, LIFParams):
            raise ValueError("lif must be a LIFParams")
        if not isinstance(coding, LatencyCode):
            raise ValueError("coding must be a LatencyCode")
        self.backend = backend
        self.sizes = check_sizes(sizes)
        cfg = backend.config
        if cfg.rows < max(self.sizes[:-1]) or cfg.cols < sum(self.sizes[1:]):
            raise ValueError(f"the array ({cfg.rows}x{cfg.cols}) is too small for layers "
                             f"{self.sizes}: need {max(self.sizes[:-1])}x{sum(self.sizes[1:])}")
        self.lif = lif
        self.coding = coding
        self.syn_gain = check_gains(syn_gain, len(self.sizes) - 1)
        self.seed = check_int("seed", seed, 0, 2**63 - 1)
        self.K = backend.instances
        self.exact = backend.exact
        self.dac_max = cfg.dac_max
        self.capped_updates = 0
        self.layers = []
        c0 = 0
        for fi, fo in zip(self.sizes[:-1], self.sizes[1:]):
            self.layers.append(SpikeWindow(fi, fo, c0))
            c0 += fo
        # spawn key 1: a backend seeded with the same number draws an independent stream
        self.rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(1,)))
        L = len(self.layers)
        #: the chip's neuron stage (reads return readout words), or None: host-side neurons
        self.stage = getattr(backend, "neurons", None)
        if self.stage is not None:
            self._check_stage(self.stage)
            self.neurons = self.stage.populations
            self._lsb = self.stage.lif.readout_lsb
        else:
            self.neurons = [LIFPopulation(lif, (self.K, lw.fan_out), self.rng, spiking=l < L - 1)
                            for l, lw in enumerate(self.layers)]

    def _check_stage(self, stage: NeuronStage) -> None:
        L = len(self.layers)
        want = [(lw.col0, lw.fan_out, l < L - 1, g)
                for l, (lw, g) in enumerate(zip(self.layers, self.syn_gain))]
        got = [(w.col0, w.n, w.spiking, w.syn_gain) for w in stage.windows]
        if got != want:
            raise ValueError(f"the backend's neuron windows {got} do not match the network's "
                             f"layers {want} (col0, n, spiking, syn_gain)")
        if stage.lif != self.lif:
            raise ValueError("the backend's neurons have other LIF parameters than the network")

    # -- chip forward pass ----------------------------------------------------------
    def layer_current(self, l: int, x) -> np.ndarray:
        """Synaptic input (K, fan_out) of layer ``l`` for input amplitudes ``x`` (K, fan_in):
        one crossbar read."""
        lw = self.layers[l]
        c = x * self.dac_max
        if not self.exact:
            c = np.floor(c + 0.5).astype(np.int64)
        # the read of Backend.forward without its argument checks: the codes are
        # built here within [-dac_max, dac_max] for a window that fits (checked once)
        adc = self.backend._read(c, 0, lw.col0, lw.fan_out, transpose=False)
        return self.syn_gain[l] * self.backend.codes_to_weighted_sum(adc)

    def chip_step(self, l: int, x):
        """One time step of layer ``l`` on chip neurons: the read of input amplitudes ``x``
        (K, fan_in); the sampled membranes (K, fan_out) and spike flags."""
        lw = self.layers[l]
        c = np.floor(x * self.dac_max + 0.5).astype(np.int64)
        words = self.backend._read(c, 0, lw.col0, lw.fan_out, transpose=False)
        codes, spikes = unpack_words(words)
        return codes * self._lsb, spikes

    def run(self, raster) -> SpikeRecord:
        """The forward pass of one sample per instance; ``raster`` (T, inputs) or (T, K, inputs)."""
        r = np.asarray(raster, dtype=float)
        if r.ndim == 2:
            r = np.broadcast_to(r[:, None, :], (r.shape[0], self.K, r.shape[1]))
        if r.ndim != 3 or r.shape[1:] != (self.K, self.sizes[0]):
            raise ValueError(f"raster must have shape (T, {self.sizes[0]}) or "
                             f"(T, {self.K}, {self.sizes[0]}), got {np.shape(raster)}")
        if r.size and (r.min() < 0.0 or r.max() > 1.0):
            raise ValueError("raster amplitudes must be in [0, 1]")
        T = r.shape[0]
        L = len(self.layers)
        inputs = [r] + [np.empty((T, self.K, lw.fan_in)) for lw in self.layers[1:]]
        v = [np.empty((T, self.K, lw.fan_out)) for lw in self.layers]
        s = [np.zeros((T, self.K, lw.fan_out), dtype=bool) for lw in self.layers]
        if self.stage is not None:
            # the controller resets the chip's neurons and turns neuron reads on for the sample
            self.backend.neuron_control(reset=True, read=True)
            try:
                for t in range(T):
                    x = r[t]
                    for l in range(L):
                        v[l][t], spikes = self.chip_step(l, x)
                        if l < L - 1:
                            s[l][t] = spikes
                            x = spikes.astype(float)
                            inputs[l + 1][t] = x
            finally:
                self.backend.neuron_control(read=False)
            return SpikeRecord(inputs, v, s)
        for pop in self.neurons:
            pop.reset()
        for t in range(T):
            x = r[t]
            for l in range(L):
                pop = self.neurons[l]
                spikes = pop.step(self.layer_current(l, x))
                v[l][t] = pop.v
                if l < L - 1:
                    s[l][t] = spikes
                    x = spikes.astype(float)
                    inputs[l + 1][t] = x
        lsb = self.lif.readout_lsb
        v = [pop.readout(self.rng, vl) * lsb for pop, vl in zip(self.neurons, v)]
        return SpikeRecord(inputs, v, s)

    def encode(self, x) -> np.ndarray:
        """Raster (T, inputs) of one sample's features ``x`` (f,)."""
        return self.coding.encode(np.asarray(x)[None, :])[:, 0, :]

    def scores(self, x) -> np.ndarray:
        """(K, n, classes) max-over-time output membranes of samples ``x`` (n, f), one at a time."""
        out = np.empty((self.K, len(x), self.sizes[-1]))
        rasters = self.coding.encode(x)
        for i in range(len(x)):
            out[:, i] = self.run(rasters[:, i]).scores()
        return out

    def predict(self, x) -> np.ndarray:
        """Class predictions (K, n) on the chip."""
        return np.argmax(self.scores(x), axis=2)

    # -- weights ----------------------------------------------------------------------
    def program(self, weights) -> dict:
        """Write-verify every layer to ``weights`` (one (fan_in, fan_out) or
        (K, fan_in, fan_out) array per layer); returns the summed cost."""
        total = {"reads": 0, "pulses": 0}
        for w, lw in zip(weights, self.layers):
            r = self.backend.program(w, 0, lw.col0)
            total["reads"] += r["reads"]
            total["pulses"] += r["pulses"]
        return total

    def layer_weights(self, l: int) -> np.ndarray:
        """(K, fan_in, fan_out) weights of layer ``l`` read directly (diagnostics)."""
        lw = self.layers[l]
        return self.backend.read_weights()[:, : lw.fan_in, lw.col0 : lw.col0 + lw.fan_out]

    def init_weights(self, rng: np.random.Generator, scale: float = 1.0) -> list:
        """Random targets ``U(-a, a)``, ``a = scale / sqrt(fan_in)``, programmed by write-verify."""
        ws = [rng.uniform(-scale / np.sqrt(lw.fan_in), scale / np.sqrt(lw.fan_in),
                          size=(lw.fan_in, lw.fan_out)) for lw in self.layers]
        self.program(ws)
        return ws

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        d = {"rng": self.rng.bit_generator.state}
        if self.stage is not None:
            d["neurons"] = self.stage.state_dict()
        return d

    def load_state_dict(self, d: dict) -> None:
        self.rng.bit_generator.state = d["rng"]
        if self.stage is not None and "neurons" in d:
            self.stage.load_state_dict(d["neurons"])


def attach_neurons(backend: Backend, sizes, lif: LIFParams, *, syn_gain=1.0,
                   seed: int = 0) -> NeuronStage:
    """Put chip neurons for a network of ``sizes`` between ``backend``'s columns and its
    converters (a :class:`~insitu.golden.backends.GoldenBackend`); the stage."""
    stage = NeuronStage.for_layers(backend.config, sizes, lif, syn_gain,
                                   instances=backend.instances, seed=seed)
    return stage.attach(backend)


def model_forward(weights, raster, lif: LIFParams, syn_gain) -> SpikeRecord:
    """The host's float model of the network (nominal neurons, no converters, no noise).

    ``weights`` one (fan_in, fan_out) array per layer; ``raster`` (T, B, inputs)
    spike amplitudes of a batch. Returns the :class:`SpikeRecord` (batch on axis 1).
    """
    r = np.asarray(raster, dtype=float)
    if r.ndim != 3 or r.shape[2] != np.shape(weights[0])[0]:
        raise ValueError(f"raster must have shape (T, B, {np.shape(weights[0])[0]}), "
                         f"got {r.shape}")
    gains = check_gains(syn_gain, len(weights))
    T, B = r.shape[:2]
    a_s, a_m, th = lif.alpha_syn, lif.alpha_mem, lif.threshold
    L = len(weights)
    inputs, vs, ss = [r], [], []
    x_all = r
    for l, (w, g) in enumerate(zip(weights, gains)):
        # (T, B, fan_out): every step's input at once, as one 2-D product (BLAS; numpy's
        # stacked 3-D @ 2-D product is far slower here)
        cur = g * (x_all.reshape(T * B, -1) @ w).reshape(T, B, -1)
        n = w.shape[1]
        i = np.zeros((B, n))
        v = np.full((B, n), lif.v_leak)
        s = np.zeros((B, n), dtype=bool)
        V = np.empty((T, B, n))
        S = np.zeros((T, B, n), dtype=bool)
        spiking = l < L - 1
        for t in range(T):
            i = a_s * i + cur[t]
            v = lif.v_leak + (v - lif.v_leak) * a_m
            if spiking:
                v = np.where(s, lif.v_reset, v)
            v = v + i
            V[t] = v
            if spiking:
                s = v >= th
                S[t] = s
        vs.append(V)
        ss.append(S)
        if spiking:
            x_all = S.astype(float)
            inputs.append(x_all)
    return SpikeRecord(inputs, vs, ss)
