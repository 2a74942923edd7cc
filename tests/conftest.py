"""One rule for the tests that need Icarus Verilog (Debian's ``iverilog``; not a pip package).

A test needs Icarus when it carries the ``icarus`` marker, or when one of its parameters (a
``sim`` fixture or ``parametrize`` value) is ``"icarus"``. Where ``iverilog`` and ``vvp`` are not
on PATH such a test skips with :data:`ICARUS_MISSING`, so a fresh ``pytest`` passes and the
Verilator half of every simulator pair still runs; with ``INSITU_REQUIRE_ICARUS=1`` (``.ci/run``
sets it after installing Icarus) it fails instead, so CI can never pass without Icarus.
"""

from __future__ import annotations

import os
import shutil

import pytest

ICARUS_MISSING = "Icarus Verilog not installed: apt-get install iverilog"
REQUIRE_ICARUS = "INSITU_REQUIRE_ICARUS"

pytest_plugins = ["pytester"]  # tests/test_icarus_rule.py runs this rule in a sub-session


def icarus_installed() -> bool:
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def pytest_configure(config):
    config.addinivalue_line("markers", "icarus: needs Icarus Verilog (skips where it is absent, "
                                       f"fails under {REQUIRE_ICARUS}=1)")


def _runs_on_icarus(item) -> bool:
    if item.get_closest_marker("icarus") is not None:
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(isinstance(v, str) and v == "icarus" for v in params.values())


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _runs_on_icarus(item) and item.get_closest_marker("icarus") is None:
            item.add_marker(pytest.mark.icarus)


def pytest_runtest_setup(item):
    if item.get_closest_marker("icarus") is None or icarus_installed():
        return
    if os.environ.get(REQUIRE_ICARUS) == "1":
        pytest.fail(f"{ICARUS_MISSING} ({REQUIRE_ICARUS}=1 requires it)", pytrace=False)
    pytest.skip(ICARUS_MISSING)
