"""Datasets that need no download: scikit-learn's bundled digits and iris,
generated Yin-Yang, and XOR. Each returns float features in [0, 1] and
integer labels, split into train/test with a seeded shuffle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import check_choice, check_int

DATASETS = ("digits", "iris", "yinyang", "xor")


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def features(self) -> int:
        return self.x_train.shape[1]


def _split(name, x, y, classes, seed, test_fraction=0.2) -> Dataset:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    te, tr = idx[:n_test], idx[n_test:]
    return Dataset(name, x[tr], y[tr], x[te], y[te], classes)


def yinyang(n: int, seed: int = 0, r_big: float = 0.5, r_small: float = 0.1):
    """Yin-Yang (Kriener et al.): points in the unit square, classes yin, yang, dot.

    Features are (x, y, 1-x, 1-y) as in the BrainScaleS-2 benchmark.
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    per = [n // 3 + (1 if k < n % 3 else 0) for k in range(3)]
    counts = [0, 0, 0]
    while sum(counts) < n:
        p = rng.uniform(0, 2 * r_big, size=(4 * n, 2))
        for x, y in p:
            c = _yinyang_class(x, y, r_big, r_small)
            if c is None or counts[c] >= per[c]:
                continue
            xs.append((x, y, 2 * r_big - x, 2 * r_big - y))
            ys.append(c)
            counts[c] += 1
            if sum(counts) == n:
                break
    return np.array(xs) / (2 * r_big), np.array(ys)


def _yinyang_class(x, y, R, r):
    d_right = np.hypot(x - 1.5 * R, y - R)
    d_left = np.hypot(x - 0.5 * R, y - R)
    d_centre = np.hypot(x - R, y - R)
    if d_centre > R:
        return None
    if d_right < r or d_left < r:
        return 2
    yin = (d_right <= r) or (r < d_left <= R / 2) or (y > R and d_right > R / 2)
    return 0 if yin else 1


def load(name: str, seed: int = 0, n: int | None = None) -> Dataset:
    """Load a dataset by name (``digits``, ``iris``, ``yinyang``, ``xor``)."""
    check_choice("dataset", name, DATASETS)
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return _split(name, d.data / 16.0, d.target.astype(np.int64), 10, seed)
    if name == "iris":
        from sklearn.datasets import load_iris

        d = load_iris()
        x = d.data
        x = (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0))
        return _split(name, x, d.target.astype(np.int64), 3, seed)
    if name == "yinyang":
        n = check_int("n", n if n is not None else 5000, 30, 10**6)
        x, y = yinyang(n, seed)
        return _split(name, x, y, 3, seed)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    reps = 64
    return Dataset(name, np.tile(x, (reps, 1)), np.tile(y, reps), x, y, 2)
