"""Shared fixtures of the co-simulation tests: one cached build per design and simulator."""

from __future__ import annotations

import pytest
from insitu.sim import runner, training

SIMS = list(runner.SIMULATORS)

# the iris 4-8-3 training layout (9 x 11), used by every stream-port test
TRAIN_PARAMS = {"model": "iris", "seed": 0}

# the same layout with shared, averaging converters and the tightest timing: three ADCs
# over the lines (a partial last mux position), two conversions averaged, one-tick pulses
# back to back (slot strobes on consecutive ticks), no settling, one-tick conversions,
# narrow converters and short pulse trains
EXOTIC = {"adcs": 3, "adc_average": 2, "pulse_width": 1, "pulse_gap": 0, "settle_ticks": 0,
          "convert_ticks": 1, "dac_bits": 6, "adc_bits": 12, "count_bits": 2, "bl": 7,
          "max_program_iters": 32}


def design(host: str = "stream", config: dict | None = None) -> runner.Design:
    cfg = training.controller_config({**TRAIN_PARAMS, "config": config or {}})
    return runner.Design(cfg, host=host, uart_divisor=8)


@pytest.fixture(params=SIMS)
def sim(request):
    return request.param


def build_for(sim: str, host: str = "stream", config: dict | None = None) -> runner.Build:
    # a missing simulator raises SimulatorMissing: the test fails, it does not skip
    return runner.build(design(host, config), sim)
