"""The chip's neuron circuits between the array's columns and the column converters.

On BrainScaleS-2 (Cramer et al., PNAS 2022) the synapse array's column currents
feed analog LIF neurons, and the converters sample the neurons' membranes. A
:class:`NeuronStage` is that stage for a :class:`~insitu.golden.backends.GoldenBackend`
(attached as ``backend.neurons``) and for the co-simulation's analog front-end
(:mod:`insitu.sim.neuron_frontend`, which imports this class): one model, so the
two answer every read identically.

Windows. The stage holds neuron populations on disjoint column windows (one
per network layer, :class:`NeuronWindow`): spiking or membrane-readout
(the output layer), each with its synaptic gain. The neuron of column ``j``
takes **one time step per neuron read that converts column ``j``**: its
synaptic input is connected only while its column is read, so layers that share
rows do not feed each other's neurons.

Control. The controller commands the neurons (``NEURON_CONTROL``,
:mod:`insitu.golden.protocol`; the analog port's ``neuron`` lines,
:mod:`insitu.rtl.neuron_control`), and so does every backend:
``backend.neuron_control(reset=..., read=...)`` (:meth:`NeuronStage.control`). ``reset``
puts every neuron at rest; ``read`` turns neuron reads on: every forward read then
samples the neurons, and must convert the lines of exactly one window (windows
start and end on converter groups, ``adcs``). With neuron reads off (the initial
state), transpose reads and single-device (write-verify) reads always, the stage is
bypassed: ordinary conversions.

One neuron read, for the window's lines ``[o0, o0 + n)`` and the DAC codes of
every row (``0`` = floating, no DAC offset)::

    v_i   = codes_i v_read / dac_max  (x (1 + gain_i) + offset_i with DAC mismatch)
    I_j   = sum_i v_i Gdiff_ij  +  read_noise (g_max - g_min) sqrt(pairs sum_i v_i^2) n_j
    c_j   = syn_gain I_j / (v_read g_unit)       synaptic input, threshold units
    S, V  = LIF step with c (insitu.golden.neurons.LIFPopulation.step)
    word  = 2 readout(V) + S                     what the converter returns

The synaptic input is the analog column current (not quantised, not clipped by
the TIA range); the sum over rows is one numpy reduction over all rows of the
array in a fixed order (the same in both processes). ``n_j`` are standard
normals from the backend's generator, one per line, drawn only when the device
has read noise. The column converters' gain/offset mismatch and noise do not
apply (the membrane readout has its own noise, ``readout_noise``).

Readout word. A converter returns one code per line, so the spike flag rides in
the code's least significant bit: ``word = 2 m + s`` with ``m`` the signed
membrane code (``readout_bits`` wide) and ``s`` the spike of this step;
``m = word >> 1``, ``s = word & 1`` (:func:`unpack_words`). It needs
``readout_bits + 1 <= adc_bits``. A controller averaging ``adc_average``
conversions returns the word unchanged (every conversion of one read samples
the same membrane).

Random order of the stage (its own ``Generator``, ``SeedSequence(seed,
spawn_key=(1,))``, the :class:`~insitu.golden.snn.SpikingNet` stream): the fixed
pattern of every window's population in window order at construction; per
neuron read, the readout noise of the window's neurons (K, n) when
``readout_noise > 0``.

Reset. The host resets the neurons before every sample through the controller
(``neuron_control(reset=True, read=True)``) and turns neuron reads off after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .neurons import LIFParams, LIFPopulation
from .validate import check_float, check_int


@dataclass(frozen=True)
class NeuronWindow:
    """Neurons on columns ``[col0, col0 + n)``: spiking or membrane-readout, one synaptic gain."""

    col0: int
    n: int
    spiking: bool
    syn_gain: float


def pack_words(codes, spikes) -> np.ndarray:
    """Readout words ``2 codes + spikes`` (int64)."""
    return 2 * np.asarray(codes, dtype=np.int64) + np.asarray(spikes, dtype=np.int64)


def unpack_words(words):
    """(membrane codes, spike flags) of readout words (arithmetic shift, low bit)."""
    w = np.asarray(words, dtype=np.int64)
    return w >> 1, (w & 1).astype(bool)


class NeuronStage:
    """LIF neuron populations behind column windows of an array.

    Parameters
    ----------
    config: the array's :class:`~insitu.golden.config.ControllerConfig`.
    lif: nominal neuron parameters (with the fixed-pattern spread ``sigma_d``).
    windows: the :class:`NeuronWindow` list, disjoint, in column order.
    instances: K Monte-Carlo instances (1 in a co-simulation).
    seed: seeds the fixed pattern and the readout noise.
    """

    def __init__(self, config, lif: LIFParams, windows, *, instances: int = 1, seed: int = 0):
        if not isinstance(lif, LIFParams):
            raise ValueError("lif must be a LIFParams")
        self.config = config
        self.lif = lif
        self.instances = K = check_int("instances", instances, 1, 4096)
        self.seed = check_int("seed", seed, 0, 2**63 - 1)
        if lif.readout_bits + 1 > config.adc_bits:
            raise ValueError(f"readout_bits must be in [2, adc_bits - 1 = {config.adc_bits - 1}] "
                             f"(the spike flag takes one bit of the converter's code), got "
                             f"{lif.readout_bits}")
        self.windows = []
        end = 0
        for w in windows:
            col0 = check_int("window col0", w.col0, end, config.cols - 1)
            n = check_int("window size", w.n, 1, config.cols - col0)
            a = config.adcs
            if col0 % a or ((col0 + n) % a and col0 + n != config.cols):
                raise ValueError(f"neuron window [{col0}, {col0 + n}) must start and end on a "
                                 f"converter group of adcs = {a} columns")
            g = check_float("syn_gain", w.syn_gain, 0.0, 1000.0, lo_open=True)
            self.windows.append(NeuronWindow(col0, n, bool(w.spiking), g))
            end = col0 + n
        if not self.windows:
            raise ValueError("a neuron stage needs at least one window")
        self.rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(1,)))
        self.populations = [LIFPopulation(lif, (K, w.n), self.rng, spiking=w.spiking)
                            for w in self.windows]
        self.reads = 0
        #: neuron reads on (NEURON_CONTROL's read flag): forward reads sample the neurons
        self.reading = False

    @classmethod
    def for_layers(cls, config, sizes, lif: LIFParams, syn_gain, *, instances: int = 1,
                   seed: int = 0) -> NeuronStage:
        """The stage of a feed-forward network laid out as :func:`insitu.golden.snn.snn_layout_config`
        (layer ``l``'s neurons on its columns; hidden layers spike, the last is read out)."""
        from .snn import check_gains, check_sizes

        sizes = check_sizes(sizes)
        gains = check_gains(syn_gain, len(sizes) - 1)
        windows, c0 = [], 0
        for l, fo in enumerate(sizes[1:]):
            windows.append(NeuronWindow(c0, fo, l < len(sizes) - 2, gains[l]))
            c0 += fo
        return cls(config, lif, windows, instances=instances, seed=seed)

    def reset(self) -> None:
        """Every neuron to rest (the reset line)."""
        for p in self.populations:
            p.reset()

    def control(self, *, reset: bool = False, read: bool = False) -> None:
        """What NEURON_CONTROL does: ``reset`` every neuron to rest, then neuron reads on
        (``read``) or off."""
        if reset:
            self.reset()
        self.reading = bool(read)

    def neuron_window(self, o0: int, n: int) -> int:
        """The window a neuron read of columns ``[o0, o0+n)`` samples: ValueError unless it
        converts the lines of exactly one window."""
        k = self.window_of(o0, n)
        if k is None:
            raise ValueError(f"a neuron read of columns [{o0}, {o0 + n}) converts no neuron "
                             f"window (windows: {[(w.col0, w.n) for w in self.windows]})")
        return k

    def window_of(self, o0: int, n: int) -> int | None:
        """Index of the window whose lines a read of columns ``[o0, o0+n)`` converts; None if
        it converts no neuron's column. ValueError if it converts part of a window."""
        a, cols = self.config.adcs, self.config.cols
        lo, hi = (o0 // a) * a, min(cols, ((o0 + n - 1) // a + 1) * a)
        for k, w in enumerate(self.windows):
            if lo == w.col0 and hi == w.col0 + w.n:
                return k
            if lo < w.col0 + w.n and w.col0 < hi:
                raise ValueError(f"a forward read of columns [{o0}, {o0 + n}) converts part of "
                                 f"the neuron window [{w.col0}, {w.col0 + w.n})")
        return None

    def sense(self, backend, row_codes, k: int) -> np.ndarray:
        """One neuron read of window ``k``: step its neurons with the column currents the DAC
        codes of every row (K, rows) drive through ``backend``'s array; the readout words
        (K, n)."""
        w = self.windows[k]
        pp, dev = backend.periphery, backend.device
        x = np.asarray(row_codes, dtype=np.int64)
        v = x * (pp.v_read / backend.dac_max)
        if pp.dac_gain_mismatch or pp.dac_offset_mismatch:
            dac = backend.dac_rows
            v = np.where(x != 0, v * dac.gain + dac.offset, 0.0)
        g = backend._gdiff[:, :, w.col0:w.col0 + w.n]
        cur = (v[:, :, None] * g).sum(axis=1)
        if dev.read_noise:
            sig = dev.read_noise * (dev.g_max - dev.g_min) * np.sqrt(
                backend.pairs * np.sum(v * v, axis=1, keepdims=True))
            cur = cur + sig * backend.rng.standard_normal(cur.shape)
        c = cur * (w.syn_gain / (pp.v_read * backend.g_unit))
        pop = self.populations[k]
        s = pop.step(c)
        self.reads += 1
        return pack_words(pop.readout(self.rng), s)

    def read(self, backend, x, l0: int, o0: int, n: int) -> np.ndarray | None:
        """A golden forward read (rows ``[l0, l0+len(x))`` driven with ``x`` (K, m), columns
        ``[o0, o0+n)`` converted) through the stage: the words (K, n), or None with neuron
        reads off (an ordinary conversion)."""
        if not self.reading:
            return None
        k = self.neuron_window(o0, n)
        codes = np.zeros((self.instances, backend.config.rows), dtype=np.int64)
        codes[:, l0:l0 + x.shape[1]] = x
        words = self.sense(backend, codes, k)
        c0 = self.windows[k].col0
        return words[:, o0 - c0:o0 - c0 + n]

    def attach(self, backend) -> NeuronStage:
        """Put the stage between ``backend``'s columns and its converters (``backend.neurons``)."""
        if not hasattr(backend, "_gdiff"):
            raise ValueError(f"a neuron stage needs a GoldenBackend (device physics), got "
                             f"{type(backend).__name__}")
        if backend.config != self.config or backend.instances != self.instances:
            raise ValueError("the neuron stage was built for another array (config or instances)")
        backend.neurons = self
        return self

    def state_dict(self) -> dict:
        """The readout generator and the read mode (neurons are reset before every sample)."""
        return {"rng": self.rng.bit_generator.state, "reads": self.reads, "reading": self.reading}

    def load_state_dict(self, d: dict) -> None:
        self.rng.bit_generator.state = d["rng"]
        self.reads = int(d.get("reads", 0))
        self.reading = bool(d.get("reading", False))
