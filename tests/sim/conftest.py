"""Shared fixtures of the co-simulation tests: one cached build per design and simulator."""

from __future__ import annotations

import pytest
from insitu.sim import runner, training

SIMS = list(runner.SIMULATORS)

# the iris 4-8-3 training layout (9 x 11), used by every stream-port test
TRAIN_PARAMS = {"model": "iris", "seed": 0}


def design(host: str = "stream") -> runner.Design:
    cfg = training.controller_config(TRAIN_PARAMS)
    return runner.Design(cfg, host=host, uart_divisor=8)


@pytest.fixture(params=SIMS)
def sim(request):
    return request.param


def build_for(sim: str, host: str = "stream") -> runner.Build:
    # a missing simulator raises SimulatorMissing: the test fails, it does not skip
    return runner.build(design(host), sim)
