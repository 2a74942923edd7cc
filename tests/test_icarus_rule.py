"""The Icarus rule of tests/conftest.py, run in a pytest sub-session with and without Icarus."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = """
import pytest

@pytest.fixture(params=["verilator", "icarus"])
def sim(request):
    return request.param

def test_simulator_pair(sim):
    pass

@pytest.mark.parametrize("sim_name", ["icarus"])
def test_parametrized(sim_name):
    pass

@pytest.mark.icarus
def test_marked():
    pass

def test_golden_only():
    pass
"""


@pytest.fixture
def session(pytester, monkeypatch):
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(test_rule=TESTS)
    monkeypatch.delenv("INSITU_REQUIRE_ICARUS", raising=False)
    bin_dir = pytester.path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # no iverilog, no vvp
    return pytester, bin_dir


def test_without_icarus_skips_with_one_reason(session):
    pytester, _ = session
    r = pytester.runpytest("-p", "no:xdist", "-rs")
    r.assert_outcomes(passed=2, skipped=3)
    r.stdout.fnmatch_lines(["SKIPPED [[]3[]] *Icarus Verilog not installed: apt-get install iverilog"])


def test_without_icarus_fails_when_required(session, monkeypatch):
    pytester, _ = session
    monkeypatch.setenv("INSITU_REQUIRE_ICARUS", "1")
    r = pytester.runpytest("-p", "no:xdist")
    r.assert_outcomes(passed=2, errors=3)
    r.stdout.fnmatch_lines(["*Icarus Verilog not installed*INSITU_REQUIRE_ICARUS=1 requires it*"])


def test_with_icarus_runs_everything(session, monkeypatch):
    pytester, bin_dir = session
    for tool in ("iverilog", "vvp"):
        exe = bin_dir / tool
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("INSITU_REQUIRE_ICARUS", "1")
    r = pytester.runpytest("-p", "no:xdist")
    r.assert_outcomes(passed=5)
