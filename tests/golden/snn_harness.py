"""Shared by the spiking tests: small random weights and a run compared with the host model."""

from __future__ import annotations

import numpy as np


def random_weights(sizes, seed=0) -> list[np.ndarray]:
    """One (fan_in, fan_out) array per layer, uniform in [-0.8, 0.8]."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.8, 0.8, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def deviation_from_model(net, rasters, model) -> tuple[float, int, int]:
    """Run every sample of ``rasters`` (T, B, inputs) on ``net`` and compare with ``model``
    (the host model's :class:`~insitu.golden.snn.SpikeRecord` of the same batch).

    Returns (largest membrane difference over layers, steps and samples, number of hidden
    spike flags that differ, hidden spikes of the run); each caller sets its tolerance.
    """
    worst, wrong, spikes = 0.0, 0, 0
    for i in range(rasters.shape[1]):
        rec = net.run(rasters[:, i])
        for got, want in zip(rec.v, model.v):
            worst = max(worst, float(np.abs(got[:, 0] - want[:, i]).max()))
        for got, want in zip(rec.s, model.s):
            wrong += int(np.count_nonzero(got[:, 0] != want[:, i]))
            spikes += int(got.sum())
    return worst, wrong, spikes
