"""``insitu board train --on-chip`` on the in-process fake controller with a trainer engine
(ProtocolReference over a golden array): the host sends the constants, then samples."""

from __future__ import annotations

import argparse
import copy

import numpy as np
from insitu.boards.host import BoardBackend
from insitu.commands.board import _train_on_chip
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.datasets import load
from insitu.golden.nn import CrossbarMLP, layout_config
from insitu.golden.onchip import OnChipConfig
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import ecram_organic
from insitu.host import HostInterface, ReferenceTransport
from insitu.sim.checks import GoldenAnalog


def test_board_train_on_chip_against_the_fake(capsys):
    data = load("iris", seed=0)
    sizes = (data.features, 8, data.classes)
    cfg = layout_config(sizes, ControllerConfig())
    chip = GoldenBackend(cfg, ecram_organic, PeripheryParams(), seed=0, engine="numba")
    analog = GoldenAnalog(chip, cfg)
    ctrl = HostInterface(ReferenceTransport(cfg, analog, trainer=OnChipConfig()), config=cfg)
    net = CrossbarMLP(BoardBackend(ctrl, ecram_organic), sizes)
    net.init_weights(np.random.default_rng(0))
    g0 = copy.deepcopy(chip.conductances)
    args = argparse.Namespace(lr=0.1, epochs=2)
    assert _train_on_chip(ctrl, net, data, args, np.random.default_rng(0)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and all("(on chip)" in line for line in out)
    assert len(analog.bursts) > len(data.x_train)  # the trainer engine moved the array
    assert not np.array_equal(chip.conductances, g0)
