"""Fit your device from a measured curve, then train it with two algorithms and compare.

    python examples/fit_and_compare.py                       # the bundled ECRAM-like curve
    python examples/fit_and_compare.py my_curve.csv --family soft_bounds --epochs 10

The CSV is ``pulse,polarity,conductance_us`` (see the README). The fitted device is saved as
JSON next to the results, trained with plain in-situ backprop and with AGAD (the Tiki-Taka
family, for asymmetric devices) on the same device draw, and compared with float backprop of
the same network.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from insitu.golden.algorithms.runs import SIZES, RunOptions, build, load_dataset
from insitu.golden.fit import DATA_DIR, fit_csv
from insitu.golden.nn import CrossbarMLP
from insitu.golden.presets import ideal
from insitu.golden.train import FloatMLP, make_backend


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="?", default=str(DATA_DIR / "ecram_like.csv"))
    ap.add_argument("--family", default="soft_bounds",
                    help="device family to fit (default soft_bounds)")
    ap.add_argument("--dataset", default="digits", help="digits or iris (default digits)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--algos", default="backprop,agad",
                    help="comma-separated algorithms to compare (default backprop,agad)")
    ap.add_argument("--out", default="results/fit_and_compare")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    fit = fit_csv(args.csv, args.family)
    device_file = out / "device.json"
    fit.save(device_file)
    print(f"fit {args.family} to {args.csv}: RMS residual {fit.residual_rms:.3f} uS "
          f"({100 * fit.residual_relative:.1f}% of the range) -> {device_file}")

    results = {}
    for algo in args.algos.split(","):
        trainer, _ = build(RunOptions(algo=algo, device=str(device_file), dataset=args.dataset))
        h = trainer.run(args.epochs, progress=False)
        results[algo] = {"test_acc": h.test_acc, "pulses": trainer.net.backend.stats.pulses}
        print(f"  {algo:>8} on the fitted device: {h.test_acc[-1]:5.1f}% after {args.epochs} "
              f"epochs, {results[algo]['pulses']:,} device pulses")
    data = load_dataset(args.dataset)
    sizes = SIZES[args.dataset]
    start = CrossbarMLP(make_backend("ideal", sizes, ideal), sizes).init_weights(
        np.random.default_rng(0))
    results["float"] = {"test_acc": FloatMLP(start).train(data, args.epochs, 0.1, 0)}
    print(f"  {'float':>8} backprop (numpy):     {results['float']['test_acc'][-1]:5.1f}%")
    (out / "results.json").write_text(json.dumps({"fit": fit.to_dict(), "runs": results},
                                                 indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
