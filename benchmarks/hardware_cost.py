"""Hardware cost of the board builds: logic, FFs, BRAM and Fmax for 8x8, 16x16, 32x32 on both boards.

    python benchmarks/hardware_cost.py [--sizes 8 16 32] [--boards icebreaker ulx3s] [--jobs 2]
                                       [--on-chip 64,32,10 4,8,3]

``--on-chip SIZES...``: also build the controller with the trainer engine (TRAIN / INFER on
the board, ``insitu build --on-chip``) for the array that holds each MLP, reported under
``"onchip"`` (``{"onchip": {"ulx3s": {"64-32-10": {...}}}}``); ``--sizes`` with no size
builds only those.

Builds every (board, size) with the default ControllerConfig otherwise (as
``insitu build`` does) under ``build/bench/``, prints one JSON line per build
and, last, one JSON object ``{"icebreaker": {"16x16": {...}}, "ulx3s": {...}}``.
A size that does not fit the device is reported with ``"fits": false`` and the
logic the synthesis needed, not left out; a tool failure with ``"fits": null``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AVAILABLE = {"icebreaker": 5280, "ulx3s": 83640}


def one(board: str, n, out: str) -> dict:
    """Build ``board`` for an ``n x n`` array, or (``n`` a tuple of layer sizes) with the
    trainer engine for the layout of that MLP."""
    from insitu.boards.tops import BOARDS, build, parse_stat
    from insitu.golden.config import ControllerConfig
    from insitu.golden.nn import layout_config
    from insitu.golden.onchip import OnChipConfig

    onchip = isinstance(n, tuple)
    build_dir = Path(out) / board / (network_name(n) if onchip else f"{n}x{n}")
    clock = BOARDS[board].clk_hz / 1e6
    try:
        if onchip:
            r = build(board, layout_config(n), build_dir, trainer=OnChipConfig())
        else:
            r = build(board, ControllerConfig(rows=n, cols=n), build_dir)
        return {
            "fits": True, "luts": r["luts"], "logic_cells": r["logic_cells"],
            "luts_available": r["logic_cells_available"], "logic_cell_type": r["logic_cell_type"],
            "ffs": r["ffs"], "bram": r["bram"], "dsp": r["dsp"],
            "fmax_mhz": None if r["fmax_mhz"] is None else round(r["fmax_mhz"], 2),
            "clock_mhz": clock, "timing_met": r["timing_met"],
            "spare_logic_fraction": r["logic_spare_fraction"], "build_seconds": r["build_seconds"],
            "synth_flow": r["synth_flow"],
            **({"array": f"{r['config']['rows']}x{r['config']['cols']}"} if onchip else {}),
        }
    except (RuntimeError, ValueError) as e:
        msg = str(e)
        over = any(k in msg for k in ("the design needs", "Unable to place", "Failed to expand",
                                      "header pins"))
        res = {"fits": False if over else None, "error": msg[:300], "clock_mhz": clock,
               "luts_available": AVAILABLE[board], "fmax_mhz": None}
        stat = build_dir / "stat.json"
        if stat.exists():
            s = parse_stat(stat)
            res.update(luts=s["luts"], ffs=s["ffs"], bram=s["bram"], dsp=s["dsp"])
        tim = build_dir / "top.tim"
        if tim.exists():
            m = re.search(r"(ICESTORM_LC|TRELLIS_COMB):\s+(\d+)/\s*(\d+)", tim.read_text(errors="replace"))
            if m:
                res.update(logic_cells=int(m.group(2)), luts_available=int(m.group(3)),
                           logic_cell_type=m.group(1))
        return res


def network_name(sizes) -> str:
    return "-".join(str(s) for s in sizes)


def parse_network(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"layer sizes such as 64,32,10, got {text!r}") from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[8, 16, 32], help="array sizes n (n x n)")
    p.add_argument("--on-chip", type=parse_network, nargs="+", default=[], dest="on_chip",
                   metavar="SIZES", help="MLPs (e.g. 64,32,10) to build with the trainer engine")
    p.add_argument("--boards", nargs="+", default=["icebreaker", "ulx3s"], help="boards")
    p.add_argument("--jobs", type=int, default=2, help="parallel builds (default 2)")
    p.add_argument("--out", default=str(ROOT / "build" / "bench"), help="build folder")
    args = p.parse_args(argv)
    jobs = [(b, n) for b in args.boards for n in [*args.sizes, *args.on_chip]]
    result: dict = {b: {} for b in args.boards}
    if args.on_chip:
        result["onchip"] = {b: {} for b in args.boards}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {(b, n): pool.submit(one, b, n, args.out) for b, n in jobs}
        for (b, n), f in futures.items():
            r = f.result()
            if isinstance(n, tuple):
                result["onchip"][b][network_name(n)] = r
                print(json.dumps({"board": b, "onchip": network_name(n), **r}), flush=True)
            else:
                result[b][f"{n}x{n}"] = r
                print(json.dumps({"board": b, "size": f"{n}x{n}", **r}), flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
