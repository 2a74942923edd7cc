"""``insitu verilog``: write the controller's Verilog and its JSON port sidecar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    from insitu.golden.config import ControllerConfig

    d = ControllerConfig()
    parser = subparsers.add_parser(
        "verilog",
        help="write the controller top as Verilog (+ a JSON port/config sidecar)",
        description="Elaborate insitu.rtl.top.ControllerTop for one ControllerConfig and "
                    "write Verilog with Amaranth's builtin Yosys, plus OUTPUT.json listing "
                    "the ports (names, widths, directions) and the config.",
    )
    parser.add_argument("--rows", type=int, default=d.rows, help=f"array rows, 1..256 (default {d.rows})")
    parser.add_argument("--cols", type=int, default=d.cols, help=f"array columns, 1..256 (default {d.cols})")
    parser.add_argument("--dac-bits", type=int, default=d.dac_bits,
                        help=f"signed DAC code width, 2..16 (default {d.dac_bits})")
    parser.add_argument("--adc-bits", type=int, default=d.adc_bits,
                        help=f"signed ADC code width, 2..24 (default {d.adc_bits})")
    parser.add_argument("--count-bits", type=int, default=d.count_bits,
                        help=f"deterministic update: per-line pulse count width, 1..8 (default {d.count_bits})")
    parser.add_argument("--bl", type=int, default=d.bl,
                        help=f"stochastic update: bit-stream length, 1..255 (default {d.bl})")
    parser.add_argument("--adcs", type=int, default=d.adcs,
                        help=f"ADCs per side, shared over the lines by a mux (default {d.adcs})")
    parser.add_argument("--prob-bits", type=int, default=d.prob_bits,
                        help=f"stochastic update: firing-probability width, 1..16 (default {d.prob_bits})")
    parser.add_argument("--pulse-width", type=int, default=d.pulse_width,
                        help=f"pulse width in clock ticks, 1..255 (default {d.pulse_width})")
    parser.add_argument("--pulse-gap", type=int, default=d.pulse_gap,
                        help=f"gap between pulse slots in clock ticks, 0..65535 (default {d.pulse_gap})")
    parser.add_argument("--adc-average", type=int, default=d.adc_average,
                        help=f"conversions averaged per read, power of two 1..16 (default {d.adc_average})")
    parser.add_argument("--max-program-iters", type=int, default=d.max_program_iters,
                        help=f"write-verify iterations per device, 1..1023 (default {d.max_program_iters})")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help=f"LFSR seed, 0..2**32-1 (default {d.seed})")
    parser.add_argument("--host", choices=("stream", "uart"), default="stream",
                        help="host side: byte-stream ports (SoC, simulation) or UART pins (default stream)")
    parser.add_argument("--uart-divisor", type=int, default=104,
                        help="UART clock ticks per bit, with --host uart (default 104: 12 MHz / 115200)")
    parser.add_argument("--timeout-cycles", type=int, default=None,
                        help="inter-byte timeout inside a request frame, in clock ticks "
                             "(default: 40 bit times with --host uart, 1000 with --host stream)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.v",
                        help="Verilog file to write; the sidecar goes next to it as FILE.json")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from insitu.golden.config import ControllerConfig
    from insitu.rtl.verilog import write_verilog

    config = ControllerConfig(
        rows=args.rows, cols=args.cols, dac_bits=args.dac_bits, adc_bits=args.adc_bits,
        count_bits=args.count_bits, bl=args.bl, adcs=args.adcs, seed=args.seed,
        prob_bits=args.prob_bits, pulse_width=args.pulse_width, pulse_gap=args.pulse_gap,
        adc_average=args.adc_average, max_program_iters=args.max_program_iters,
    )
    sidecar = write_verilog(config, args.output, host=args.host, uart_divisor=args.uart_divisor,
                            timeout_cycles=args.timeout_cycles)
    n_ports = len(sidecar["ports"])
    print(f"wrote {args.output} ({sidecar['top']}, {n_ports} ports) and "
          f"{Path(args.output).with_suffix('.json')}", file=sys.stdout)
    return 0
