"""Spiking runs by name: the ``snn-software`` and ``snn-in-the-loop`` algorithms of
``insitu train`` (built by :func:`insitu.golden.algorithms.runs.build`).

The defaults are the ones of the experiments in ``benchmarks/reproduce.py``
(section *Spiking networks in the loop*): LIF neurons with ``tau_syn = 5 dt``,
``tau_mem = 10 dt``, threshold 1, membrane readout noise 2 % of the threshold
(8-bit readout over +-8 thresholds), 25 time steps of latency coding; the
array on organic ECRAM with ideal converters (ADC full scale 6 weight units). ``--mismatch`` sets the
neurons' fixed-pattern spread ``sigma_d`` to 30 % (the paper's decalibration
experiment) instead of the crossbar mismatch of the rate runs. ``snn-in-the-loop``
starts from random weights (written by write-verify) and writes back by rank-1
pulses with the factored preconditioner; ``snn-software`` trains the host
model per sample with Adam.
"""

from __future__ import annotations

import numpy as np

from .. import datasets
from ..backends import GoldenBackend, IdealBackend
from ..datasets import Dataset
from ..neurons import LIFParams
from ..periphery import PeripheryParams
from ..presets import get_device
from ..snn import LatencyCode, SpikingNet, attach_neurons, snn_layout_config
from ..validate import check_int
from .surrogate import SNNInTheLoop, SNNSoftware

SNN_ALGOS = ("snn-in-the-loop", "snn-software")
#: (inputs, hidden, classes); the small sets carry the bias spike as an extra input
SNN_SIZES = {"digits": (64, 64, 10), "iris": (5, 16, 3), "yinyang": (5, 60, 3)}
SNN_LR = {"snn-software": 1e-3, "snn-in-the-loop": 1e-3}
SNN_LIF = LIFParams(tau_syn=5.0, tau_mem=10.0, readout_noise=0.02, readout_range=8.0)
SNN_MISMATCH_SIGMA_D = 0.3
#: ADC full scale of the column reads: 6 weight units (a few rows spike at once; the
#: rate networks' 12 would waste a bit of resolution)
SNN_PERIPHERY = PeripheryParams(out_bound=6.0)
STEPS = 25
#: features of the small sets mapped to [FEATURE_FLOOR, 1] so that every one spikes
FEATURE_FLOOR = 0.25


def coding_for(dataset: str, steps: int = STEPS) -> LatencyCode:
    return LatencyCode(steps=steps, tau_in=8.0, theta_in=0.2, bias_spike=dataset != "digits")


def upsample(images, side: int) -> np.ndarray:
    """Bilinear resampling of square images (n, s*s) to (n, side*side), values kept in [0, 1]."""
    x = np.asarray(images, dtype=float)
    s = int(round(np.sqrt(x.shape[1])))
    if s * s != x.shape[1]:
        raise ValueError(f"images must be square, got {x.shape[1]} pixels")
    check_int("side", side, 1, 256)
    img = x.reshape(-1, s, s)
    pos = (np.arange(side) + 0.5) * s / side - 0.5  # pixel centres in source coordinates
    pos = np.clip(pos, 0, s - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, s - 1)
    f = pos - i0
    rows = img[:, i0, :] * (1 - f)[None, :, None] + img[:, i1, :] * f[None, :, None]
    out = rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]
    return np.clip(out.reshape(len(x), side * side), 0.0, 1.0)


def load_snn_dataset(name: str, seed: int = 0, side: int | None = None) -> Dataset:
    """Features in [0, 1] for latency coding: digits (optionally upsampled to
    ``side x side``, the paper's 16x16), iris and Yin-Yang mapped to [FEATURE_FLOOR, 1]."""
    if name not in SNN_SIZES:
        raise ValueError(f"dataset must be one of {', '.join(SNN_SIZES)} for the spiking "
                         f"algorithms; got {name!r}")
    d = datasets.load(name, seed=seed, n=3000 if name == "yinyang" else None)
    if name == "digits":
        if side is None:
            return d
        return Dataset(d.name, upsample(d.x_train, side), d.y_train, upsample(d.x_test, side),
                       d.y_test, d.classes)
    a = FEATURE_FLOOR
    return Dataset(d.name, a + (1 - a) * d.x_train, d.y_train, a + (1 - a) * d.x_test,
                   d.y_test, d.classes)


def make_snn(sizes, *, backend: str = "golden", device="ecram_organic", sigma_d: float = 0.0,
             lif: LIFParams = SNN_LIF, coding: LatencyCode | None = None, seed: int = 0,
             instances: int = 1, periphery=None, syn_gain=1.0, dataset: str = "digits"):
    """A :class:`SpikingNet` on its own backend (array laid out for ``sizes``); a golden
    chip has its neurons between the columns and the converters
    (:class:`~insitu.golden.neuron_stage.NeuronStage`), the ideal backend none (host neurons)."""
    cfg = snn_layout_config(sizes)
    dev = get_device(device) if isinstance(device, str) else device
    cls = GoldenBackend if backend == "golden" else IdealBackend
    be = cls(cfg, dev, periphery or SNN_PERIPHERY, instances=instances, seed=seed)
    lif = lif.with_(sigma_d=sigma_d)
    if backend == "golden":
        attach_neurons(be, sizes, lif, syn_gain=syn_gain, seed=seed)
    return SpikingNet(be, sizes, lif, coding or coding_for(dataset), syn_gain=syn_gain,
                      seed=seed)


def build_snn(opts, *, data: Dataset | None = None, host_targets=None):
    """(trainer, step) of a spiking run for :class:`~.runs.RunOptions` ``opts``."""
    from .runs import RunTrainer

    if opts.dataset not in SNN_SIZES:
        raise ValueError(f"dataset must be one of {', '.join(SNN_SIZES)} for --algo "
                         f"{opts.algo}; got {opts.dataset!r}")
    data = data if data is not None else load_snn_dataset(opts.dataset, opts.seed)
    sizes = list(SNN_SIZES[opts.dataset])
    if opts.hidden is not None:
        sizes[1] = opts.hidden
    sizes[0] = coding_for(opts.dataset).inputs(data.features)
    net = make_snn(tuple(sizes), backend=opts.backend, device=opts.device,
                   sigma_d=SNN_MISMATCH_SIGMA_D if opts.mismatch else 0.0, seed=opts.seed,
                   instances=opts.instances, dataset=opts.dataset)
    rng = np.random.default_rng(opts.seed)
    if host_targets is not None:
        targets = [np.asarray(t, dtype=float) for t in host_targets]
        net.program(targets)
    elif opts.algo == "snn-in-the-loop":
        targets = net.init_weights(rng)
    else:  # software: nothing is written to the chip
        targets = [rng.uniform(-1, 1, (lw.fan_in, lw.fan_out)) / np.sqrt(lw.fan_in)
                   for lw in net.layers]
    if opts.algo == "snn-software":
        step = SNNSoftware(net, targets)
        predictor = step.predict
    else:
        # from scratch: the factored preconditioner learns faster than plain pulse SGD
        step = SNNInTheLoop(net, targets, write="pulse", precondition="factored",
                            seed=opts.seed)
        predictor = None
    lr = opts.lr if opts.lr is not None else SNN_LR[opts.algo]
    trainer = RunTrainer(net, data, lr=lr, seed=opts.seed, step=step, predictor=predictor)
    return trainer, step
