"""``insitu cosim``: train through the generated Verilog and compare with the golden model.

Examples::

    insitu cosim --sim verilator --model iris --samples 200
    insitu cosim --sim icarus --model digits-small --samples 50 --mode stochastic --waves
    insitu cosim --snn --samples 3      # spiking, the chip's neurons in the analog front-end

The controller for the model's array is elaborated to Verilog, wrapped in the
co-simulation harness and compiled (cached in the user's cache folder,
``insitu/sim``; ``--rebuild`` empties it); the unchanged
training loop then runs on ``RtlBackend`` inside cocotb, and the same run on
the golden model (same seed, numba engine). The command ends with the
comparison: identical ADC codes, pulse bursts and final conductances, or the
first step where they differ with both values.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "cosim",
        help="run training through the controller's Verilog (cocotb) and compare with the golden model",
        description="Co-simulate: the unchanged training loop drives the generated controller "
        "Verilog on Verilator or Icarus, with the golden device physics behind its analog port; "
        "then the same run on the golden model is compared step by step.",
    )
    p.add_argument("--sim", default="verilator", metavar="verilator|icarus",
                   help="HDL simulator (default verilator; Icarus is about 20x slower)")
    p.add_argument("--model", default="iris", metavar="iris|digits-small|digits",
                   help="network and dataset: iris 4-8-3, or digits-small (8x8 digits pooled to "
                        "4x4) 16-12-10, or digits 64-32-10 (default iris)")
    p.add_argument("--samples", default="200", metavar="N",
                   help="training samples to run (default 200)")
    p.add_argument("--seed", default="0", metavar="N",
                   help="seed of devices, initial weights and sample order (default 0)")
    p.add_argument("--mode", default="deterministic", metavar="deterministic|stochastic",
                   help="pulse update: deterministic counts (with LFSR dither) or stochastic "
                        "pulse coincidence (default deterministic)")
    p.add_argument("--algorithm", default="backprop", metavar="backprop|pgd",
                   help="per-sample step: backpropagation, or progressive gradient descent "
                        "(each layer updated in situ before the error is read back through "
                        "it; default backprop)")
    p.add_argument("--device", default="ecram_organic", metavar="PRESET",
                   help="device preset behind the analog port (default ecram_organic)")
    p.add_argument("--waves", action="store_true",
                   help="record waveforms (FST on Icarus, VCD on Verilator); a separate build")
    p.add_argument("--on-chip", action="store_true", dest="on_chip",
                   help="train on the controller's trainer engine instead: TRAIN per training "
                        "sample, then INFER per test sample (--tests), compared with the golden "
                        "on-chip reference (insitu.golden.onchip); --mode and --algorithm do "
                        "not apply (the engine's own PGD)")
    p.add_argument("--tests", default="30", metavar="N",
                   help="with --on-chip: test samples through INFER (default 30)")
    p.add_argument("--no-waveform-monitor", action="store_false", dest="waveform_monitor",
                   help="an experiment: ignore the waveform monitor's verdict (a timing fault "
                        "must then show as a difference: the front-end scales the device "
                        "physics by every pulse's width as driven)")
    p.add_argument("--rebuild", action="store_true",
                   help="empty the simulation build cache (in the user's cache folder) first")
    p.add_argument("--snn", action="store_true",
                   help="a spiking run instead: a 5-8-3 Yin-Yang network trained in the loop "
                        "(surrogate gradients, neuron spread 30 %%) with the LIF neurons in the "
                        "analog front-end, --samples samples (--model, --mode, --algorithm unused)")
    p.set_defaults(run=run)


def _int(name, v, lo, hi) -> int:
    try:
        i = int(v)
    except (TypeError, ValueError):
        raise ValueError(f"--{name} must be an integer in [{lo}, {hi}], got {v!r}") from None
    if not lo <= i <= hi:
        raise ValueError(f"--{name} must be an integer in [{lo}, {hi}], got {i}")
    return i


def _choice(name, v, choices) -> str:
    if v not in choices:
        raise ValueError(f"--{name} must be one of {', '.join(choices)}, got {v!r}")
    return v


def run(args) -> int:
    from insitu.golden.presets import PRESETS
    from insitu.sim import runner, training

    sim = _choice("sim", args.sim, runner.SIMULATORS)
    model = _choice("model", args.model, tuple(training.MODELS))
    samples = _int("samples", args.samples, 1, 100000)
    seed = _int("seed", args.seed, 0, 2**31 - 1)
    mode = _choice("mode", args.mode, training.MODES)
    device = _choice("device", args.device, tuple(PRESETS))
    algorithm = _choice("algorithm", args.algorithm, training.ALGORITHMS)
    if getattr(args, "on_chip", False) and getattr(args, "snn", False):
        raise ValueError("--on-chip and --snn are two different runs: give one of them")
    if getattr(args, "on_chip", False):
        tests = _int("tests", args.tests, 1, 100000)
        return _run_onchip(args, sim, model, samples, tests, seed, device)
    if getattr(args, "snn", False):
        return _run_snn(args, sim, _int("samples", args.samples, 1, 1000), seed, device)
    params = training.with_data({"model": model, "samples": samples, "seed": seed, "mode": mode,
                                 "device": device, "algorithm": algorithm})
    if not getattr(args, "waveform_monitor", True):
        params["waveform_monitor"] = False
    cfg = training.controller_config(params)
    design = runner.Design(cfg)
    print(f"cosim: {model} on a {cfg.rows}x{cfg.cols} controller, {samples} samples, {algorithm}, "
          f"{mode}, {sim}", flush=True)
    t0 = time.perf_counter()
    bld = _build(args, design, sim)
    if bld is None:
        return 2

    # unique per run: two runs may start in the same millisecond once a shared build is done
    test_dir = bld.directory / "runs" / f"cli-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"
    progress = test_dir / "progress.txt"
    params["progress_file"] = str(progress)
    stop = threading.Event()

    def show():
        last = ""
        while not stop.wait(0.5):
            try:
                text = progress.read_text().strip()
            except FileNotFoundError:
                continue
            if text and text != last:
                last = text
                print(f"\r  rtl: {text}", end="", file=sys.stderr, flush=True)

    t = threading.Thread(target=show, daemon=True)
    t.start()
    t1 = time.perf_counter()
    try:
        rtl = runner.run(bld, {"task": "train", **params}, test_dir=test_dir)
    except runner.ContractViolation as e:  # the RTL broke the contract: like a mismatch
        stop.set()
        print(file=sys.stderr)
        print(f"VIOLATION of the contract: {_first_line(e)}")
        return 1
    except runner.CosimFailure as e:
        stop.set()
        print(file=sys.stderr)
        print(f"insitu cosim: error: {_first_line(e)}", file=sys.stderr)
        return 2
    finally:
        stop.set()
        t.join()
        print(file=sys.stderr)
    sim_s = time.perf_counter() - t1
    print(f"  rtl run: {sim_s:.1f} s, {rtl['cycles']} clock cycles "
          f"({rtl['train_cycles'] / max(rtl['train_wall_s'], 1e-9):,.0f} cycles/s and "
          f"{samples / max(rtl['train_wall_s'], 1e-9):.1f} samples/s while training)", flush=True)
    if args.waves:
        print(f"  waves: {runner.waves_file(bld, test_dir)}")
    else:
        import shutil

        shutil.rmtree(test_dir, ignore_errors=True)
    t2 = time.perf_counter()
    gold = training.golden_run(params)
    print(f"  golden run: {time.perf_counter() - t2:.1f} s", flush=True)
    diffs = training.compare(gold, rtl)
    acc = rtl["test_acc"][-1] if rtl["test_acc"] else None
    if not diffs:
        print(f"identical: {len(rtl['reads'])} ADC reads, {len(rtl['bursts'])} pulse bursts "
              f"({rtl['stats']['updates']} updates, {rtl['stats']['program_reads']} write-verify "
              f"reads) and the final conductances match the golden model"
              + (f"; test accuracy {acc:.1f}%" if acc is not None else "")
              + f" [{time.perf_counter() - t0:.0f} s]")
        return 0
    return _report_difference(diffs, "the golden model")


def _run_onchip(args, sim, model, samples, tests, seed, device) -> int:
    """``--on-chip``: the trainer engine's TRAIN / INFER against the golden on-chip step."""
    from insitu.golden.onchip import OnChipConfig
    from insitu.sim import onchip, runner

    params = onchip.with_data({"model": model, "samples": samples, "tests": tests, "seed": seed,
                               "device": device})
    cfg = onchip.controller_config(params)
    design = runner.Design(cfg, trainer=OnChipConfig(**params["onchip"]))
    print(f"cosim --on-chip: {model} on a {cfg.rows}x{cfg.cols} controller with the trainer "
          f"engine, {samples} TRAIN + {tests} INFER, {sim}", flush=True)
    t0 = time.perf_counter()
    bld = _build(args, design, sim)
    if bld is None:
        return 2
    test_dir = bld.directory / "runs" / f"cli-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"
    rtl, code = _run_rtl(bld, {"task": "onchip", **params}, test_dir)
    if rtl is None:
        return code
    if args.waves:
        print(f"  waves: {runner.waves_file(bld, test_dir)}")
    else:
        import shutil

        shutil.rmtree(test_dir, ignore_errors=True)
    print(f"  rtl run: {rtl['wall_s']:.1f} s, {rtl['cycles_per_sample']:.0f} clock cycles per "
          f"TRAIN (streamed; trainer busy {100 * rtl['trainer_busy_fraction']:.1f}% of them), "
          f"{rtl['cycles_per_inference']:.0f} per INFER", flush=True)
    gold = onchip.golden_onchip(params)
    diffs = onchip.compare_onchip(gold, rtl)
    if not diffs:
        print(f"identical: {len(rtl['events'])} ADC conversions, {len(rtl['bursts'])} pulse "
              f"bursts, {samples} TRAIN and {tests} INFER answers and the final conductances "
              f"match the golden on-chip reference; test accuracy {100 * rtl['test_acc']:.1f}% "
              f"[{time.perf_counter() - t0:.0f} s]")
        return 0
    return _report_difference(diffs, "the golden on-chip reference")


def _build(args, design, sim: str):
    """Empty the cache if ``--rebuild``, then build (or find cached) ``design`` for ``sim``
    and say which; None after printing the one-line error when the build fails."""
    from insitu.sim import runner

    if args.rebuild:
        n = runner.clear_cache()
        print(f"  cache: {n} build(s) removed from {runner.cache_root()}", flush=True)
    try:
        bld = runner.build(design, sim, waves=bool(args.waves))
    except (runner.SimulatorMissing, OSError, subprocess.CalledProcessError, SystemExit) as e:
        # cocotb's runner exits when the compiler fails; its log is in the build folder
        print(f"insitu cosim: error: {sim} build failed: {_first_line(e)}", file=sys.stderr)
        return None
    print(f"  build: {'cached' if bld.seconds == 0 else f'{bld.seconds:.1f} s'} ({bld.directory})",
          flush=True)
    return bld


def _run_rtl(bld, params: dict, test_dir=None):
    """(results, None) of one co-simulation run, or (None, exit code) after its one line: 1
    when the RTL broke the contract (like a mismatch), 2 when the simulation failed."""
    from insitu.sim import runner

    try:
        return runner.run(bld, params, test_dir=test_dir), None
    except runner.ContractViolation as e:
        print(f"VIOLATION of the contract: {_first_line(e)}")
        return None, 1
    except runner.CosimFailure as e:
        print(f"insitu cosim: error: {_first_line(e)}", file=sys.stderr)
        return None, 2


def _report_difference(diffs: list, reference: str) -> int:
    """The first difference from ``reference`` and how many more; exit code 1."""
    more = f" (and {len(diffs) - 1} more differences)" if len(diffs) > 1 else ""
    print(f"DIFFERENT from {reference} at {diffs[0]}{more}")
    return 1


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    if isinstance(e, SystemExit):
        text = f"the simulator's build exited with status {e.code}"
    return text.splitlines()[0]


def _run_snn(args, sim: str, samples: int, seed: int, device: str) -> int:
    """``--snn``: the spiking run of :mod:`insitu.sim.snn_training` on ``sim`` and on the
    golden model, compared read by read (readout words), burst by burst and conductance by
    conductance."""
    from insitu.sim import runner, snn_training, training

    params = snn_training.with_snn_data({"samples": samples, "seed": seed, "device": device})
    cfg = snn_training.snn_config(params)
    print(f"cosim: spiking {snn_training.sizes_of(params)} (Yin-Yang) on a {cfg.rows}x{cfg.cols} "
          f"controller, {samples} samples in the loop, neurons in the front-end, {sim}",
          flush=True)
    t0 = time.perf_counter()
    bld = _build(args, runner.Design(cfg), sim)
    if bld is None:
        return 2
    rtl, code = _run_rtl(bld, {"task": "snn", **params})
    if rtl is None:
        return code
    print(f"  rtl run: {rtl['wall_s']:.1f} s, {rtl['cycles']} clock cycles", flush=True)
    gold = snn_training.golden_snn_run(params)
    diffs = training.compare(gold, rtl)
    if gold["predictions"] != rtl["predictions"]:
        diffs.append(f"predictions: golden {gold['predictions']}, rtl {rtl['predictions']}")
    if not diffs:
        windows = snn_training.stage_for(params, cfg).windows
        print(f"identical: {len(rtl['reads'])} neuron reads (membrane codes and "
              f"{snn_training.spikes_in(rtl['reads'], windows)} spikes), {len(rtl['bursts'])} "
              f"pulse bursts ({rtl['pulse_updates']} in-the-loop updates) and the final "
              f"conductances match the golden model [{time.perf_counter() - t0:.0f} s]")
        return 0
    return _report_difference(diffs, "the golden model")
