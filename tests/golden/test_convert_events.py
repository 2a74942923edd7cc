"""``GoldenBackend.convert_events`` (a read's conversion events at once, as the co-simulation's
front-end answers them) equals ``convert_event`` called once per event: same samples, same
random draws consumed."""

from __future__ import annotations

import numpy as np
import pytest
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.presets import get_device


@pytest.mark.parametrize("adcs,transpose,single,average,first", [
    (1, False, False, 2, 0), (3, True, False, 2, 0), (3, False, True, 2, 0),
    # consecutive positions (no averaging): converted in one kernel call, from the first
    # position or a later one, the last position partly outside the array
    (1, False, False, 1, 0), (1, True, False, 1, 2), (3, False, False, 1, 1),
    (3, True, True, 1, 0), (4, False, False, 1, 0)])
def test_convert_events_equal_single_events(adcs, transpose, single, average, first):
    cfg = ControllerConfig(rows=9, cols=11, adcs=adcs, adc_average=average)
    one, many = (GoldenBackend(cfg, get_device("rram_oxide"), seed=4) for _ in range(2))
    lines = cfg.cols if transpose else cfg.rows
    levels = np.random.default_rng(1).integers(-cfg.dac_max, cfg.dac_max + 1, (1, lines))
    positions = [p for p in range(first, -(-(cfg.rows if transpose else cfg.cols) // adcs))
                 for _ in range(cfg.adc_average)]
    # a programmed array: every line's current differs
    g = np.random.default_rng(2).uniform(0.2, 0.8, one.devices.g.shape)
    for b in (one, many):
        b.devices.g[...] = g
        b._gdiff[...] = b._conductance_difference(slice(None), slice(None))
    a = [one.convert_event(levels, transpose, p, single) for p in positions]
    b = many.convert_events(levels, transpose, positions, single)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert one.rng.standard_normal() == many.rng.standard_normal()
