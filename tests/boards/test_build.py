"""Board builds with YoWASP (slow) and the build/board commands (fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from insitu.host.transport import ReferenceTransport
from insitu.boards.tops import BOARDS, pin_map
from insitu.golden.config import ControllerConfig

from insitu.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_build_small_config(board, tmp_path):
    from insitu.boards.tops import build

    out = tmp_path / board
    r = build(board, ControllerConfig(rows=4, cols=4), out, seed=1)  # reproducible placement
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(r))
    bit = Path(r["bitstream"])
    assert bit.exists() and bit.stat().st_size > 0 and r["bitstream_bytes"] == bit.stat().st_size
    assert 0 < r["logic_cells"] <= r["logic_cells_available"]
    assert r["ffs"] > 0 and r["luts"] > 0 and r["bram"] is not None
    assert r["config"]["rows"] == 4 and r["config"]["pulse_gap"] >= 1
    assert r["clock_mhz"] == BOARDS[board].clk_hz / 1e6 and r["fmax_mhz"] > 0
    assert r["timing_met"], f"Fmax {r['fmax_mhz']:.1f} MHz below the {r['clock_mhz']} MHz clock"


def test_build_list(capsys):
    assert main(["build", "--list"]) == 0
    out = capsys.readouterr().out
    assert "icebreaker" in out and "ulx3s" in out


def test_every_option_has_help(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = capsys.readouterr().out
    for opt in ("--board", "--rows", "--cols", "--list", "--pulse-us", "--dac-part", "--watchdog"):
        assert opt in text


def test_board_without_hardware_is_one_line():
    r = subprocess.run([sys.executable, "-m", "insitu.cli", "board", "ping", "--port",
                        "/dev/insitu-no-such-port"], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open serial port" in lines[0]


def test_pin_maps_fit_and_are_unique():
    for board in BOARDS:
        for n in (4, 16, 32):
            pins = pin_map(board, ControllerConfig(rows=n, cols=n))
            assert len({(p["conn"], p["pin"]) for p in pins}) == len(pins)
            assert sum(p["signal"].startswith("adc_cs_n") for p in pins) == 2 * -(-n // 8)
    with pytest.raises(ValueError, match="header pins"):
        pin_map("icebreaker", ControllerConfig(rows=64, cols=64))


class ReferenceBoard(ReferenceTransport):
    """The in-process fake controller with a small integer crossbar behind it."""

    def __init__(self, config):
        import numpy as np

        class Array:
            def __init__(self):
                self.w = np.random.default_rng(0).integers(-20, 21, (config.rows, config.cols))

            def read(self, drive_side, levels, sense_side, l0, l1):
                levels = np.asarray(levels, dtype=np.int64)
                out = levels @ self.w if drive_side == 0 else self.w @ levels
                return np.clip(out >> 4, -config.adc_max, config.adc_max)[l0:l1]

            def pulse(self, counts):
                self.w = np.clip(self.w + counts, -60, 60)

        super().__init__(config, Array())

    def close(self):
        pass


@pytest.mark.parametrize("action", ["ping", "read", "train"])
def test_board_command_against_the_reference(monkeypatch, capsys, action):
    from insitu.host import interface

    cfg = ControllerConfig(rows=4, cols=5, max_program_iters=16)
    monkeypatch.setattr(interface, "SerialTransport", lambda port, baud: ReferenceBoard(cfg))
    assert main(["board", action, "--port", "sim", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    if action == "ping":
        assert "rows 4" in " ".join(out.split())
    elif action == "read":
        assert len(out.strip().splitlines()) == 4
    else:
        assert "epoch 1: test accuracy" in out


@pytest.mark.parametrize("value, message", [
    ("64,x", "comma-separated layer sizes"),
    ("64", "2..5 layer sizes"),
    ("64,0,10", "2..5 layer sizes"),
])
def test_build_on_chip_bad_sizes_are_one_line(capsys, value, message):
    assert main(["build", "--on-chip", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "--on-chip" in err[0]


def test_build_on_chip_array_too_small_is_one_line(capsys):
    assert main(["build", "--on-chip", "64,32,10", "--rows", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot hold the 65x42 layout" in err[0]


def test_board_core_with_the_trainer_elaborates():
    """A tiny network's board core with the trainer engine: the trainer is in the netlist and
    a wide layout's enable chains get their pulse gap (above the old 8-bit limit)."""
    from amaranth.back import rtlil
    from insitu.boards.core import BoardCore, board_config
    from insitu.golden.nn import layout_config
    from insitu.golden.onchip import OnChipConfig

    cfg = board_config(layout_config((3, 2, 2)), 50e6)
    text = rtlil.convert(BoardCore(cfg, 50e6, trainer=OnChipConfig(table_bits=4)))
    assert "trainer" in text
    plain = rtlil.convert(BoardCore(cfg, 50e6))
    assert "trainer" not in plain
