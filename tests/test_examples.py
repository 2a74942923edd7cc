"""The examples/ scripts run as a user runs them (small sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, timeout=600):
    r = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_fit_and_compare(tmp_path):
    out = run("fit_and_compare.py", "--dataset", "iris", "--epochs", "1", "--out", str(tmp_path))
    assert "RMS residual" in out and "agad on the fitted device" in out
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["runs"]) == {"backprop", "agad", "float"}
    assert (tmp_path / "device.json").exists()


def test_cosim_run(tmp_path):
    out = run("cosim_run.py", "--samples", "3", "--out", str(tmp_path))
    assert "identical on verilator" in out
    assert (tmp_path / "controller.v").stat().st_size > 1000


def test_sweep_grid(tmp_path):
    out = run("sweep_grid.py", "--epochs", "1", "--workers", "2", "--out", str(tmp_path))
    assert "16 cells" in out
    assert len((tmp_path / "sweep.csv").read_text().splitlines()) == 17


@pytest.mark.parametrize("script", ["fit_and_compare.py", "cosim_run.py", "sweep_grid.py"])
def test_examples_have_help(script):
    assert "usage:" in run(script, "--help")
