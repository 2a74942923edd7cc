"""Co-simulation speed: simulated clock cycles/s and training samples/s through RtlBackend.

For a 16x16 and a 64x16 controller (the iris 4-8-3 network on the first lines;
the other lines idle but elaborated), on Verilator and Icarus:

* ``*_cycles_per_s``: clock cycles per wall second while the unchanged training
  loop runs through ``RtlBackend`` (write-verify initialisation excluded);
* ``*_free_running_cycles_per_s``: the same Verilog, the same cocotb clock, no
  Python activity at all (the ceiling);
* ``*_samples_per_s``: training samples per second, next to
  ``golden_samples_per_s`` for the same run on ``GoldenBackend`` (numba engine);
* ``python_share``: the wall-time share not explained by the simulator
  (``1 - cycles / free_running_rate / wall``), i.e. Python: the training code,
  the bridge hand-offs and the analog model's wake-ups.

Builds are cached (the user's cache folder, ``insitu/sim``); the first run compiles four designs.
Prints one JSON object on its last line.

    python benchmarks/cosim_speed.py [--samples-verilator 200] [--samples-icarus 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from insitu.sim import runner, training

ARRAYS = {"16x16": (16, 16), "64x16": (64, 16)}


def measure(sim: str, array, samples: int, idle_cycles: int) -> dict:
    params = training.with_data({"model": "iris", "seed": 0, "samples": samples,
                                 "mode": "stochastic", "array": list(array)})
    bld = runner.build(runner.Design(training.controller_config(params)), sim)
    idle = runner.run(bld, {"task": "idle", "cycles": idle_cycles, **params})
    free = idle["cycles"] / idle["wall_s"]
    rtl = runner.run(bld, {"task": "train", **params})
    gold = training.golden_run(params)
    same = training.compare(gold, rtl) == []
    wall, cyc = rtl["train_wall_s"], rtl["train_cycles"]
    return {
        "cycles_per_s": cyc / wall,
        "free_running_cycles_per_s": free,
        "samples_per_s": samples / wall,
        "golden_samples_per_s": samples / gold["train_wall_s"],
        "python_share": max(0.0, 1.0 - (cyc / free) / wall),
        "cycles_per_sample": cyc / samples,
        "wakes_per_sample": rtl["train_wakes"] / samples,
        "bridge_calls_per_sample": (rtl["stats"]["forward_reads"] + rtl["stats"]["backward_reads"]
                                    + rtl["stats"]["updates"]) / samples,
        "identical_to_golden": same,
        # where the wall time of the training phase goes, per sample (ms)
        "ms_per_sample": {
            "total": 1e3 * wall / samples,
            "simulator_at_free_running_speed": 1e3 * cyc / free / samples,
            "training_code_in_thread": 1e3 * (wall - rtl["train_waiting_s"]) / samples,
            "analog_front_end_handlers": 1e3 * rtl["train_frontend_s"] / samples,
            "host_link_monitor": 1e3 * rtl["train_host_s"] / samples,
            "transactor_io": 1e3 * rtl["train_io_s"] / samples,
        },
        "build_s": bld.seconds,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples-verilator", type=int, default=200)
    ap.add_argument("--samples-icarus", type=int, default=30)
    a = ap.parse_args(argv)
    out = {"model": "iris 4-8-3, stochastic update", "per_array": {}}
    for name, arr in ARRAYS.items():
        row = {}
        for sim, n, idle in (("verilator", a.samples_verilator, 1_000_000),
                             ("icarus", a.samples_icarus, 100_000)):
            t = time.perf_counter()
            r = measure(sim, arr, n, idle)
            print(f"{name} {sim}: {r['cycles_per_s']:,.0f} cycles/s "
                  f"(free running {r['free_running_cycles_per_s']:,.0f}), "
                  f"{r['samples_per_s']:.1f} samples/s, python share {r['python_share']:.2f}, "
                  f"identical {r['identical_to_golden']} [{time.perf_counter() - t:.0f} s]",
                  file=sys.stderr, flush=True)
            row[sim] = r
        out["per_array"][name] = row
    main_row = out["per_array"]["16x16"]
    v, i = main_row["verilator"], main_row["icarus"]
    out.update(
        verilator_cycles_per_s=round(v["cycles_per_s"]),
        verilator_free_running_cycles_per_s=round(v["free_running_cycles_per_s"]),
        verilator_ratio=round(v["cycles_per_s"] / v["free_running_cycles_per_s"], 3),
        icarus_cycles_per_s=round(i["cycles_per_s"]),
        icarus_free_running_cycles_per_s=round(i["free_running_cycles_per_s"]),
        verilator_samples_per_s=round(v["samples_per_s"], 1),
        icarus_samples_per_s=round(i["samples_per_s"], 2),
        golden_samples_per_s=round(v["golden_samples_per_s"], 1),
        python_share=round(v["python_share"], 3),
        verilator_64x16_cycles_per_s=round(out["per_array"]["64x16"]["verilator"]["cycles_per_s"]),
        verilator_64x16_free_running_cycles_per_s=round(
            out["per_array"]["64x16"]["verilator"]["free_running_cycles_per_s"]),
        where_the_time_goes_16x16_verilator_ms_per_sample={
            k: round(x, 3) for k, x in v["ms_per_sample"].items()},
    )
    t = v["ms_per_sample"]
    t_rest = t["total"] - sum(x for k, x in t.items() if k != "total")
    out["where_the_time_goes_16x16_verilator_ms_per_sample"]["cocotb_scheduling_and_rest"] = \
        round(t_rest, 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
