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
    "digits": ("digits", 32, False),  # the 64-32-10 network of the on-chip benchmark
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
    return on_array(cfg, p.get("array"), "model")


def on_array(cfg: ControllerConfig, array, what: str = "network") -> ControllerConfig:
    """``cfg`` on a larger array ``(rows, cols)`` than the ``what`` needs (speed benchmarks,
    a design's array); ``cfg`` itself when ``array`` is empty. ValueError if it is smaller."""
    if not array:
        return cfg
    rows, cols = (int(v) for v in array)
    if rows < cfg.rows or cols < cfg.cols:
        raise ValueError(f"array {rows}x{cols} is smaller than the {cfg.rows}x{cfg.cols} "
                         f"the {what} needs")
    return ControllerConfig(**{**cfg.to_dict(), "rows": rows, "cols": cols})


class RecordingGolden(GoldenBackend):
    """A GoldenBackend that records reads and applied pulse bursts like the co-simulation does,
    and programs sequentially by default (the controller's PROGRAM command)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.reads: list = []
        self.bursts: list = []
        #: the order of the two: "f" forward read, "t" transpose read, "b" pulse burst
        self.steps: list = []
        self.burst_observer = self._log

    def _read(self, x, l0, o0, n, transpose):
        out = super()._read(x, l0, o0, n, transpose)
        self.reads.append(out[0].tolist())
        self.steps.append("t" if transpose else "f")
        return out

    def _log(self, n, row0, col0):
        i, j = np.nonzero(n[0])
        self.bursts.append(np.stack([i + row0, j + col0, n[0][i, j]], axis=1).tolist())
        self.steps.append("b")

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
    flush = getattr(backend, "flush", None)  # a link backend's updates sent ahead, if any
    if flush is not None:
        flush()
    return {"test_acc": trainer.history.test_acc, "capped_updates": net.capped_updates,
            "stats": backend.stats.to_dict()}


def warm_compiled(params: dict) -> None:
    """Compile (or load from numba's cache) the kernels the training loop calls, on a
    throwaway golden network, so that no compilation falls into a timed training phase (the
    end-of-epoch evaluation's first call compiled for about a second inside the simulator)."""
    p = check_params(params)
    data = dataset(p["model"], p["seed"], p.get("data"))
    be = GoldenBackend(controller_config(p), get_device(p["device"]),
                       PeripheryParams(**p["periphery"]), seed=p["seed"], engine="numba")
    net = CrossbarMLP(be, sizes(p["model"], data), activation=p["activation"], mode=p["mode"],
                      dither=bool(p["dither"]))
    net.init_weights(np.random.default_rng(p["seed"]))
    net.backprop_step(data.x_train[0][None], np.eye(data.classes)[data.y_train[:1]], 0.0)
    net.predict(data.x_test[:1])
    # the monitor's and the trainer's stochastic update plans (ControllerReference)
    from insitu.golden import plan_kernel

    plan_kernel.warm()


def golden_run(params: dict) -> dict:
    """The reference run on the golden model (numba engine) in this process."""
    p = check_params(params)
    cfg = controller_config(p)
    be = RecordingGolden(cfg, get_device(p["device"]), PeripheryParams(**p["periphery"]),
                         seed=p["seed"], engine="numba")
    t = {}
    out = train(be, p, on_trained_start=lambda: t.setdefault("t0", time.perf_counter()))
    out["train_wall_s"] = time.perf_counter() - t["t0"]
    out.update(reads=be.reads, bursts=be.bursts, steps="".join(be.steps),
               g=be.conductances[0].tolist())
    return out


#: how a step of ``RecordingGolden.steps`` is named in a difference
STEP_KINDS = {"f": "forward ", "t": "transpose ", "b": ""}


def _read_difference(k: int, a: list, b: list) -> str | None:
    if a == b:
        return None
    if len(a) != len(b):
        return f"ADC read {k}: golden {len(a)} codes, rtl {len(b)}"
    c = next(c for c, (x, y) in enumerate(zip(a, b)) if x != y)
    return f"ADC read {k}, code {c}: golden {a[c]}, rtl {b[c]}"


def _burst_difference(k: int, a: list, b: list) -> str | None:
    ga = {(r, c): n for r, c, n in a}
    gb = {(r, c): n for r, c, n in b}
    if ga == gb:
        return None
    r, c = min(d for d in ga.keys() | gb.keys() if ga.get(d, 0) != gb.get(d, 0))
    return (f"pulse burst {k}, device ({r}, {c}): golden {ga.get((r, c), 0)} pulses, "
            f"rtl {gb.get((r, c), 0)}")


def compare(golden: dict, rtl: dict) -> list[str]:
    """Differences between two records, the first step that differs first (empty: identical).

    Each names what differs with its indices: an ADC read (its number and the code's index), a
    pulse burst (its number, the device and the signed counts) or a final conductance (pair,
    row, column). ``golden["steps"]`` (the order of reads and bursts in the golden run, see
    :class:`RecordingGolden`) puts the earlier of a differing read and a differing burst first;
    the rtl matches that order up to the first difference.
    """
    found = []  # (position in the golden step order, text)
    steps = golden.get("steps")
    for key, kind, differ in (("reads", "ft", _read_difference),
                              ("bursts", "b", _burst_difference)):
        a, b = golden[key], rtl[key]
        first = next(((k, d) for k, (x, y) in enumerate(zip(a, b))
                      if (d := differ(k, x, y)) is not None), None)
        if first is None and len(a) != len(b):
            name = "ADC read" if key == "reads" else "pulse burst"
            k = min(len(a), len(b))
            side = "golden" if len(a) > len(b) else "rtl"
            first = (k, f"{name} {k}: only in the {side} run ({len(a)} golden vs {len(b)} rtl "
                        f"{name}s)")
        if first is not None:
            k, text = first
            pos = [i for i, s in enumerate(steps) if s in kind] if steps else []
            at = pos[k] if k < len(pos) else len(steps or "")
            if k < len(pos):
                text = f"step {at}: {STEP_KINDS[steps[at]]}{text}"
            found.append((at, text))
    ga, gb = np.array(golden["g"]), np.array(rtl["g"])
    if ga.shape != gb.shape:
        found.append((float("inf"), f"final conductances: golden shape {ga.shape}, rtl {gb.shape}"))
    elif not np.array_equal(ga, gb):
        idx = tuple(int(v) for v in np.argwhere(ga != gb)[0])
        where = (f"pair {idx[0]}, device ({idx[1]}, {idx[2]})" if len(idx) == 3
                 else f"index {idx}")
        text = (f"final conductance of {where}: golden {float(ga[idx])!r} uS, "
                f"rtl {float(gb[idx])!r} uS")
        found.append((float("inf"), text))
    return [text for _, text in sorted(found, key=lambda t: t[0])]


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
