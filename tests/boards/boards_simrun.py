"""Build an Amaranth component as Verilog and run a cocotb test module on it (Icarus or Verilator)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from amaranth.back import verilog
from insitu.rtl.verilog import fix_zero_time_triggers

HERE = Path(__file__).resolve().parent


def simulators() -> list[str]:
    """Both simulators; an Icarus test where it is absent skips or fails (tests/conftest.py)."""
    return ["icarus", "verilator"]


def run_cocotb(component, name: str, test_module: str, build_dir: Path, *, sim: str = "icarus",
               params: dict | None = None, testcase=None) -> Path:
    """Write ``component`` as ``name``.v, build it for ``sim`` and run ``test_module``'s tests.

    ``params`` reach the tests as JSON in the ``INSITU_TEST_PARAMS`` environment variable.
    Raises AssertionError naming the failed tests.
    """
    from cocotb_tools.check_results import get_results
    from insitu.sim.runner import simulator_env, tool_runner

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / f"{name}.v"
    # the rtl writer's fix: Icarus needs Yosys' zero-time triggers as `initial` events
    src.write_text(fix_zero_time_triggers(verilog.convert(component, name=name, emit_src=False)))
    runner = tool_runner(sim, simulator_env(sim))  # the tools' environment; os.environ untouched
    build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"] if sim == "verilator" else []
    runner.build(sources=[src], hdl_toplevel=name, build_dir=build_dir, build_args=build_args,
                 timescale=("1ns", "1ps"), always=True)
    extra = {
        "INSITU_TEST_PARAMS": json.dumps(params or {}),
        "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]),
    }
    results = runner.test(test_module=test_module, hdl_toplevel=name, build_dir=build_dir,
                          test_dir=build_dir, extra_env=extra, testcase=testcase,
                          timescale=("1ns", "1ps"))
    total, failed = get_results(results)
    assert total > 0, "no cocotb test ran"
    assert failed == 0, f"{failed} of {total} cocotb tests failed (see {results})"
    return results
