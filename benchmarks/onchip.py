"""The on-chip trainer's fixed-point spec against host-side float PGD, and what each
fixed-point choice costs.

64-32-10 MLP on digits, per sample, organic ECRAM (``ecram_organic``), ``--draws`` device
draws trained side by side, ``--epochs`` epochs at lr 0.1; accuracy = the mean over the draws of
the last three epochs' test accuracy. ``host_pgd_acc``: :class:`~insitu.golden.algorithms.pgd.PGD`
on :class:`~insitu.golden.nn.CrossbarMLP` (float activations, softmax, abs-max scaling);
``onchip_acc``: :class:`~insitu.golden.onchip.OnChipTrainer` with its defaults (8-bit tables,
leading-one shifts, sigmoid); ``ablation`` the same with one choice changed at a time.

The controller-side figures of this benchmark (cycles per sample, link bytes, board samples/s)
come with the trainer engine in the RTL; this version measures the golden spec.

Usage: python benchmarks/onchip.py [--epochs 20] [--draws 4] [--quick]
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from insitu.golden import datasets
from insitu.golden.algorithms.pgd import PGD
from insitu.golden.algorithms.runs import RunTrainer
from insitu.golden.nn import CrossbarMLP
from insitu.golden.onchip import OnChipConfig, OnChipTrainer
from insitu.golden.presets import ecram_organic
from insitu.golden.train import Trainer, make_backend

SIZES = (64, 32, 10)
LR = 0.1
ABLATIONS = {
    "table_bits=6": {"table_bits": 6},
    "table_bits=10": {"table_bits": 10},
    "z_range=4": {"z_range": 4.0},
    "mult_bits=10": {"mult_bits": 10},
    "hard_sigmoid": {"activation": "hard_sigmoid"},
    "backprop order": {"algorithm": "backprop"},
}


def last3(history) -> float:
    return float(np.mean(history.test_acc[-3:]))


def run(data, epochs, draws, seed, onchip: dict | None):
    be = make_backend("golden", SIZES, ecram_organic, seed=seed, instances=draws)
    net = CrossbarMLP(be, SIZES)
    net.init_weights(np.random.default_rng(seed))
    if onchip is None:
        tr = Trainer(net, data, lr=LR, seed=seed, step=PGD())
    else:
        step = OnChipTrainer(OnChipConfig(lr=LR, **onchip))
        tr = RunTrainer(net, data, lr=LR, seed=seed, step=step, predictor=step.predict)
    t0 = time.perf_counter()
    h = tr.run(epochs, progress=False)
    return h, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="no ablations")
    args = ap.parse_args(argv)
    data = datasets.load("digits", seed=0)
    out = {"epochs": args.epochs, "draws": args.draws}
    h, s = run(data, args.epochs, args.draws, args.seed, None)
    out["host_pgd_acc"] = round(last3(h), 2)
    print(f"host float PGD: {out['host_pgd_acc']}% ({s:.0f} s)", flush=True)
    h, s = run(data, args.epochs, args.draws, args.seed, {})
    out["onchip_acc"] = round(last3(h), 2)
    out["onchip_minus_host"] = round(out["onchip_acc"] - out["host_pgd_acc"], 2)
    print(f"on-chip fixed point: {out['onchip_acc']}% ({s:.0f} s)", flush=True)
    if not args.quick:
        out["ablation"] = {}
        for name, kw in ABLATIONS.items():
            h, s = run(data, args.epochs, args.draws, args.seed, kw)
            out["ablation"][name] = round(last3(h), 2)
            print(f"  {name}: {out['ablation'][name]}% ({s:.0f} s)", flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
