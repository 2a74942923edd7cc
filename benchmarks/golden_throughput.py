"""Golden-model training throughput: in-situ per-sample SGD vs float numpy SGD.

64-32-10 MLP on scikit-learn's digits, batch 1, through ``GoldenBackend`` with
the ``ecram_organic`` preset and 8-bit DAC / 10-bit ADC quantisation, read
noise, cycle-to-cycle noise and device-to-device variation on: every pulse's
effect on every device is modelled (the n-pulse closed form per update
command). Also a Monte-Carlo mode: K=32 independent device draws trained in
one vectorised run against 32 separate runs, all on one core
(``montecarlo_speedup``; every trainer is built and write-verify initialised
before its clock starts, so the figure compares training only), and the vectorised run again with its instances on
numba's threads (``montecarlo_speedup_threaded``, ``GoldenBackend(threads=True)``;
meaningful only on idle cores).

Usage: python benchmarks/golden_throughput.py [--epochs 3] [--mc-samples 400]
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from insitu.golden import datasets
from insitu.golden.nn import CrossbarMLP
from insitu.golden.presets import ecram_organic
from insitu.golden.train import FloatMLP, Trainer, make_backend

SIZES = (64, 32, 10)
LR = 0.05


def make_trainer(data, instances=1, seed=1, engine="auto", threads=False):
    from insitu.golden.backends import GoldenBackend
    from insitu.golden.nn import layout_config

    b = GoldenBackend(layout_config(SIZES), ecram_organic, instances=instances, seed=seed,
                      engine=engine, threads=threads)
    net = CrossbarMLP(b, SIZES)
    targets = net.init_weights(np.random.default_rng(seed + 1))
    tr = Trainer(net, data, lr=LR, seed=seed + 2)
    tr.evaluate = lambda x, y: np.zeros(instances)  # time training only
    return tr, targets


def time_training(tr, samples: int) -> float:
    n = len(tr.data.x_train)
    t0 = time.perf_counter()
    tr.run(epochs=(samples + n - 1) // n, progress=False, stop_after=samples)
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs timed (default 3)")
    ap.add_argument("--mc-samples", type=int, default=400,
                    help="samples per run in the Monte-Carlo comparison (default 400)")
    ap.add_argument("--engine", default="auto", choices=["auto", "numba", "numpy"],
                    help="golden-model engine (default auto)")
    args = ap.parse_args(argv)
    data = datasets.load("digits", seed=0)
    n = len(data.x_train)

    # warm up compiled kernels, serial and threaded (first call compiles or loads the cache)
    for k, threads in ((1, False), (32, False), (32, True)):
        tr, targets = make_trainer(data, instances=k, engine=args.engine, threads=threads)
        time_training(tr, 50)

    tr, targets = make_trainer(data, engine=args.engine)
    samples = args.epochs * n
    dt = time_training(tr, samples)
    golden_sps = samples / dt
    stats = tr.net.backend.stats

    f = FloatMLP(targets)
    rng = np.random.default_rng(3)
    eye = np.eye(10)
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        for i in rng.permutation(n):
            f.step(data.x_train[i], eye[data.y_train[i]], LR)
    float_sps = samples / (time.perf_counter() - t0)

    # Monte Carlo: every trainer is built and write-verify initialised before its clock
    # starts, so both sides time training only (construction is reported on its own)
    m = args.mc_samples
    t0 = time.perf_counter()
    separate = [make_trainer(data, instances=1, seed=100 + k, engine=args.engine)[0]
                for k in range(32)]
    t_build_separate = time.perf_counter() - t0
    t0 = time.perf_counter()
    trk, _ = make_trainer(data, instances=32, seed=100, engine=args.engine)
    t_build_vector = time.perf_counter() - t0
    trt, _ = make_trainer(data, instances=32, seed=100, engine=args.engine, threads=True)
    t_separate = sum(time_training(tr1, m) for tr1 in separate)
    t_vector = time_training(trk, m)
    t_threaded = time_training(trt, m)

    threads = 1
    if trt.net.backend._apply_rank1 is not trk.net.backend._apply_rank1:
        import numba

        threads = numba.get_num_threads()
    out = {
        "network": "64-32-10 digits, batch 1, ecram_organic, 8-bit DAC, 10-bit ADC",
        "engine": tr.net.backend.engine,
        "samples_timed": samples,
        "samples_per_s": round(golden_sps, 1),
        "float_samples_per_s": round(float_sps, 1),
        "ratio": round(float_sps / golden_sps, 3),
        "device_updates_per_s": round(stats.pulses / dt, 1),
        "pulses_per_sample": round(stats.pulses / samples, 1),
        "montecarlo_k": 32,
        "montecarlo_separate_s": round(t_separate, 3),
        "montecarlo_vectorised_s": round(t_vector, 3),
        "montecarlo_speedup": round(t_separate / t_vector, 2),
        "montecarlo_build_separate_s": round(t_build_separate, 3),
        "montecarlo_build_vectorised_s": round(t_build_vector, 3),
        "montecarlo_threaded_s": round(t_threaded, 3),
        "montecarlo_speedup_threaded": round(t_separate / t_threaded, 2),
        "montecarlo_threads": threads,
        "targets": {"samples_per_s": ">= 10000", "ratio": "<= 3", "montecarlo_speedup": ">= 8"},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
