"""Datasets that need no download: scikit-learn's bundled digits (also upsampled
to 16x16) and iris, generated Yin-Yang, and XOR. Each returns float features in [0, 1] and
integer labels, split into train/test with a seeded shuffle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import check_choice, check_int

DATASETS = ("digits", "digits16", "iris", "yinyang", "xor")


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


def upsample(images, size: int) -> np.ndarray:
    """Bilinear interpolation of square images (n, s, s) to (n, size, size).

    Pixel centres are aligned (output pixel ``o`` samples the input at
    ``(o + 0.5) * s / size - 0.5``, clamped to the edge pixels), so the values
    stay in the input's range.
    """
    images = np.asarray(images, dtype=float)
    s = images.shape[1]
    pos = np.clip((np.arange(size) + 0.5) * s / size - 0.5, 0.0, s - 1.0)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, s - 1)
    f = pos - i0
    rows = images[:, i0, :] * (1.0 - f)[None, :, None] + images[:, i1, :] * f[None, :, None]
    return rows[:, :, i0] * (1.0 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]


def digits_upsampled(size: int = 16, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits interpolated to ``size x size`` (``size**2`` features
    in [0, 1]); the same split as ``load("digits", seed)``."""
    from sklearn.datasets import load_digits

    check_int("size", size, 8, 64)
    d = load_digits()
    x = upsample(d.data.reshape(-1, 8, 8) / 16.0, size).reshape(len(d.data), size * size)
    return _split(f"digits{size}", x, d.target.astype(np.int64), 10, seed)


def load(name: str, seed: int = 0, n: int | None = None) -> Dataset:
    """Load a dataset by name (``digits``, ``digits16``, ``iris``, ``yinyang``, ``xor``)."""
    check_choice("dataset", name, DATASETS)
    if name == "digits16":
        return digits_upsampled(16, seed)
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
