"""Analog leaky integrate-and-fire neurons with fixed-pattern mismatch.

The neuron circuits of a spiking crossbar sit between the array's columns and
the controller (as on BrainScaleS-2, Cramer et al., PNAS 2022): each column's
current charges a synaptic trace, the trace charges the membrane, a membrane
that crosses the threshold emits a spike and is reset. Their state persists from
one time step's read to the next. The controller samples the membrane through a
membrane ADC (with readout noise) and the spike flags.

Discretisation (time step ``dt``; the paper's dimensionless host model)::

    I[t] = a_s I[t-1] + c[t]                               a_s = exp(-dt / tau_syn)
    V[t] = v_leak + (V[t-1] - v_leak) a_m        if S[t-1] = 0,   a_m = exp(-dt / tau_mem)
         = v_reset                               if S[t-1] = 1
           (+ I[t] in both cases)
    S[t] = V[t] >= threshold                     (spiking populations only)

``c[t]`` is the synaptic input of step ``t`` (threshold units: a weighted sum of
the step's input spikes times the layer's synaptic gain). The input reaches the
membrane within the same step (no transmission delay), the reset follows the
step after a spike. Membrane units: the nominal threshold is the voltage scale;
the nominal leak and reset potentials are 0 in the paper's model.

Fixed pattern (one draw per neuron and Monte-Carlo instance, set by one
parameter ``sigma_d``, the paper's decalibration spread)::

    tau_syn_k   = tau_syn   * max(1 + sigma_d n1, FLOOR)
    tau_mem_k   = tau_mem   * max(1 + sigma_d n2, FLOOR)
    threshold_k = threshold * max(1 + sigma_d n3, FLOOR)
    v_leak_k    = v_leak  + offset_spread * sigma_d * (threshold - v_reset) n4
    v_reset_k   = v_reset + offset_spread * sigma_d * (threshold - v_reset) n5

``n1..n5`` standard normals drawn in that order, each of shape (K, n).
``FLOOR = 0.1`` keeps a time constant or threshold positive at large spreads.
The leak and reset potentials are offsets, not ratios; ``offset_spread`` refers
their spread to the threshold-reset swing (0.25 assumed: the paper detunes
time constants and thresholds and names no figure for the potentials).

Readout: ``code = clip(round((V + readout_noise * theta * n) / lsb), -m, m)``,
``m = 2**(readout_bits-1) - 1``, ``lsb = readout_range * threshold / m``; one
standard normal per neuron per sampled step. The readout does not act back on
the dynamics, so a recorded trace may be converted after the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .validate import check_float, check_int

#: smallest factor a relative spread may scale a time constant or threshold by
FLOOR = 0.1


@dataclass(frozen=True)
class LIFParams:
    """Nominal parameters of a population of LIF neuron circuits.

    Parameters
    ----------
    dt: time step (on BrainScaleS-2 about 1.7 us of chip time; here dimensionless), (0, 1e3].
    tau_syn: synaptic time constant, in the units of ``dt``, [0.01 dt, 1e6].
    tau_mem: membrane time constant, in the units of ``dt``, [0.01 dt, 1e6].
    threshold: spike threshold (the voltage unit), (0, 100].
    v_leak: leak (resting) potential, [-100, threshold).
    v_reset: reset potential, [-100, threshold).
    sigma_d: relative fixed-pattern spread of every neuron parameter, [0, 1].
    offset_spread: spread of the leak and reset potentials relative to
        ``sigma_d * (threshold - v_reset)``, [0, 1].
    readout_noise: membrane readout noise (sigma, in thresholds), [0, 10].
    readout_bits: width of the signed membrane readout codes, [2, 16].
    readout_range: readout full scale in thresholds, (0, 1000].
    """

    dt: float = 1.0
    tau_syn: float = 5.0
    tau_mem: float = 10.0
    threshold: float = 1.0
    v_leak: float = 0.0
    v_reset: float = 0.0
    sigma_d: float = 0.0
    offset_spread: float = 0.25
    readout_noise: float = 0.0
    readout_bits: int = 8
    readout_range: float = 4.0

    def __post_init__(self):
        dt = check_float("dt", self.dt, 0.0, 1e3, lo_open=True)
        check_float("tau_syn", self.tau_syn, 0.01 * dt, 1e6)
        check_float("tau_mem", self.tau_mem, 0.01 * dt, 1e6)
        th = check_float("threshold", self.threshold, 0.0, 100.0, lo_open=True)
        check_float("v_leak", self.v_leak, -100.0, th, hi_open=True)
        check_float("v_reset", self.v_reset, -100.0, th, hi_open=True)
        check_float("sigma_d", self.sigma_d, 0.0, 1.0)
        check_float("offset_spread", self.offset_spread, 0.0, 1.0)
        check_float("readout_noise", self.readout_noise, 0.0, 10.0)
        check_int("readout_bits", self.readout_bits, 2, 16)
        check_float("readout_range", self.readout_range, 0.0, 1000.0, lo_open=True)

    @property
    def alpha_syn(self) -> float:
        return float(np.exp(-self.dt / self.tau_syn))

    @property
    def alpha_mem(self) -> float:
        return float(np.exp(-self.dt / self.tau_mem))

    @property
    def readout_max(self) -> int:
        return (1 << (self.readout_bits - 1)) - 1

    @property
    def readout_lsb(self) -> float:
        """Membrane voltage of one readout code."""
        return self.readout_range * self.threshold / self.readout_max

    def with_(self, **changes) -> LIFParams:
        d = asdict(self)
        d.update(changes)
        return LIFParams(**d)

    def to_dict(self) -> dict:
        return asdict(self)


class LIFPopulation:
    """``n`` LIF neuron circuits per instance, state (K, n) kept between steps.

    Parameters
    ----------
    params: nominal :class:`LIFParams`.
    shape: (K, n) instances and neurons.
    rng: draws the fixed pattern at construction (see the module docstring).
    spiking: ``False`` for a membrane-readout population (no threshold, no reset:
        the paper's output layer).

    Attributes
    ----------
    a_syn, a_mem, threshold, v_leak, v_reset: (K, n) per-neuron circuit values.
    i, v: (K, n) synaptic current and membrane.
    s: (K, n) bool, spikes of the last step.
    """

    def __init__(self, params: LIFParams, shape, rng: np.random.Generator, *,
                 spiking: bool = True):
        if not isinstance(params, LIFParams):
            raise ValueError("params must be a LIFParams")
        K, n = (check_int("instances", shape[0], 1, 4096), check_int("neurons", shape[1], 1, 4096))
        self.params = p = params
        self.shape = (K, n)
        self.spiking = bool(spiking)
        sd = p.sigma_d
        rel = [np.maximum(1.0 + sd * rng.standard_normal((K, n)), FLOOR) if sd
               else np.ones((K, n)) for _ in range(3)]
        swing = p.offset_spread * sd * (p.threshold - p.v_reset)
        offs = [swing * rng.standard_normal((K, n)) if swing else np.zeros((K, n))
                for _ in range(2)]
        self.tau_syn = p.tau_syn * rel[0]
        self.tau_mem = p.tau_mem * rel[1]
        self.a_syn = np.exp(-p.dt / self.tau_syn)
        self.a_mem = np.exp(-p.dt / self.tau_mem)
        self.threshold = p.threshold * rel[2]
        self.v_leak = p.v_leak + offs[0]
        self.v_reset = p.v_reset + offs[1]
        self.reset()

    def reset(self) -> None:
        """Rest state: no current, membrane at the leak potential, no spike."""
        self.i = np.zeros(self.shape)
        self.v = self.v_leak.copy()
        self.s = np.zeros(self.shape, dtype=bool)

    def step(self, current) -> np.ndarray:
        """Advance one time step with synaptic input ``current`` (K, n); returns spikes."""
        self.i = self.a_syn * self.i + current
        v = self.v_leak + (self.v - self.v_leak) * self.a_mem
        if self.spiking:
            v = np.where(self.s, self.v_reset, v)
        self.v = v + self.i
        if self.spiking:
            self.s = self.v >= self.threshold
        return self.s

    def readout(self, rng: np.random.Generator | None, v=None) -> np.ndarray:
        """Membrane codes of the membrane ADC (noise drawn from ``rng``).

        ``v`` defaults to the present membranes (K, n); a recorded trace (T, K, n)
        is converted at once (one draw per sample, in C order).
        """
        p = self.params
        v = self.v if v is None else np.asarray(v, dtype=float)
        if p.readout_noise:
            v = v + (p.readout_noise * p.threshold) * rng.standard_normal(v.shape)
        m = p.readout_max
        return np.clip(np.floor(v / p.readout_lsb + 0.5), -m, m).astype(np.int64)
