"""The main job: train a 64-32-10 MLP on digits in situ and compare with float backprop.

RRAM is trained twice: with in-situ SGD, and with the best of the Tiki-Taka family
on it (AGAD, :mod:`insitu.golden.algorithms.tiki_taka`, its device-derived defaults
at the family's digits rate ``FAMILY_LR``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from insitu.golden import datasets
from insitu.golden.nn import CrossbarMLP
from insitu.golden.presets import PRESETS
from insitu.golden.algorithms.tiki_taka import TikiTaka, make_transfer_backend
from insitu.golden.train import FloatMLP, Trainer, make_backend

SIZES = (64, 32, 10)
FAMILY_DEVICE = "rram_oxide"
FAMILY_LR = 0.1  # the digits rate of insitu train, from which the family's defaults derive


def run_demo(*, epochs: int = 10, lr: float = 0.05, seed: int = 0, devices=("ecram_organic",
             "rram_oxide"), out_dir: str | Path = ".", progress: bool = True,
             plot: bool = True, family: str | None = "agad") -> dict:
    """Train on every device preset in ``devices`` plus the float baseline; save JSON + PNG.

    With ``family`` (a Tiki-Taka variant) and ``rram_oxide`` among the devices, RRAM is
    also trained with that algorithm (run ``"rram_oxide, <family>"``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = datasets.load("digits", seed=seed)
    results = {"network": "-".join(map(str, SIZES)), "dataset": "digits (scikit-learn, 8x8)",
               "train_samples": len(data.x_train), "test_samples": len(data.x_test),
               "epochs": epochs, "lr": lr, "seed": seed, "runs": {}}
    finals = {}
    targets = None
    for name in devices:
        dev = PRESETS[name]
        backend = make_backend("golden", SIZES, dev, seed=seed + 1)
        net = CrossbarMLP(backend, SIZES)
        t = net.init_weights(np.random.default_rng(seed + 2))
        targets = targets or t
        tr = Trainer(net, data, lr=lr, seed=seed + 3)
        t0 = time.perf_counter()
        hist = tr.run(epochs, progress=progress, desc=f"in situ, {name}")
        dt = time.perf_counter() - t0
        st = backend.stats
        results["runs"][name] = {
            "test_acc": hist.test_acc,
            "final_test_acc": hist.test_acc[-1] if hist.test_acc else None,
            "seconds": round(dt, 2),
            "pulses": st.pulses,
            "update_slots": st.update_slots,
            "adc_saturated": st.saturated,
            "write_verify_init": {"reads": st.program_reads, "pulses": st.program_pulses},
            "device": dev.to_dict(),
        }
        finals[name] = backend.conductances[0].copy()
    if family is not None and FAMILY_DEVICE in devices:
        name = f"{FAMILY_DEVICE}, {family}"
        dev = PRESETS[FAMILY_DEVICE]
        backend = make_transfer_backend("golden", SIZES, dev, seed=seed + 1)
        net = CrossbarMLP(backend, SIZES)
        net.init_weights(np.random.default_rng(seed + 2))
        init_pulses = backend.stats.pulses
        step = TikiTaka(net, variant=family, lr=FAMILY_LR, seed=seed)
        tr = Trainer(net, data, lr=lr, seed=seed + 3, step=step)
        t0 = time.perf_counter()
        hist = tr.run(epochs, progress=progress, desc=f"in situ, {name}")
        results["runs"][name] = {
            "test_acc": hist.test_acc,
            "final_test_acc": hist.test_acc[-1] if hist.test_acc else None,
            "seconds": round(time.perf_counter() - t0, 2),
            "pulses": backend.stats.pulses - init_pulses,
            "transfer_reads": step.counters["transfer_reads"],
            "algorithm": repr(step),
        }
    f = FloatMLP(targets)
    t0 = time.perf_counter()
    facc = f.train(data, epochs, lr, seed + 3)
    results["runs"]["float"] = {"test_acc": facc, "final_test_acc": facc[-1],
                                "seconds": round(time.perf_counter() - t0, 2)}
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    if plot:
        plot_demo(results, finals, out_dir / "demo.png")
    return results


def plot_demo(results: dict, conductances: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, run in results["runs"].items():
        acc = run["test_acc"]
        ax1.plot(range(1, len(acc) + 1), acc, marker="o", ms=3,
                 label=f"{name} ({acc[-1]:.1f}%)", ls="--" if name == "float" else "-")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title(f"{results['network']} on digits: in situ vs float backprop")
    ax1.grid(alpha=0.3)
    ax1.legend()
    for name, g in conductances.items():
        ax2.hist(g.ravel(), bins=60, alpha=0.6, label=name)
    ax2.set_xlabel("conductance (uS)")
    ax2.set_ylabel("devices")
    ax2.set_title("final conductances (G+ and G- of every pair)")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
