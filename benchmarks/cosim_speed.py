"""Co-simulation speed: simulated clock cycles/s and training samples/s through RtlBackend.

For a 16x16 and a 64x16 controller (the iris 4-8-3 network on the first lines;
the other lines idle but elaborated), on Verilator and Icarus:

* ``*_cycles_per_s``: clock cycles per wall second while the unchanged training
  loop runs through ``RtlBackend`` (write-verify initialisation excluded);
* ``*_replay_cycles_per_s``: the free-running reference. The training run records its host
  traffic (every batch of request bytes and how many responses it waits for); a second run
  of the same Verilog replays exactly that traffic into the stream transactor from a
  minimal cocotb loop (one write and one wake per batch) with no analog front-end, no
  monitor, no scoreboard and no golden model attached. It simulates the same clock cycles
  (checked: ``same_cycles``) with the controller as busy as in training, so the ratio is the
  share of the wall time the simulator itself needs (an idle controller, ``*_idle_*``,
  simulates faster and flattered the Python share; it is kept for comparison);
* ``ratio_cpu`` / ``ratio_wall``: training speed over replay speed, by the process's CPU
  time (robust on a shared, loaded machine: it does not count time the process waited for
  a core) and by wall time;
* ``*_samples_per_s``: training samples per second, next to
  ``golden_samples_per_s`` for the same run on ``GoldenBackend`` (numba engine);
* ``ms_per_sample``: where the CPU time of the training phase goes (the parts measured with
  each thread's CPU clock);
* ``wakes_per_sample``: front-end wakes (the responses' wakes, one per batch, are
  ``batches_per_sample``).

Builds are cached (the user's cache folder, ``insitu/sim``); the first run compiles four designs.
Prints one JSON object on its last line.

    python benchmarks/cosim_speed.py [--samples-verilator 200] [--samples-icarus 30] [--repeats 5]

``--repeats N`` repeats each Verilator training run and its replay N times in turn and
reports the median ratio (the runs' ratios move by a few hundredths from run to run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from insitu.sim import runner, training

ARRAYS = {"16x16": (16, 16), "64x16": (64, 16)}


def measure(sim: str, array, samples: int, idle_cycles: int, repeats: int = 1) -> dict:
    """The figures of one simulator and array; with ``repeats`` > 1 the training run and its
    replay are repeated in turn and the figures are those of the repeat with the median
    ``ratio_cpu`` (every repeat's ratio in ``ratio_cpu_runs``; each must be identical)."""
    params = training.with_data({"model": "iris", "seed": 0, "samples": samples,
                                 "mode": "stochastic", "array": list(array)})
    bld = runner.build(runner.Design(training.controller_config(params)), sim)
    idle = runner.run(bld, {"task": "idle", "cycles": idle_cycles, **params})
    gold = training.golden_run(params)
    runs = []
    for _ in range(repeats):
        rtl = runner.run(bld, {"task": "train", "record_traffic": True, **params})
        rep = runner.run(bld, {"task": "replay", "traffic": rtl.pop("traffic"), **params})
        ratio = ((rtl["train_cycles"] / rtl["train_cpu_s"])
                 / (rep["replay_cycles"] / rep["replay_cpu_s"]))
        runs.append((ratio, training.compare(gold, rtl) == [], rtl, rep))
    ratios = [r[0] for r in runs]
    _, _, rtl, rep = sorted(runs, key=lambda r: r[0])[(len(runs) - 1) // 2]
    same = all(r[1] for r in runs)
    wall, cpu, cyc = rtl["train_wall_s"], rtl["train_cpu_s"], rtl["train_cycles"]
    rwall, rcpu = rep["replay_wall_s"], rep["replay_cpu_s"]
    thread = rtl["train_thread_cpu_s"]  # the training thread's own CPU time
    handlers = rtl["train_frontend_s"] + rtl["train_host_s"] + rtl["train_io_s"]
    return {
        "cycles_per_s": cyc / wall,
        "cpu_cycles_per_s": cyc / cpu,
        "replay_cycles_per_s": rep["replay_cycles"] / rwall,
        "replay_cpu_cycles_per_s": rep["replay_cycles"] / rcpu,
        "same_cycles": rep["replay_cycles"] == cyc,
        "ratio_cpu": (cyc / cpu) / (rep["replay_cycles"] / rcpu),
        "ratio_cpu_runs": ratios,
        "ratio_wall": (cyc / wall) / (rep["replay_cycles"] / rwall),
        "idle_cycles_per_s": idle["cycles"] / idle["wall_s"],
        "samples_per_s": samples / wall,
        "golden_samples_per_s": samples / gold["train_wall_s"],
        "cycles_per_sample": cyc / samples,
        "wakes_per_sample": rtl["train_wakes"] / samples,
        "batches_per_sample": rtl["train_calls"] / samples,
        "identical_to_golden": same,
        # where the CPU time of the training phase goes, per sample (ms)
        "ms_per_sample": {
            "total_cpu": 1e3 * cpu / samples,
            "simulator_as_in_replay": 1e3 * rcpu / samples,
            "training_code_in_thread": 1e3 * thread / samples,
            # these three are the CPU time of the simulator thread in them (thread_time, robust
            # on a loaded machine); the front-end's wakes (conversions the monitor did not
            # preload, long bursts), the host-link monitor with the reads it preloads and the
            # bursts it takes at the responses, the transactor's batch writes and captures
            "analog_front_end_wakes": 1e3 * rtl["train_frontend_s"] / samples,
            "host_link_monitor": 1e3 * rtl["train_host_s"] / samples,
            "transactor_io": 1e3 * rtl["train_io_s"] / samples,
            # the rest: thread hand-offs (bridge/resume) and cocotb's scheduling of triggers,
            # less the replay's own per-batch Python (it is inside the replay's CPU time)
            "handoffs_and_scheduling": 1e3 * (cpu - rcpu - thread - handlers) / samples,
        },
        "build_s": bld.seconds,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples-verilator", type=int, default=200)
    ap.add_argument("--samples-icarus", type=int, default=30)
    ap.add_argument("--sims", nargs="+", default=["verilator", "icarus"],
                    choices=["verilator", "icarus"], help="simulators to measure")
    ap.add_argument("--repeats", type=int, default=1,
                    help="training runs and replays per size and simulator (the median ratio)")
    a = ap.parse_args(argv)
    if a.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {a.repeats}")
    out = {"model": "iris 4-8-3, stochastic update", "per_array": {}}
    for name, arr in ARRAYS.items():
        row = {}
        for sim, n, idle in (("verilator", a.samples_verilator, 1_000_000),
                             ("icarus", a.samples_icarus, 100_000)):
            if sim not in a.sims:
                continue
            t = time.perf_counter()
            r = measure(sim, arr, n, idle, a.repeats if sim == "verilator" else 1)
            print(f"{name} {sim}: {r['cycles_per_s']:,.0f} cycles/s "
                  f"(replay {r['replay_cycles_per_s']:,.0f}, idle {r['idle_cycles_per_s']:,.0f}),"
                  f" ratio cpu {r['ratio_cpu']:.2f} wall {r['ratio_wall']:.2f}, "
                  f"{r['samples_per_s']:.1f} samples/s, identical {r['identical_to_golden']} "
                  f"[{time.perf_counter() - t:.0f} s]", file=sys.stderr, flush=True)
            row[sim] = r
        out["per_array"][name] = row
    v = out["per_array"]["16x16"]["verilator"]
    v64 = out["per_array"]["64x16"]["verilator"]
    out.update(
        reference="replay of the recorded training traffic, no Python model attached",
        target_ratio=0.7,
        verilator_cycles_per_s=round(v["cycles_per_s"]),
        verilator_replay_cycles_per_s=round(v["replay_cycles_per_s"]),
        verilator_idle_cycles_per_s=round(v["idle_cycles_per_s"]),
        verilator_ratio_cpu=round(v["ratio_cpu"], 3),
        verilator_ratio_wall=round(v["ratio_wall"], 3),
        verilator_64x16_ratio_cpu=round(v64["ratio_cpu"], 3),
        verilator_ratio_cpu_runs=[round(x, 3) for x in v["ratio_cpu_runs"]],
        verilator_64x16_ratio_cpu_runs=[round(x, 3) for x in v64["ratio_cpu_runs"]],
        verilator_samples_per_s=round(v["samples_per_s"], 1),
        golden_samples_per_s=round(v["golden_samples_per_s"], 1),
        same_cycles=all(r["same_cycles"] for row in out["per_array"].values()
                        for r in row.values()),
        where_the_time_goes_16x16_verilator_ms_per_sample={
            k: round(x, 3) for k, x in v["ms_per_sample"].items()},
    )
    if "icarus" in out["per_array"]["16x16"]:
        i = out["per_array"]["16x16"]["icarus"]
        out.update(icarus_ratio_cpu=round(i["ratio_cpu"], 3),
                   icarus_cycles_per_s=round(i["cycles_per_s"]),
                   icarus_replay_cycles_per_s=round(i["replay_cycles_per_s"]),
                   icarus_samples_per_s=round(i["samples_per_s"], 2))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
