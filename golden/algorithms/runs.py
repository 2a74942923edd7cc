"""Building a training run by name: dataset, network, backend, algorithm, trainer.

Shared by the ``insitu train`` command and ``benchmarks/reproduce.py`` so both
run exactly the same experiment for the same options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import braille, datasets
from ..config import ControllerConfig
from ..datasets import Dataset
from ..nn import CrossbarMLP, weight_scales
from ..periphery import PeripheryParams
from ..presets import get_device
from ..backends import MAPPINGS
from ..devices import UNIDIRECTIONAL
from ..refresh import PairRefresh, RefreshedStep
from ..train import Trainer, make_backend
from ..validate import check_choice, check_float, check_int
from ._common import activate, sigmoid
from .activity_difference import ActivityDifference
from .baselines import StochasticSGD, WriteVerifySGD
from .in_the_loop import ChipInTheLoop
from ..onchip import OnChipConfig, OnChipTrainer
from .pgd import PGD
from .mixed_precision import MixedPrecision
from .snn_runs import SNN_ALGOS, build_snn
from .tiki_taka import VARIANTS as TRANSFER_ALGOS, TikiTaka, default_settings, \
    make_transfer_backend

ALGOS = ("pgd", "backprop", "activity-difference", "in-the-loop", "stochastic-sgd",
         "write-verify")
ALGOS = ALGOS + ("mixed-precision",) + TRANSFER_ALGOS  # the Tiki-Taka family (issue 13)
ALGOS = ALGOS + SNN_ALGOS  # spiking networks (issue 15)
#: the fixed-point on-chip trainer's spec (insitu.golden.onchip): the controller's own PGD
ALGOS = ALGOS + ("onchip-pgd",)
ONCHIP_DATASETS = ("digits", "iris")  # features in [0, 1]: the input codes x * dac_max
DATASETS = ("digits", "iris", "yinyang", "braille")
SIZES = {"digits": (64, 32, 10), "iris": (4, 8, 3), "yinyang": (4, 30, 3),
         "braille": (48, 96, 48)}
LR = {"digits": 0.1, "iris": 0.1, "yinyang": 0.03, "braille": 0.1}
YINYANG_GAIN = 8.0  # digital input gain: Yin-Yang needs steeper units than |w| <= 1 gives

# Strong fixed-pattern mismatch (the chip-in-the-loop experiment): 10% DAC and ADC
# gain spread, DAC offsets of 5% of full scale, ADC offsets of 10 LSB, 1 LSB ADC noise.
STRONG_MISMATCH = PeripheryParams(dac_gain_mismatch=0.1, dac_offset_mismatch=0.05,
                                  adc_gain_mismatch=0.1, adc_offset_mismatch=10.0,
                                  adc_noise=1.0)
MISMATCH_D2D = 0.3  # device-to-device step spread used with STRONG_MISMATCH


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """A dataset by name; ``yinyang`` carries the input gain, ``braille`` the
    distorted-word set of :mod:`insitu.golden.braille`."""
    check_choice("dataset", name, DATASETS)
    if name == "braille":
        return braille.dataset(seed=seed)
    if name == "yinyang":
        d = datasets.load("yinyang", seed=seed, n=3000)
        g = YINYANG_GAIN
        return Dataset(d.name, d.x_train * g, d.y_train, d.x_test * g, d.y_test, d.classes)
    return datasets.load(name, seed=seed)


class SigmoidBackprop:
    """Backprop with sigmoid outputs and cross-entropy per bit (targets in [0, 1]):
    the feed-forward baseline of the Braille reconstruction."""

    def __call__(self, net, x, t, lr):
        hs = self.forward(net, x)
        delta = hs[-1] - t
        deltas = [None] * len(net.layers)
        deltas[-1] = delta
        for l in range(len(net.layers) - 1, 0, -1):
            deltas[l - 1] = net.hidden_delta(l - 1, net.layer_backward(l, deltas[l]), hs[l])
        for l, d in enumerate(deltas):
            net.layer_update(l, hs[l], d, lr)

    @staticmethod
    def forward(net, x):
        hs = [x]
        for l in range(len(net.layers)):
            z = net.layer_forward(l, hs[-1])
            hs.append(sigmoid(z) if l == len(net.layers) - 1 else activate(net.activation, z))
        return hs

    def predict(self, net, x):
        out = np.empty((net.K, len(x), net.sizes[-1]))
        for i, xi in enumerate(x):
            out[:, i] = self.forward(net, np.broadcast_to(xi, (net.K, xi.size)))[-1]
        return out

    def __repr__(self):
        return "SigmoidBackprop()"


class RunTrainer(Trainer):
    """A :class:`Trainer` whose evaluation follows the algorithm: free-phase
    settling for activity-difference, exact word reconstruction for Braille."""

    def __init__(self, *args, predictor=None, patterns=None, **kw):
        super().__init__(*args, **kw)
        self.predictor = predictor
        self.patterns = patterns

    def evaluate(self, x, y) -> np.ndarray:
        if self.predictor is None:
            return super().evaluate(x, y)
        out = self.predictor(self.net, x)
        if self.patterns is not None:
            return 100.0 * braille.exact_matches(out, y).mean(axis=1)
        return 100.0 * np.mean(np.argmax(out, axis=2) == y[None, :], axis=1)


@dataclass
class RunOptions:
    algo: str = "pgd"
    device: str = "ecram_organic"
    dataset: str = "digits"
    lr: float | None = None
    seed: int = 0
    backend: str = "golden"
    instances: int = 1
    hidden: int | None = None
    mismatch: bool = False
    program_every: int = 10
    dac_bits: int | None = None  # None: the ControllerConfig default
    adc_bits: int | None = None
    # issue 13: the weight scale and the Tiki-Taka family's hyper-parameters (None: default)
    weight_scale: str | float | None = None
    fast_lr: float | None = None
    transfer_every: int | None = None
    buffer_granularity: float | None = None
    chop_prob: float | None = None
    # issue 13: the array mapping (the reference-device variant: "reference")
    mapping: str = "differential"

    def transfer_overrides(self) -> dict:
        keys = ("fast_lr", "transfer_every", "buffer_granularity", "chop_prob")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def validate(self) -> RunOptions:
        check_choice("algo", self.algo, ALGOS)
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("backend", self.backend, ("golden", "ideal"))
        if self.lr is not None:
            check_float("lr", self.lr, 0.0, 100.0, lo_open=True)
        check_int("seed", self.seed, 0, 2**31 - 1)
        check_int("instances", self.instances, 1, 64)
        if self.hidden is not None:
            check_int("hidden", self.hidden, 1, 200)
        check_int("program_every", self.program_every, 1, 10**6)
        if self.dac_bits is not None:
            check_int("dac_bits", self.dac_bits, 2, 16)
        if self.adc_bits is not None:
            check_int("adc_bits", self.adc_bits, 2, 24)
        if self.algo == "onchip-pgd" and self.dataset not in ONCHIP_DATASETS:
            raise ValueError(f"--algo onchip-pgd takes datasets {', '.join(ONCHIP_DATASETS)} "
                             f"(features in [0, 1]); got {self.dataset!r}")
        if self.algo == "onchip-pgd" and self.weight_scale is not None:
            raise ValueError("--algo onchip-pgd has its own fixed-point scaling: no weight_scale")
        if self.dataset == "braille" and self.algo not in ("activity-difference", "backprop"):
            raise ValueError("dataset braille (word reconstruction) supports --algo "
                             "activity-difference or backprop")
        dev = get_device(self.device)
        check_choice("mapping", self.mapping, MAPPINGS)
        if self.mapping != "differential" and self.algo in SNN_ALGOS + ("onchip-pgd",):
            raise ValueError(f"--mapping {self.mapping} does not apply to --algo {self.algo} "
                             f"(differential pairs only)")
        if self.mapping == "reference" and dev.family in UNIDIRECTIONAL:
            raise ValueError(f"device {self.device} (SET only) needs --mapping differential")
        weight_scales(self.weight_scale, [1])
        over = self.transfer_overrides()
        if over:
            if self.algo not in TRANSFER_ALGOS:
                raise ValueError(f"{', '.join(over)} apply to --algo {', '.join(TRANSFER_ALGOS)}")
            default_settings(self.algo, get_device(self.device), 0.1, **over)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def build(opts: RunOptions, *, data: Dataset | None = None, host_targets=None):
    """(trainer, step) for the options; weights initialised by write-verify.

    ``host_targets`` replaces the random initial weights (programmed by
    write-verify instead), e.g. software-trained weights to fine-tune in the loop.
    """
    opts.validate()
    if opts.algo in SNN_ALGOS:  # spiking networks: their own net, data coding and steps
        return build_snn(opts, data=data, host_targets=host_targets)
    data = data if data is not None else load_dataset(opts.dataset, opts.seed)
    sizes = list(SIZES[opts.dataset])
    if opts.hidden is not None:
        sizes[1] = opts.hidden
    sizes = tuple(sizes)
    device = get_device(opts.device)
    periphery = None
    if opts.mismatch:
        periphery = STRONG_MISMATCH
        device = device.with_(d2d=max(device.d2d, MISMATCH_D2D))
    bits = {k: v for k, v in (("dac_bits", opts.dac_bits), ("adc_bits", opts.adc_bits))
            if v is not None}
    config = ControllerConfig(**bits) if bits else None
    if opts.algo in TRANSFER_ALGOS:  # A windows beside the C windows
        be = make_transfer_backend(opts.backend, sizes, device, seed=opts.seed,
                                   instances=opts.instances, periphery=periphery, config=config,
                                   mapping=opts.mapping)
    else:
        be = make_backend(opts.backend, sizes, device, seed=opts.seed,
                          instances=opts.instances, periphery=periphery, config=config,
                          mapping=opts.mapping)
    mode = "stochastic" if opts.algo == "stochastic-sgd" else "deterministic"
    net = CrossbarMLP(be, sizes, mode=mode, weight_scale=opts.weight_scale)
    rng = np.random.default_rng(opts.seed)
    targets = net.init_weights(rng)
    if host_targets is not None:
        targets = [np.asarray(t, dtype=float) for t in host_targets]
        for l, t in enumerate(targets):
            net.program_layer(l, t)
    predictor = patterns = None
    if opts.dataset == "braille":
        patterns = braille.patterns()
    if opts.algo == "pgd":
        step = PGD()
    elif opts.algo == "backprop":
        step = SigmoidBackprop() if patterns is not None else None
    elif opts.algo == "activity-difference":
        step = ActivityDifference(beta=0.5, free_steps=10, nudge_steps=5)
    elif opts.algo == "in-the-loop":
        step = ChipInTheLoop(net, targets)
    elif opts.algo == "stochastic-sgd":
        step = StochasticSGD()
    elif opts.algo == "mixed-precision":
        step = MixedPrecision(net)
    elif opts.algo == "onchip-pgd":
        step = OnChipTrainer(OnChipConfig(algorithm="pgd"))
    elif opts.algo in TRANSFER_ALGOS:
        rate = opts.lr if opts.lr is not None else LR[opts.dataset]
        step = TikiTaka(net, variant=opts.algo, seed=opts.seed, settings=default_settings(
            opts.algo, device, rate, be.config.count_max, **opts.transfer_overrides()))
    else:
        step = WriteVerifySGD(net, targets, program_every=opts.program_every)
    if isinstance(step, (ActivityDifference, SigmoidBackprop, OnChipTrainer)):
        predictor = step.predict
    if device.family in UNIDIRECTIONAL and opts.backend == "golden":
        # SET-only pairs: the controller's refresh after every sample (refresh.py)
        step = RefreshedStep(step, PairRefresh(be))
    run_step = step
    if patterns is not None:
        p = patterns

        def run_step(net, x, t, lr, _s=step):  # one-hot name -> its clean pattern
            return _s(net, x, t @ p, lr)
    lr = opts.lr if opts.lr is not None else LR[opts.dataset]
    trainer = RunTrainer(net, data, lr=lr, seed=opts.seed, step=run_step,
                         predictor=predictor, patterns=patterns)
    return trainer, step
