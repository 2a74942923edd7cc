"""Link fuzz: random and corrupted frames on the stream port and the UART pins (Verilator).

The controller for the iris 4-8-3 layout (9 x 11) gets ``--frames`` fuzz frames on its byte
stream port and ``--uart-frames`` on its UART pins (8 clock ticks per bit), in batches of
back-to-back frames (one Python wake per batch, one build per port, no rebuilds): valid
frames of every opcode with arguments in and out of range, a flipped bit, a corrupted SYNC,
a wrong length, an unknown opcode, a length above the buffer, loose bytes, a frame cut off.
Every response is compared byte for byte with ``ProtocolReference`` over a second golden
array, the conversions and the arrays after every batch, the state (STATUS: LFSR draws and
error count; both buffers) every 20 batches (:mod:`insitu.sim.fuzz`).

    python benchmarks/link_fuzz.py [--frames 100000] [--uart-frames 10000] [--seed 1]

The last line is one JSON object: ``frames``, ``uart_frames``, ``hangs``,
``missing_responses``, ``state_mismatches`` (all three must be zero), and per port the
statuses seen, the kinds sent, the first differences and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from insitu.sim import runner, training


def fuzz(host: str, frames: int, seed: int) -> dict:
    params = training.with_data({"model": "iris", "seed": 3})
    design = runner.Design(training.controller_config(params), host=host, uart_divisor=8)
    bld = runner.build(design, "verilator")
    t = time.perf_counter()
    res = runner.run(bld, {"task": "fuzz", "device": "ecram_organic", "seed": 3,
                           "frames": frames, "fuzz_seed": seed})
    res["run_s"] = round(time.perf_counter() - t, 1)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000, help="frames on the stream port")
    ap.add_argument("--uart-frames", type=int, default=10_000, help="frames on the UART pins")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    per = {}
    for host, n in (("stream", a.frames), ("uart", a.uart_frames)):
        r = fuzz(host, n, a.seed)
        per[host] = {k: r[k] for k in ("frames", "batches", "responses", "hangs",
                                       "missing_responses", "state_mismatches",
                                       "first_differences", "statuses", "kinds", "cycles",
                                       "run_s")}
        print(f"{host}: {r['frames']} frames in {r['batches']} batches, {r['cycles']} cycles, "
              f"{r['run_s']} s; hangs {r['hangs']}, missing {r['missing_responses']}, "
              f"mismatches {r['state_mismatches']}", file=sys.stderr, flush=True)
    out = {"frames": per["stream"]["frames"], "uart_frames": per["uart"]["frames"]}
    for k in ("hangs", "missing_responses", "state_mismatches"):
        out[k] = per["stream"][k] + per["uart"][k]
    out["per_port"] = per
    print(json.dumps(out))
    return 0 if out["hangs"] == out["missing_responses"] == out["state_mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
