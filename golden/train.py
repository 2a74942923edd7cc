"""Training loops: per-sample in-situ SGD on a backend, and the float reference.

:class:`Trainer` runs any per-sample *step* (standard backprop here; the
algorithms module adds PGD, activity-difference and the rest) over a
dataset, one sample at a time as a crossbar trains, with a progress bar, an
accuracy history, and a state that can be saved and resumed exactly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .backends import GoldenBackend, IdealBackend
from .config import ControllerConfig
from .datasets import Dataset
from .devices import DeviceParams
from .nn import CrossbarMLP, layout_config, softmax, _act, _act_grad
from .periphery import PeripheryParams
from .validate import check_choice, check_int

BACKENDS = ("golden", "ideal")


def make_backend(kind: str, sizes, device: DeviceParams, *, seed: int = 0, instances: int = 1,
                 periphery: PeripheryParams | None = None, config: ControllerConfig | None = None,
                 mapping: str = "differential"):
    """A backend whose array is laid out for an MLP of ``sizes``."""
    check_choice("backend", kind, BACKENDS)
    cfg = layout_config(sizes, config)
    cls = GoldenBackend if kind == "golden" else IdealBackend
    return cls(cfg, device, periphery, instances=instances, seed=seed, mapping=mapping)


@dataclass
class History:
    epochs: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)  # per epoch, mean over instances (%)
    test_acc: list = field(default_factory=list)
    test_acc_per_instance: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


class Trainer:
    """Per-sample training of a :class:`CrossbarMLP` with a given step function.

    ``step(net, x, t_onehot, lr)`` performs one sample's training; ``x`` is
    (K, features). A step with a ``train_block(net, xs, ts, lr)`` method (the
    compiled step, :mod:`insitu.golden.compiled_step`) is handed the rest of the
    epoch's samples at once, in the same order, with the same result. Sample order is shuffled every epoch by the trainer's own
    generator, so runs are reproducible and resumable.
    """

    def __init__(self, net: CrossbarMLP, data: Dataset, *, lr: float, seed: int = 0,
                 step: Callable | None = None, eval_train: bool = False):
        self.net = net
        self.data = data
        self.lr = lr
        self.step = step or (lambda net, x, t, lr: net.backprop_step(x, t, lr))
        self.rng = np.random.default_rng(check_int("seed", seed, 0, 2**63 - 1))
        self.epoch = 0
        self.position = 0  # sample index within the current epoch's order
        self.order = None
        self.history = History()
        self.eval_train = eval_train
        self.eye = np.eye(data.classes)

    def evaluate(self, x, y) -> np.ndarray:
        """Accuracy (%) per instance."""
        pred = self.net.predict(x)
        return 100.0 * np.mean(pred == y[None, :], axis=1)

    def run(self, epochs: int, *, progress: bool = True, desc: str = "train",
            stop_after: int | None = None) -> History:
        """Train up to ``epochs`` epochs in total (continuing from the saved position).

        ``stop_after`` ends the run after that many samples (used to test resume).
        """
        from tqdm import tqdm

        check_int("epochs", epochs, 0, 100000)
        d, K = self.data, self.net.K
        n = len(d.x_train)
        total = max(0, epochs * n - (self.epoch * n + self.position))
        done = 0
        block = getattr(self.step, "train_block", None)
        with tqdm(total=total, desc=desc, unit="sample", disable=not progress,
                  leave=False, mininterval=0.5) as bar:
            while self.epoch < epochs:
                if self.order is None or self.position == 0:
                    self.order = self.rng.permutation(n)
                while self.position < n:
                    if block is not None:  # a compiled step takes the samples in blocks
                        m = n - self.position
                        if stop_after is not None:
                            m = min(m, stop_after - done)
                        idx = self.order[self.position:self.position + m]
                        block(self.net, d.x_train[idx], self.eye[d.y_train[idx]], self.lr)
                        self.position += m
                        done += m
                        bar.update(m)
                        if stop_after is not None and done >= stop_after:
                            return self.history
                        continue
                    i = self.order[self.position]
                    xi = d.x_train[i]
                    x = xi[None, :] if K == 1 else np.broadcast_to(xi, (K, d.features))
                    self.step(self.net, x, self.eye[d.y_train[i]][None, :], self.lr)
                    self.position += 1
                    done += 1
                    if done % 256 == 0:
                        bar.update(256)
                    if stop_after is not None and done >= stop_after:
                        return self.history
                self.position = 0
                self.epoch += 1
                acc = self.evaluate(d.x_test, d.y_test)
                self.history.epochs.append(self.epoch)
                self.history.test_acc.append(float(acc.mean()))
                self.history.test_acc_per_instance.append(acc.tolist())
                if self.eval_train:
                    self.history.train_acc.append(float(self.evaluate(d.x_train, d.y_train).mean()))
                bar.set_postfix(epoch=self.epoch, test_acc=f"{acc.mean():.1f}%")
        return self.history

    # -- save / resume -------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "order": None if self.order is None else self.order.tolist(),
            "rng": self.rng.bit_generator.state,
            "history": self.history.to_dict(),
            "backend": _jsonable(self.net.backend.state_dict()),
            "capped_updates": self.net.capped_updates,
        }

    def load_state_dict(self, s: dict) -> None:
        self.epoch = int(s["epoch"])
        self.position = int(s["position"])
        self.order = None if s["order"] is None else np.array(s["order"], dtype=np.int64)
        self.rng.bit_generator.state = s["rng"]
        self.history = History(**s["history"])
        self.net.backend.load_state_dict(_from_jsonable(s["backend"]))
        self.net.capped_updates = int(s.get("capped_updates", 0))

    def save(self, path, extra: dict | None = None) -> None:
        d = {"trainer": self.state_dict(), **(extra or {})}
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps(d))
        tmp.replace(path)  # atomic: an interrupted save never leaves a half-written file


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _from_jsonable(obj):
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.array(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: _from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_jsonable(v) for v in obj]
    return obj


class FloatMLP:
    """Plain float numpy MLP with per-sample SGD: the software baseline."""

    def __init__(self, weights, activation: str = "sigmoid"):
        self.w = [np.array(w, dtype=float) for w in weights]  # each (fan_in + 1, fan_out)
        self.activation = activation

    def forward(self, x):
        hs = [x]
        for l, w in enumerate(self.w):
            z = np.append(hs[-1], 1.0) @ w
            hs.append(softmax(z) if l == len(self.w) - 1 else _act(self.activation, z))
        return hs

    def step(self, x, t, lr):
        hs = self.forward(x)
        delta = hs[-1] - t
        for l in range(len(self.w) - 1, -1, -1):
            back = self.w[l][:-1] @ delta if l else None
            self.w[l] -= lr * np.outer(np.append(hs[l], 1.0), delta)
            if l:
                delta = back * _act_grad(self.activation, hs[l])

    def accuracy(self, x, y) -> float:
        pred = [np.argmax(self.forward(xi)[-1]) for xi in x]
        return 100.0 * float(np.mean(np.array(pred) == y))

    def train(self, data: Dataset, epochs: int, lr: float, seed: int) -> list:
        rng = np.random.default_rng(seed)
        eye = np.eye(data.classes)
        accs = []
        for _ in range(epochs):
            for i in rng.permutation(len(data.x_train)):
                self.step(data.x_train[i], eye[data.y_train[i]], lr)
            accs.append(self.accuracy(data.x_test, data.y_test))
        return accs
