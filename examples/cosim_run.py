"""Generate the controller's Verilog and co-simulate a short training run against the golden model.

    python examples/cosim_run.py                     # iris, 20 samples, Verilator
    python examples/cosim_run.py --sim icarus --samples 5

Writes ``controller.v`` (and its JSON sidecar of ports and config) for the iris layout, then
runs the same training through the Verilog (cocotb) and on the golden model, and compares ADC
codes, pulse bursts and final conductances step by step (``insitu cosim`` does the same).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from insitu.rtl.verilog import write_verilog
from insitu.sim import runner, training


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sim", default="verilator", choices=runner.SIMULATORS)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--out", default="results/cosim_run")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    params = training.with_data({"model": "iris", "samples": args.samples, "seed": 0})
    config = training.controller_config(params)
    sidecar = write_verilog(config, out / "controller.v")
    print(f"Verilog: {out / 'controller.v'} ({config.rows}x{config.cols} array, "
          f"{len(sidecar['ports'])} ports)")

    build = runner.build(runner.Design(config), args.sim)
    rtl = runner.run(build, {"task": "train", **params})
    golden = training.golden_run(params)
    diffs = training.compare(golden, rtl)
    if diffs:
        print(f"DIFFERENT from the golden model at {diffs[0]}")
        return 1
    print(f"identical on {args.sim}: {len(rtl['reads'])} ADC reads, {len(rtl['bursts'])} pulse "
          f"bursts, final conductances; {rtl['cycles']:,} clock cycles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
