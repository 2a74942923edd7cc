"""The training run that co-simulation compares: one definition, run on any backend.

:func:`train` builds a :class:`~insitu.golden.nn.CrossbarMLP` on the backend it
is given, programs the initial weights (write-verify), and runs the unchanged
:class:`~insitu.golden.train.Trainer` for ``samples`` training samples (with
the end-of-epoch test evaluations the trainer makes). :func:`golden_run` runs
it on a :class:`RecordingGolden` in this process; the cocotb test
(:mod:`insitu.sim.tb_cosim`) runs it on :class:`~insitu.sim.backend.RtlBackend`
inside the simulator. Both record every ADC code vector returned, every pulse
burst applied to the array (sparse ``(row, col, count)``: update commands and
write-verify steps) and the final conductances, and :func:`compare` names the
first step where two records differ.
"""

from __future__ import annotations

import math
import time

import numpy as np
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.datasets import Dataset, load
from insitu.golden.nn import CrossbarMLP, layout_config
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import get_device
from insitu.golden.train import Trainer

MODELS = {
    # name: dataset, hidden units, 2x2 pooling of the digits images
    "iris": ("iris", 8, False),
    "digits-small": ("digits", 12, True),
}
MODES = ("deterministic", "stochastic")
#: the per-sample step: plain backpropagation (read every layer before updating any) or the
#: TU/e progressive gradient descent (update each layer, then read back through it)
ALGORITHMS = ("backprop", "pgd", "cttv2")  # cttv2: chopped Tiki-Taka on A/C windows


def check_params(params: dict) -> dict:
    """Validate and complete training parameters (ValueError naming the bad one)."""
    p = {"model": "iris", "samples": 200, "seed": 0, "mode": "deterministic", "dither": True,
         "device": "ecram_organic", "lr": 0.1, "activation": "sigmoid", "config": {},
         "periphery": {}, "algorithm": "backprop", **params}
    if p["model"] not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {p['model']!r}")
    if p["mode"] not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {p['mode']!r}")
    if p["algorithm"] not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}; "
                         f"got {p['algorithm']!r}")
    for k, lo, hi in (("samples", 1, 10**6), ("seed", 0, 2**31 - 1)):
        if not isinstance(p[k], int) or isinstance(p[k], bool) or not lo <= p[k] <= hi:
            raise ValueError(f"{k} must be an integer in [{lo}, {hi}], got {p[k]!r}")
    get_device(p["device"])
    return p


def dataset(model: str, seed: int, data: dict | None = None) -> Dataset:
    """The model's dataset; from ``data`` (the dict :func:`with_data` stores) when given."""
    if data is not None:
        return Dataset(data["name"], np.array(data["x_train"]), np.array(data["y_train"]),
                       np.array(data["x_test"]), np.array(data["y_test"]), int(data["classes"]))
    name, _, pool = MODELS[model]
    d = load(name, seed=seed)
    if pool:
        def p2(x):
            return x.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(len(x), 16)
        d = Dataset(d.name + "-small", p2(d.x_train), d.y_train, p2(d.x_test), d.y_test, d.classes)
    return d


def with_data(params: dict) -> dict:
    """``params`` plus the dataset itself, so the simulator process need not import scikit-learn."""
    p = check_params(params)
    d = dataset(p["model"], p["seed"])
    p["max_cycles"] = max_cycles(p, controller_config(p))
    p["data"] = {"name": d.name, "x_train": d.x_train.tolist(), "y_train": d.y_train.tolist(),
                 "x_test": d.x_test.tolist(), "y_test": d.y_test.tolist(), "classes": d.classes}
    return p


def max_cycles(params: dict, config: ControllerConfig) -> int:
    """A generous simulated-time bound of a training run (the test fails beyond it)."""
    c = config
    p = check_params(params)
    per_sample = 20_000 + 8 * c.bl * (c.pulse_width + c.pulse_gap) + 4 * c.count_max**2 * (
        c.pulse_width + c.pulse_gap)
    program = c.rows * c.cols * c.max_program_iters * (300 + c.count_max * (c.pulse_width + c.pulse_gap))
    return 100_000 + program + 2 * p["samples"] * per_sample


def sizes(model: str, data: Dataset) -> tuple:
    return (data.features, MODELS[model][1], data.classes)


def controller_config(params: dict) -> ControllerConfig:
    """The array laid out for the model (rows, cols) with the params' controller overrides."""
    p = check_params(params)
    data = dataset(p["model"], p["seed"], p.get("data"))
    cfg = layout_config(sizes(p["model"], data), ControllerConfig(**p["config"]))
    if p["algorithm"] == "cttv2":  # the A windows beside the C windows
        from insitu.golden.algorithms.tiki_taka import transfer_config

        cfg = transfer_config(sizes(p["model"], data), ControllerConfig(**p["config"]))
    if p.get("array"):  # a larger array than the network needs (speed benchmarks)
        rows, cols = (int(v) for v in p["array"])
        if rows < cfg.rows or cols < cfg.cols:
            raise ValueError(f"array {rows}x{cols} is smaller than the {cfg.rows}x{cfg.cols} "
                             f"the model needs")
        cfg = ControllerConfig(**{**cfg.to_dict(), "rows": rows, "cols": cols})
    return cfg


class RecordingGolden(GoldenBackend):
    """A GoldenBackend that records reads and applied pulse bursts like the co-simulation does,
    and programs sequentially by default (the controller's PROGRAM command)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.reads: list = []
        self.bursts: list = []
        self.burst_observer = self._log

    def _read(self, x, l0, o0, n, transpose):
        out = super()._read(x, l0, o0, n, transpose)
        self.reads.append(out[0].tolist())
        return out

    def _log(self, n, row0, col0):
        i, j = np.nonzero(n[0])
        self.bursts.append(np.stack([i + row0, j + col0, n[0][i, j]], axis=1).tolist())

    def program(self, target, row0=0, col0=0, *, tolerance=None, shift=3, order="sequential"):
        return super().program(target, row0, col0, tolerance=tolerance, shift=shift, order=order)


def train(backend, params: dict, progress=None, on_trained_start=None) -> dict:
    """Program the initial weights and train ``samples`` samples on ``backend``.

    ``progress`` = (callback(done, total), every): called every ``every`` samples;
    ``on_trained_start()`` is called once the initial weights are programmed.
    """
    p = check_params(params)
    data = dataset(p["model"], p["seed"], p.get("data"))
    net = CrossbarMLP(backend, sizes(p["model"], data), activation=p["activation"], mode=p["mode"],
                      dither=bool(p["dither"]))
    net.init_weights(np.random.default_rng(p["seed"]))
    step = None
    if p["algorithm"] == "pgd":
        from insitu.golden.algorithms.pgd import PGD

        step = PGD()
    elif p["algorithm"] == "cttv2":
        from insitu.golden.algorithms.tiki_taka import TikiTaka

        step = TikiTaka(net, variant="cttv2", lr=float(p["lr"]), seed=p["seed"])
    trainer = Trainer(net, data, lr=float(p["lr"]), seed=p["seed"], step=step)
    n = len(data.x_train)
    if on_trained_start is not None:
        on_trained_start()
    if progress is None:
        trainer.run(math.ceil(p["samples"] / n), progress=False, stop_after=p["samples"])
    else:
        done = 0
        while done < p["samples"]:
            chunk = min(progress[1], p["samples"] - done)
            trainer.run(math.ceil(p["samples"] / n), progress=False, stop_after=chunk)
            done += chunk
            progress[0](done, p["samples"])
    return {"test_acc": trainer.history.test_acc, "capped_updates": net.capped_updates,
            "stats": backend.stats.to_dict()}


def golden_run(params: dict) -> dict:
    """The reference run on the golden model (numba engine) in this process."""
    p = check_params(params)
    cfg = controller_config(p)
    be = RecordingGolden(cfg, get_device(p["device"]), PeripheryParams(**p["periphery"]),
                         seed=p["seed"], engine="numba")
    t = {}
    out = train(be, p, on_trained_start=lambda: t.setdefault("t0", time.perf_counter()))
    out["train_wall_s"] = time.perf_counter() - t["t0"]
    out.update(reads=be.reads, bursts=be.bursts, g=be.conductances[0].tolist())
    return out


def compare(golden: dict, rtl: dict) -> list[str]:
    """Differences between two records, first one first (empty: identical)."""
    diffs = []
    for key, what in (("reads", "ADC read"), ("bursts", "pulse burst")):
        a, b = golden[key], rtl[key]
        for k, (x, y) in enumerate(zip(a, b)):
            if x != y:
                diffs.append(f"{what} {k}: golden {x} rtl {y}")
                break
        if len(a) != len(b):
            diffs.append(f"{len(a)} golden vs {len(b)} rtl {what}s")
    ga, gb = np.array(golden["g"]), np.array(rtl["g"])
    if ga.shape != gb.shape or not np.array_equal(ga, gb):
        idx = np.argwhere(ga != gb)[0] if ga.shape == gb.shape else "shape"
        diffs.append(f"final conductances differ (first at {idx})")
    return diffs


def api_calls(backend, params: dict) -> dict:
    """The public backend API, once each (forward, backward, both updates, program, weights)."""
    p = check_params(params)
    rng = np.random.default_rng(p["seed"] + 1)
    cfg = backend.config
    m = cfg.dac_max
    out = {}
    out["program"] = backend.program(rng.uniform(-0.3, 0.3, size=(2, 3)), 1, 2)
    out["forward"] = backend.forward(rng.integers(-m, m + 1, size=cfg.rows)).tolist()
    out["forward_window"] = backend.forward(rng.integers(-m, m + 1, size=3), 2, 4, 5).tolist()
    out["backward"] = backend.backward(rng.integers(-m, m + 1, size=cfg.cols)).tolist()
    out["backward_window"] = backend.backward(rng.integers(-m, m + 1, size=4), 1, 3, 5).tolist()
    out["update_det"] = backend.update(rng.integers(-m, m + 1, size=4),
                                       rng.integers(-m, m + 1, size=5), mode="deterministic",
                                       row_gain=cfg.count_max, col_gain=cfg.count_max, dither=True,
                                       row0=2, col0=3)
    out["update_sto"] = backend.update(rng.integers(-m, m + 1, size=cfg.rows),
                                       rng.integers(-m, m + 1, size=cfg.cols), mode="stochastic",
                                       row_gain=cfg.prob_max, col_gain=cfg.prob_max // 2)
    out["after"] = backend.forward(np.full(cfg.rows, m)).tolist()
    out["weights"] = backend.read_weights()[0].tolist()
    out["stats"] = {k: v for k, v in backend.stats.to_dict().items()
                    if k in ("forward_reads", "backward_reads", "updates", "update_slots",
                             "program_reads", "program_pulses")}
    return out


def golden_api(params: dict) -> dict:
    p = check_params(params)
    be = RecordingGolden(controller_config(p), get_device(p["device"]),
                         PeripheryParams(**p["periphery"]), seed=p["seed"], engine="numba")
    return api_calls(be, p)
