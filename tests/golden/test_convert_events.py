"""``GoldenBackend.convert_events`` (a read's conversion events at once, as the co-simulation's
front-end answers them) equals ``convert_event`` called once per event: same samples, same
random draws consumed."""

from __future__ import annotations

import numpy as np
import pytest
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.presets import get_device


@pytest.mark.parametrize("adcs,transpose,single", [(1, False, False), (3, True, False),
                                                   (3, False, True)])
def test_convert_events_equal_single_events(adcs, transpose, single):
    cfg = ControllerConfig(rows=9, cols=11, adcs=adcs, adc_average=2)
    one, many = (GoldenBackend(cfg, get_device("rram_oxide"), seed=4) for _ in range(2))
    lines = cfg.cols if transpose else cfg.rows
    levels = np.random.default_rng(1).integers(-cfg.dac_max, cfg.dac_max + 1, (1, lines))
    positions = [p for p in range(-(-(cfg.rows if transpose else cfg.cols) // adcs))
                 for _ in range(cfg.adc_average)]
    a = [one.convert_event(levels, transpose, p, single) for p in positions]
    b = many.convert_events(levels, transpose, positions, single)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert one.rng.standard_normal() == many.rng.standard_normal()
