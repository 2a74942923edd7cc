"""Reproduction section: devices that train badly with SGD, and the Tiki-Taka family.

    python benchmarks/reproduce_tiki_taka.py --quick     # 2 draws, the headline runs only
    python benchmarks/reproduce_tiki_taka.py             # 4 device draws

Per-sample 64-32-10 on digits, 10 epochs (also in quick mode), learning rate 0.1,
mean of the last 3 epochs over the device draws, for in-situ SGD (backprop),
mixed precision, TTv2, c-TTv2 and AGAD on ``rram_oxide``, the ReRAM
exponential-step preset (``reram_es``) and the metal-oxide ECRAM preset
(``ecram_mo``), next to float backprop from the same initial weights. Costs per
sample: device pulses of the training updates, transfer reads (one-hot reads of
A), digital buffer operations (element updates of H or of the mixed-precision
accumulator) and all array reads.

The weight scale (``--weight-scale auto``, :func:`insitu.golden.nn.weight_scales`):
iris (4-8-3, organic ECRAM) with PGD and in-situ backprop, with and without the
scale; the chip-in-the-loop Yin-Yang experiment redone at that scale (software
ideal with each layer's weights bounded by ``alpha_l`` instead of 1, transferred
by write-verify under strong DAC/ADC/device mismatch, then trained in the loop).

Writes ``docs/reproductions/tiki-taka.md`` (its own page) and prints one JSON
object (the headline keys) as the last line. :func:`tiki_taka_experiment` is
what ``benchmarks/reproduce.py`` calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from insitu.golden.algorithms.runs import RunOptions, build, load_dataset
from insitu.golden.nn import weight_scales
from insitu.golden.train import FloatMLP

ROOT = Path(__file__).resolve().parent.parent
DEVICES = ("rram_oxide", "reram_es", "ecram_mo")
ALGOS = (("sgd", "backprop"), ("mp", "mixed-precision"), ("ttv2", "ttv2"),
         ("cttv2", "cttv2"), ("agad", "agad"))
SIZES = (64, 32, 10)
LR = 0.1


def _initial_weights(seed: int):
    """The targets :meth:`CrossbarMLP.init_weights` draws for ``seed`` (same order)."""
    rng = np.random.default_rng(seed)
    out = []
    for fi, fo in zip(SIZES[:-1], SIZES[1:]):
        a = 1.0 / np.sqrt(fi + 1)
        out.append(rng.uniform(-a, a, size=(fi + 1, fo)))
    return out


def run_one(algo: str, device: str, epochs: int, instances: int, seed: int) -> dict:
    t0 = time.time()
    tr, step = build(RunOptions(algo=algo, device=device, dataset="digits", lr=LR, seed=seed,
                                instances=instances))
    be = tr.net.backend
    init = be.stats.to_dict()
    h = tr.run(epochs, progress=False)
    st = be.stats.to_dict()
    samples = epochs * len(tr.data.x_train)
    c = getattr(step, "counters", {})
    K = instances
    return {
        "test_acc": h.test_acc,
        "test_acc_per_instance": h.test_acc_per_instance,
        "last3": float(np.mean(h.test_acc[-3:])),
        "pulses_per_sample": (st["pulses"] - init["pulses"]) / (K * samples),
        "transfer_reads_per_sample": c.get("transfer_reads", 0) / samples,
        "buffer_ops_per_sample": c.get("buffer_ops", 0) / samples,
        "array_reads_per_sample": (st["forward_reads"] + st["backward_reads"]
                                   - init["forward_reads"] - init["backward_reads"]) / samples,
        "update_commands_per_sample": (st["updates"] - init["updates"]) / samples,
        "seconds": round(time.time() - t0, 1),
        "algorithm": repr(step) if step is not None else "backprop",
    }


#: ``--quick``: only the runs behind the headline keys (still 10 epochs)
QUICK_RUNS = {"rram_oxide": ("sgd", "mp", "ttv2", "cttv2", "agad"),
              "reram_es": ("sgd", "cttv2", "agad")}


def tiki_taka_experiment(epochs: int = 10, instances: int = 4, seed: int = 0, log=print,
                         runs: dict | None = None) -> dict:
    """All of :data:`ALGOS` on all of :data:`DEVICES`, or only ``runs`` (device -> keys)."""
    d = load_dataset("digits", seed)
    f = FloatMLP(_initial_weights(seed)).train(d, epochs, LR, seed)
    res = {"epochs": epochs, "instances": instances, "lr": LR, "sizes": list(SIZES),
           "float": {"test_acc": f, "last3": float(np.mean(f[-3:]))}, "runs": {}}
    log(f"  float backprop: {res['float']['last3']:.1f}")
    for dev in DEVICES if runs is None else tuple(runs):
        res["runs"][dev] = {}
        for key, algo in ALGOS:
            if runs is not None and key not in runs[dev]:
                continue
            r = run_one(algo, dev, epochs, instances, seed)
            res["runs"][dev][key] = r
            log(f"  {dev} {key}: last 3 {r['last3']:.1f} ({r['seconds']} s)")
    return res


def scale_experiment(iris_epochs: int, sw_epochs: int, loop_epochs: int, instances: int,
                     seed: int = 0, log=print) -> dict:
    out = {"iris": {"epochs": iris_epochs, "instances": instances, "device": "ecram_organic"}}
    for algo in ("pgd", "backprop"):
        for ws in (None, "auto"):
            tr, _ = build(RunOptions(algo=algo, dataset="iris", seed=seed, instances=instances,
                                     weight_scale=ws))
            h = tr.run(iris_epochs, progress=False)
            key = f"{algo}{'_scaled' if ws else ''}"
            out["iris"][key] = {"test_acc": h.test_acc, "last3": float(np.mean(h.test_acc[-3:])),
                                "alpha": tr.net.alpha}
            log(f"  iris {key}: {out['iris'][key]['last3']:.1f}")
    # Yin-Yang in the loop at the scale (the setting of reproduce.py's in-the-loop section)
    d = load_dataset("yinyang", seed=0)
    sizes, lr = (4, 30, 3), 0.03
    alpha = weight_scales("auto", sizes[:-1])
    rng = np.random.default_rng(seed)
    w0 = []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        a = 2.0 / np.sqrt(fi + 1)
        w0.append(rng.uniform(-a, a, size=(fi + 1, fo)))
    f = FloatMLP(w0)
    eye = np.eye(d.classes)
    sw = []
    for e in range(sw_epochs):
        rate = lr if e < sw_epochs - max(1, sw_epochs // 4) else lr / 3
        for i in rng.permutation(len(d.x_train)):
            f.step(d.x_train[i], eye[d.y_train[i]], rate)
            for w, a in zip(f.w, alpha):
                np.clip(w, -a, a, out=w)  # what the scaled pairs can hold
        sw.append(f.accuracy(d.x_test, d.y_test))
    tr, _ = build(RunOptions(algo="in-the-loop", dataset="yinyang", mismatch=True, seed=seed + 1,
                             instances=instances, weight_scale="auto"), data=d, host_targets=f.w)
    transfer = tr.evaluate(d.x_test, d.y_test)
    tr.run(loop_epochs - 1, progress=False)
    tr.lr = lr / 3
    h = tr.run(loop_epochs, progress=False)
    loop = np.array(h.test_acc_per_instance[-1])
    out["yinyang"] = {"alpha": alpha, "software_epochs": sw_epochs, "loop_epochs": loop_epochs,
                      "instances": instances, "software_acc_per_epoch": sw, "ideal": sw[-1],
                      "transfer": float(transfer.mean()), "in_the_loop": float(loop.mean()),
                      "loop_acc_per_epoch": h.test_acc}
    y = out["yinyang"]
    log(f"  yinyang at scale: ideal {y['ideal']:.1f}, transfer {y['transfer']:.1f}, "
        f"in the loop {y['in_the_loop']:.1f}")
    return out


def headline(res: dict) -> dict:
    r = res["runs"]
    out = {f"{k}_rram_acc": round(r["rram_oxide"][k]["last3"], 2)
           for k in ("sgd", "mp", "ttv2", "cttv2", "agad")}
    out["cttv2_reram_es_acc"] = round(r["reram_es"]["cttv2"]["last3"], 2)
    out["agad_reram_es_acc"] = round(r["reram_es"]["agad"]["last3"], 2)
    out["tt_float_acc"] = round(res["float"]["last3"], 2)
    if "scale" in res:
        sc = res["scale"]
        out["iris_acc"] = round(sc["iris"]["backprop_scaled"]["last3"], 2)
        out["iris_pgd_acc"] = round(sc["iris"]["pgd_scaled"]["last3"], 2)
        out["yinyang_ideal_acc"] = round(sc["yinyang"]["ideal"], 2)
        out["yinyang_scaled_transfer_acc"] = round(sc["yinyang"]["transfer"], 2)
        out["yinyang_scaled_loop_acc"] = round(sc["yinyang"]["in_the_loop"], 2)
    return out


def report(res: dict, cmd: str) -> str:
    fl = res["float"]["last3"]
    lines = [
        "# Devices that train badly with SGD: the Tiki-Taka family",
        "",
        f"Generated by `{cmd}` (benchmarks/reproduce_tiki_taka.py). Per-sample "
        f"{'-'.join(map(str, res['sizes']))} MLP on scikit-learn digits, {res['epochs']} "
        f"epochs, learning rate {res['lr']}, accuracy = mean of the last 3 epochs over "
        f"{res['instances']} device draws (Monte-Carlo instances). Float backprop from the "
        f"same initial weights: **{fl:.1f} %**.",
        "",
        "Algorithms: `sgd` = in-situ backprop with deterministic pulse counts; `mp` = mixed "
        "precision (digital accumulator, whole pulses); `ttv2`, `cttv2`, `agad` = the "
        "Tiki-Taka family with the defaults of `tiki_taka.default_settings` (no per-device "
        "tuning: the buffer threshold is one nominal step of C, and ceil(states / 2000) "
        "rows of A are read per layer and sample, so `ecram_mo`'s 7090 states get 4). "
        "Costs per training sample: device pulses of the updates (both devices of "
        "a pair), one-hot transfer reads of A, digital buffer element operations, all array "
        "reads (forward, transpose and transfer).",
        "",
        "| device | algorithm | accuracy (%) | vs float | pulses | transfer reads | "
        "buffer ops | array reads |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dev, runs in res["runs"].items():
        for key, r in runs.items():
            lines.append(
                f"| {dev} | {key} | {r['last3']:.1f} | {r['last3'] - fl:+.1f} | "
                f"{r['pulses_per_sample']:.0f} | {r['transfer_reads_per_sample']:.1f} | "
                f"{r['buffer_ops_per_sample']:.0f} | {r['array_reads_per_sample']:.1f} |")
    lines += [
        "",
        "Target of issue 13: c-TTv2 or AGAD within 3 points of float backprop on "
        "`rram_oxide` and on `reram_es`.",
        "",
    ]
    for dev in ("rram_oxide", "reram_es"):
        best = max(res["runs"][dev]["cttv2"]["last3"], res["runs"][dev]["agad"]["last3"])
        lines.append(f"- {dev}: best of c-TTv2/AGAD {best:.1f} % ({best - fl:+.1f} points): "
                     + ("met" if best >= fl - 3 else "**missed**") + ".")
    lines += [
        "",
        "Device presets: `rram_oxide` (insitu's own harsh power-law preset, 50 states); "
        "`reram_es` and `ecram_mo` are the leading simulator's ExpStep and LinearStep fits "
        "mapped onto 0-100 uS (golden/presets.py names every number's source and what is "
        "capped or assumed).",
        "",
    ]
    if "scale" in res:
        sc = res["scale"]
        ir, y = sc["iris"], sc["yinyang"]
        lines += [
            "## The weight scale",
            "",
            "Each layer's weight is `alpha_l (g+ - g-) / g_range`, `alpha_l = max(1, 16 / "
            "sqrt(fan_in + 1))` (`--weight-scale auto`), applied to the ADC result on the "
            "host; updates and write-verify targets are divided by it. The backend's codes "
            "do not change (tests/golden/test_weight_scale.py).",
            "",
            f"Iris (4-8-3, organic ECRAM, {ir['epochs']} epochs, {ir['instances']} draws, "
            "mean of the last 3 epochs):",
            "",
            "| algorithm | without scale | with `auto` scale |",
            "|---|---|---|",
        ]
        for algo in ("pgd", "backprop"):
            lines.append(f"| {algo} | {ir[algo]['last3']:.1f} | "
                         f"{ir[algo + '_scaled']['last3']:.1f} |")
        lines += [
            "",
            f"Yin-Yang in the loop at the scale (alpha = "
            f"{', '.join(f'{a:.2f}' for a in y['alpha'])}; strong DAC/ADC/device mismatch, "
            f"{y['instances']} draws): software ideal (weights bounded by alpha_l) "
            f"**{y['ideal']:.1f} %**, transferred by write-verify {y['transfer']:.1f} %, "
            f"after {y['loop_epochs']} epochs in the loop {y['in_the_loop']:.1f} %.",
            "",
        ]
    return "\n".join(lines)


def run_all(quick: bool, seed: int, log) -> dict:
    """Both parts, at the sizes of ``reproduce.py`` (``--quick``: 2 device draws, only
    :data:`QUICK_RUNS`, and for the scale part the quick sizes of reproduce.py)."""
    res = tiki_taka_experiment(10, 2 if quick else 4, seed, log=log,
                               runs=QUICK_RUNS if quick else None)
    res["scale"] = scale_experiment(40 if quick else 80, 30 if quick else 60,
                                    4 if quick else 8, 4 if quick else 8, seed, log=log)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 device draws instead of 4, only the headline runs")
    ap.add_argument("--out", default="results/reproduce", help="results folder")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "reproductions" / "tiki-taka.md"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr, flush=True)
    res = run_all(args.quick, args.seed, log)
    res["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tiki_taka.json").write_text(json.dumps(res, indent=1))
    cmd = "python benchmarks/reproduce_tiki_taka.py" + (" --quick" if args.quick else "")
    Path(args.docs).parent.mkdir(parents=True, exist_ok=True)
    Path(args.docs).write_text(report(res, cmd))
    print(json.dumps({**headline(res), "seconds": res["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
