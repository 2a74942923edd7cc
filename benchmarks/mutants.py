"""Mutation benchmark: small mistakes in the RTL source, each run through the co-simulation.

Every mutant is one textual change of one ``rtl/*.py`` file (a comparison off by one, a timing
one tick off, a polarity, a tap, a rounding, a bound, a CRC constant, ...). It is applied to a
temporary copy of ``rtl/``, which the co-simulation process imports in place of the installed
one; the controller is then elaborated to Verilog, built for Verilator (a fresh build cache per
mutant) and a short training run is co-simulated and compared with the golden model, as
``insitu cosim`` does. A mutant is *killed* when the run is not identical: the comparison
differs, a checker of the contract (waveform monitor, slot scoreboard, host-link checks) fails
the run, or the simulator fails. A *survivor* is a hole in the contract.

Usage: python benchmarks/mutants.py [--samples 20] [--jobs 2] [--only NAME ...]
The last line printed is one JSON object: ``total``, ``killed``, ``survivors`` (names).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RTL = Path(__file__).resolve().parents[1] / "rtl"

#: (name, file in rtl/, original text (must occur exactly once, or (text, k): its k-th
#: occurrence), replacement, run overrides)
MUTANTS = [
    ("pulse one tick too long", "drivers.py", "with m.If(tick == cfg.pulse_width - 1):",
     "with m.If(tick == cfg.pulse_width):", {}),
    ("pulse one tick short", "drivers.py", "with m.If(tick == cfg.pulse_width - 1):",
     "with m.If(tick == cfg.pulse_width - 2):", {}),
    ("gap one tick short", "drivers.py", "last_tick = tick == period - 1",
     "last_tick = tick == period - 2", {}),
    ("polarity inverted", "drivers.py", "self.pulse.pol.eq(self.slots.payload.negative)",
     "self.pulse.pol.eq(~self.slots.payload.negative)", {}),
    ("settle one tick short", "adc.py", "with m.If(timer >= cfg.settle_ticks):",
     "with m.If(timer >= cfg.settle_ticks - 1):", {}),
    ("conversion one tick short", "adc.py", "with m.If(timer < cfg.convert_ticks):",
     "with m.If(timer < cfg.convert_ticks - 1):", {}),
    # (data taken as soon as convert_ticks have passed, busy or not; ``Elif(1)`` would leave
    # the timeout branch dead, and Yosys then writes an empty full_case arm Verilator rejects)
    ("busy ignored", "adc.py", "with m.Elif(self.adc.busy == 0):",
     "with m.Elif((self.adc.busy == 0) | (waited == 0)):", {"busy_seed": 3}),
    ("averaging rounding dropped", "adc.py",
     "(acc[converter] + (cfg.adc_average >> 1)) >> avg_shift", "(acc[converter]) >> avg_shift",
     {"config": {"adc_average": 2}}),
    ("averaging count one short", "adc.py", "with m.If(conversions == cfg.adc_average - 1):",
     "with m.If(conversions == cfg.adc_average - 2):", {"config": {"adc_average": 4}}),
    ("last mux position off by one", "adc.py", "with m.If(self.adc.mux == last_position):",
     "with m.If(self.adc.mux == last_position - 1):", {"config": {"adcs": 3}}),
    ("stochastic firing comparison <=", "sequencer.py",
     "return (negative[k_line] == side_neg) & (probe < level[k_line])",
     "return (negative[k_line] == side_neg) & (probe <= level[k_line])", {}),
    ("count rounding half dropped", "sequencer.py", "rounding = Mux(dithered, lfsr_low, half)",
     "rounding = Mux(dithered, lfsr_low, 0)", {"dither": False}),
    # (the parallel sequencer's copy: the co-simulated configurations use it)
    ("dither ignored", "sequencer.py",
     ("dithered = (args.mode == UpdateMode.DETERMINISTIC) & args.dither", 0), "dithered = 0", {}),
    ("update window bound <=", "sequencer.py",
     "inside = (side_line >= first) & (side_line < first + count)",
     "inside = (side_line >= first) & (side_line <= first + count)", {}),
    ("stochastic slots one short", "sequencer.py", ("with m.If(t == cfg.bl - 1):", 0),
     "with m.If(t == cfg.bl - 2):", {"mode": "stochastic", "lr": 0.2}),
    ("LFSR tap changed", "lfsr.py", "(LFSR_TAPS >> b) & 1", "((LFSR_TAPS ^ 0x0400) >> b) & 1",
     {}),
    ("write-verify tolerance comparison", "write_verify.py",
     "le.eq(Mux(a_bit ^ tol_bit, tol_bit, le))", "le.eq(Mux(a_bit ^ tol_bit, a_bit, le))", {}),
    ("write-verify shift one less", "write_verify.py",
     "m.d.sync += shift_left.eq(self.shift)", "m.d.sync += shift_left.eq(self.shift - 1)", {}),
    ("write-verify pulse cap", "write_verify.py",
     "Mux(~at_most(mag, cfg.count_max), cfg.count_max, mag)",
     "Mux(~at_most(mag, cfg.count_max - 1), cfg.count_max - 1, mag)", {}),
    ("write-verify minimum pulse", "write_verify.py", "Mux(mag == 0, 1,", "Mux(mag == 0, 0,", {}),
    ("window check off by one", "decoder.py", "& (f < n) & (f + c <= n)",
     "& (f < n) & (f + c <= n + 1)", {}),
    ("update gain limit <", "decoder.py", "(row_gain <= gmax)", "(row_gain < gmax)", {}),
    ("response CRC init", "hostlink.py", "m.d.sync += crc.eq(proto.CRC_INIT)",
     "m.d.sync += crc.eq(proto.CRC_INIT ^ 1)", {}),
    ("CRC polynomial", "hostlink.py", "Mux(value[15], proto.CRC_POLY, 0)",
     "Mux(value[15], proto.CRC_POLY ^ 0x20, 0)", {}),
    ("last code of a read word", "read_engine.py",
     "self.word_last.eq(codes.payload.channel == sense_last - 1)",
     "self.word_last.eq(codes.payload.channel == sense_last - 2)", {}),
    ("UART receive bit count", "uart.py", "with m.If(bits == 7):", "with m.If(bits == 6):",
     {"host": "uart"}),
]

# Runs in a fresh interpreter: the mutated copy of rtl/ replaces insitu.rtl's package path
# before any of its modules is imported, then the run of `insitu cosim` on Verilator.
CHILD = r"""
import json, sys
import insitu.rtl
insitu.rtl.__path__[:] = [sys.argv[1]]
from insitu.sim import runner, training
over = json.loads(sys.argv[2])
host = over.pop("host", "stream")
busy_seed = over.pop("busy_seed", None)
params = training.with_data({"model": "iris", "samples": int(sys.argv[3]), "seed": 0, **over})
design = runner.Design(training.controller_config(params), host=host)
out = {}
try:
    bld = runner.build(design, "verilator")
except BaseException as e:
    print(json.dumps({"verdict": "build failed", "detail": str(e).splitlines()[0][:300]}))
    sys.exit(0)
run = {"task": "train", **params}
if busy_seed is not None:
    run["busy_seed"] = busy_seed
try:
    rtl = runner.run(bld, run)
except runner.ContractViolation as e:
    out = {"verdict": "contract", "detail": str(e).splitlines()[0][:300]}
except runner.CosimFailure as e:
    out = {"verdict": "simulation failed", "detail": str(e).splitlines()[0][:300]}
else:
    diffs = training.compare(training.golden_run(params), rtl)
    out = {"verdict": "different", "detail": diffs[0][:300]} if diffs else {"verdict": "identical"}
print(json.dumps(out))
"""


def run_one(name, file, old, new, over, samples, work: Path) -> dict:
    t0 = time.perf_counter()
    copy = work / "rtl"
    shutil.copytree(RTL, copy, ignore=shutil.ignore_patterns("__pycache__"))
    if new is not None:
        text = (copy / file).read_text()
        old, k = old if isinstance(old, tuple) else (old, None)
        n = text.count(old)
        if (k is None and n != 1) or (k is not None and k >= n):
            return {"name": name, "verdict": "not applied",
                    "detail": f"{file}: the original text occurs {n} times"}
        at = -1
        for _ in range((k or 0) + 1):
            at = text.index(old, at + 1)
        (copy / file).write_text(text[:at] + new + text[at + len(old):])
    env = {**os.environ, "INSITU_SIM_CACHE": str(work / "cache")}
    r = subprocess.run([sys.executable, "-c", CHILD, str(copy), json.dumps(over), str(samples)],
                       capture_output=True, text=True, env=env, timeout=1800)
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    try:
        res = json.loads(line)
    except json.JSONDecodeError:
        res = {"verdict": "simulation failed", "detail": (r.stderr.strip().splitlines() or
                                                          ["no output"])[-1][:300]}
    res.update(name=name, seconds=round(time.perf_counter() - t0, 1))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=20, help="training samples per run")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run side by side")
    ap.add_argument("--only", nargs="*", default=None, help="run only these mutants (names)")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m[0] in args.only]
    with tempfile.TemporaryDirectory(prefix="insitu-mutants-") as tmp:
        tmp = Path(tmp)
        # the unmutated design must be identical, with every run option the mutants use
        base = {}
        for over in {json.dumps(m[4], sort_keys=True) for m in chosen}:
            (tmp / f"base{len(base)}").mkdir()
            r = run_one("baseline", "", "", None, json.loads(over), args.samples,
                        tmp / f"base{len(base)}")
            base[over] = r
            print(f"baseline {over}: {r['verdict']} {r.get('detail', '')}", flush=True)

        def job(k_m):
            k, (name, file, old, new, over) = k_m
            b = base[json.dumps(over, sort_keys=True)]
            if b["verdict"] != "identical":  # nothing to compare a mutant of this run with
                return {"name": name, "verdict": "no baseline",
                        "detail": f"the unmutated run is {b['verdict']}: {b.get('detail', '')}"}
            (tmp / f"m{k}").mkdir()
            return run_one(name, file, old, new, dict(over), args.samples, tmp / f"m{k}")

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = []
            for r in pool.map(job, enumerate(chosen)):
                results.append(r)
                print(f"  {r['name']}: {r['verdict']}  {r.get('detail', '')}", flush=True)
    killed = [r for r in results if r["verdict"] in ("different", "contract", "simulation failed")]
    survivors = [r["name"] for r in results if r["verdict"] == "identical"]
    broken = [r["name"] for r in results
              if r["verdict"] in ("build failed", "not applied", "no baseline")]
    print(json.dumps({"total": len(results), "killed": len(killed), "survivors": survivors,
                      "not_run": broken,
                      "by_verdict": {v: sum(r["verdict"] == v for r in results)
                                     for v in sorted({r["verdict"] for r in results})}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
