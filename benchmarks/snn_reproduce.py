"""Spiking networks trained in the loop under neuron mismatch (Cramer et al., PNAS 2022).

    python benchmarks/snn_reproduce.py --quick     # this section alone (about 2 minutes)
    python benchmarks/reproduce.py --quick         # runs it as one of its sections
    python benchmarks/snn_reproduce.py --transfer-only --chips 32   # transfer loss per chip

Over the neurons' fixed-pattern spread ``sigma_d`` in {0, 10, 30, 50} %, three ways
to get weights onto a chip of LIF neurons behind an organic-ECRAM crossbar:

* software (ideal): surrogate-gradient BPTT on the host model (Adam, batches of 32),
  evaluated on the host model;
* transferred: those weights written by write-verify onto the mismatched chip;
* in the loop: starting from the transferred weights, trained on the chip (its
  measured membranes and spikes in the host's BPTT, rank-1 pulse write-back).

Digits latency-coded (quick: 8x8, 64-64-10; full: upsampled to 16x16, the
paper's 256-246-10, which fits the 256x256 array); a rate network (sigmoid MLP,
float SGD) of the same size as reference; Yin-Yang with a small spiking
network (5-60-3, the bias spike as fifth input). The write-verify write-back
is run once (sigma_d = 30 %) to compare its cost with the pulses'.

The last line printed is one JSON object (the ``snn_*`` headline keys);
``--out`` receives ``snn.json`` and ``snn.png``; ``--docs`` the report section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from insitu.golden.algorithms.snn_runs import STEPS, SNN_LIF, coding_for, load_snn_dataset, make_snn
from insitu.golden.algorithms.surrogate import SNNInTheLoop, SNNSoftware
from insitu.golden.snn import model_forward
from insitu.golden.train import FloatMLP, Trainer

ROOT = Path(__file__).resolve().parent.parent
SIGMAS = (0.0, 0.1, 0.3, 0.5)
RATE_EPOCHS = 30  # the rate reference trained to convergence in both modes
LOOP_LR = 1e-4  # in-the-loop SGD (per sample, pulses); the software's Adam uses 3e-3
LR_256 = 1e-3  # Adam for 256 inputs (3e-3 diverged: 26 % after 3 epochs vs 94 % at 1e-3)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def software_snn(d, sizes, dataset, epochs, lr, seed, batch=32, coding=None):
    """(SNNSoftware, test accuracy per epoch) of the host model trained in software."""
    net = make_snn(sizes, backend="ideal", device="ideal", dataset=dataset, coding=coding)
    rng = np.random.default_rng(seed)
    w0 = [rng.uniform(-1, 1, (lw.fan_in, lw.fan_out)) / np.sqrt(lw.fan_in) for lw in net.layers]
    sw = SNNSoftware(net, w0)
    accs = []
    for e in range(epochs):
        rate = lr if e < epochs - max(1, epochs // 4) else lr / 3
        idx = rng.permutation(len(d.x_train))
        for b in range(0, len(idx), batch):
            j = idx[b:b + batch]
            sw.train_batch(d.x_train[j], d.y_train[j], rate)
        accs.append(sw.accuracy(d.x_test, d.y_test))
    return sw, accs


def rate_network(d, sizes, epochs, lr, seed):
    """Float sigmoid MLP of the same layer sizes (with biases), per-sample SGD with the
    last quarter of the epochs at lr / 3: the rate reference. Test accuracy per epoch."""
    rng = np.random.default_rng(seed)
    w = [rng.uniform(-1, 1, (a + 1, b)) / np.sqrt(a + 1) for a, b in zip(sizes[:-1], sizes[1:])]
    f = FloatMLP(w)
    eye = np.eye(d.classes)
    accs = []
    for e in range(epochs):
        rate = lr if e < epochs - max(1, epochs // 4) else lr / 3
        for i in rng.permutation(len(d.x_train)):
            f.step(d.x_train[i], eye[d.y_train[i]], rate)
        accs.append(f.accuracy(d.x_test, d.y_test))
    return accs


def chip_run(d, sizes, dataset, w_sw, sigma_d, *, instances, loop_epochs, lr, seed,
             write="pulse", program_every=32, keep_sample=False):
    """Transfer ``w_sw`` onto a chip with spread ``sigma_d``, then train in the loop."""
    net = make_snn(sizes, sigma_d=sigma_d, seed=seed, instances=instances, dataset=dataset)
    cost = net.program(w_sw)
    t0 = time.time()
    transfer = Trainer(net, d, lr=lr).evaluate(d.x_test, d.y_test)
    st0 = net.backend.stats.to_dict()
    step = SNNInTheLoop(net, w_sw, write=write, program_every=program_every,
                        optimiser="adam", seed=seed + 2)
    tr = Trainer(net, d, lr=lr, seed=seed + 1, step=step)
    h = tr.run(loop_epochs, progress=False)
    st = net.backend.stats.to_dict()
    samples = loop_epochs * len(d.x_train)
    out = {
        "sigma_d": sigma_d, "write": write, "instances": instances, "loop_epochs": loop_epochs,
        "lr": lr, "initial_program": cost,
        "transfer": float(transfer.mean()), "transfer_per_instance": transfer.tolist(),
        "in_the_loop": h.test_acc[-1], "in_the_loop_per_instance": h.test_acc_per_instance[-1],
        "loop_acc_per_epoch": h.test_acc,
        # write-back cost per training sample (pulses count both devices of a pair)
        "pulses_per_sample": (st["pulses"] - st0["pulses"]) / samples,
        "update_commands_per_sample": (st["updates"] - st0["updates"]) / samples,
        "update_slots_per_sample": (st["update_slots"] - st0["update_slots"]) / samples,
        "program_reads_per_sample": (st["program_reads"] - st0["program_reads"]) / samples,
        "program_pulses_per_sample": (st["program_pulses"] - st0["program_pulses"]) / samples,
        "forward_reads_per_sample": (st["forward_reads"] - st0["forward_reads"]) / samples,
        "capped_updates": net.capped_updates,
        "seconds": time.time() - t0,
    }
    if keep_sample:
        i = int(np.flatnonzero(d.y_test == d.y_test[0])[0])
        rec = net.run(net.encode(d.x_test[i]))
        out["sample"] = {"label": int(d.y_test[i]), "input": rec.inputs[0][:, 0].tolist(),
                         "hidden_spikes": rec.s[0][:, 0].astype(int).tolist(),
                         "hidden_v": rec.v[0][:, 0].tolist(), "output_v": rec.v[-1][:, 0].tolist(),
                         "threshold": SNN_LIF.threshold}
    return out


def digits_experiment(quick, seed):
    side = None if quick else 16
    sizes = (64, 64, 10) if quick else (256, 246, 10)
    d = load_snn_dataset("digits", seed=0, side=side)
    sw_epochs = 12 if quick else 25
    loop_epochs = 1 if quick else 3
    instances = 2
    lr_sw, lr_loop = (3e-3 if quick else LR_256), LOOP_LR
    t0 = time.time()
    sw, sw_accs = software_snn(d, sizes, "digits", sw_epochs, lr_sw, seed)
    rec = model_forward(sw.w, sw.coding.encode(d.x_test), sw.lif, sw.syn_gain)
    hidden_spikes = float(rec.s[0].sum(axis=(0, 2)).mean())
    log(f"  digits {sizes}: software {sw_accs[-1]:.1f} ({time.time() - t0:.0f} s, "
        f"{hidden_spikes:.0f} hidden spikes per sample)")
    rate = rate_network(d, sizes, RATE_EPOCHS, 0.1, seed)
    log(f"  rate network {sizes}: {rate[-1]:.1f}")
    runs = {}
    for sd in SIGMAS:
        r = chip_run(d, sizes, "digits", sw.w, sd, instances=instances, loop_epochs=loop_epochs,
                     lr=lr_loop, seed=seed + 10, keep_sample=sd == 0.3)
        runs[f"{sd:.2f}"] = r
        log(f"  sigma_d {sd:.0%}: transfer {r['transfer']:.1f}, in the loop "
            f"{r['in_the_loop']:.1f} ({r['seconds']:.0f} s)")
    wv = chip_run(d, sizes, "digits", sw.w, 0.3, instances=1, loop_epochs=1,
                  lr=3e-5, seed=seed + 10, write="program", program_every=32)
    log(f"  sigma_d 30% write-verify write-back: {wv['in_the_loop']:.1f} "
        f"({wv['program_reads_per_sample']:.0f} reads/sample)")
    return {"sizes": list(sizes), "input_side": 16 if side else 8, "coding": coding_for(
        "digits").to_dict(), "lif": SNN_LIF.to_dict(), "device": "ecram_organic",
        "software_epochs": sw_epochs, "software_lr": lr_sw, "software_acc_per_epoch": sw_accs,
        "software": sw_accs[-1], "hidden_spikes_per_sample": hidden_spikes,
        "rate_acc_per_epoch": rate, "rate": rate[-1], "runs": runs, "write_verify": wv,
        "test_samples": len(d.x_test), "train_samples": len(d.x_train)}


def paper_size_run(seed, sw_epochs, loop_epochs, sigmas, instances):
    """The paper's 256-246-10 on 16x16 digits, a reduced sweep (``--paper-size``)."""
    sizes = (256, 246, 10)
    d = load_snn_dataset("digits", seed=0, side=16)
    t0 = time.time()
    sw, sw_accs = software_snn(d, sizes, "digits", sw_epochs, LR_256, seed)
    log(f"  digits 16x16 {sizes}: software {sw_accs[-1]:.1f} ({time.time() - t0:.0f} s)")
    out = {"sizes": list(sizes), "software_epochs": sw_epochs, "software": sw_accs[-1],
           "software_acc_per_epoch": sw_accs, "runs": {}}
    for sd in sigmas:
        r = chip_run(d, sizes, "digits", sw.w, sd, instances=instances, loop_epochs=loop_epochs,
                     lr=LOOP_LR, seed=seed + 10)
        out["runs"][f"{sd:.2f}"] = r
        log(f"  sigma_d {sd:.0%}: transfer {r['transfer']:.1f}, in the loop "
            f"{r['in_the_loop']:.1f} ({r['seconds']:.0f} s)")
    return out


def transfer_spread(side, hidden, sw_epochs, chips, seed, offset_spread=None, steps=STEPS):
    """Transfer only, ``chips`` Monte-Carlo chips at sigma_d 0 and 30 % (``--transfer-only``):
    how the transfer loss depends on the hidden layer's width and on the chip draw. The chips
    at both spreads share their seeds (the 30 % chip ``k`` is chip ``k``'s pattern, scaled).
    ``offset_spread`` (None: the model's) sets the leak and reset offsets' share of the
    pattern; 0 spreads only what the paper detunes, time constants and thresholds.
    ``steps``: time steps per sample (the paper's discretisation, which delays every layer
    by two steps, is this model with the window shortened by two steps per layer)."""
    sizes = (side * side, hidden, 10)
    d = load_snn_dataset("digits", seed=0, side=None if side == 8 else side)
    t0 = time.time()
    coding = coding_for("digits", steps)
    sw, sw_accs = software_snn(d, sizes, "digits", sw_epochs, 3e-3 if side == 8 else LR_256, seed,
                               coding=coding)
    lif = SNN_LIF if offset_spread is None else SNN_LIF.with_(offset_spread=offset_spread)
    out = {"sizes": list(sizes), "software_epochs": sw_epochs, "software": sw_accs[-1],
           "chips": chips, "offset_spread": lif.offset_spread, "steps": steps}
    for sd in (0.0, 0.3):
        net = make_snn(sizes, sigma_d=sd, seed=seed + 10, instances=chips, dataset="digits",
                       lif=lif, coding=coding)
        net.program(sw.w)
        acc = Trainer(net, d, lr=LOOP_LR).evaluate(d.x_test, d.y_test)
        out[f"transfer_{sd:.2f}"] = [round(float(a), 2) for a in acc]
    loss = np.subtract(out["transfer_0.00"], out["transfer_0.30"])
    out.update(loss_per_chip=[round(float(v), 2) for v in loss], loss=round(float(loss.mean()), 2),
               seconds=round(time.time() - t0, 1))
    log(f"  digits {side}x{side} {sizes}: software {sw_accs[-1]:.1f}; transfer loss at sigma_d "
        f"30 %: {out['loss']:.1f} (per chip {out['loss_per_chip']})")
    return out


def yinyang_experiment(quick, seed):
    sizes = (5, 60, 3)
    d = load_snn_dataset("yinyang", seed=0)
    sw_epochs = 30 if quick else 60
    sw, sw_accs = software_snn(d, sizes, "yinyang", sw_epochs, 3e-3, seed)
    runs = {}
    for sd in (0.0, 0.3):
        runs[f"{sd:.2f}"] = chip_run(d, sizes, "yinyang", sw.w, sd, instances=2,
                                     loop_epochs=1 if quick else 3, lr=LOOP_LR, seed=seed + 20)
    log(f"  yinyang {sizes}: software {sw_accs[-1]:.1f}, sigma_d 30%: transfer "
        f"{runs['0.30']['transfer']:.1f}, in the loop {runs['0.30']['in_the_loop']:.1f}")
    return {"sizes": list(sizes), "software_epochs": sw_epochs, "software": sw_accs[-1],
            "software_acc_per_epoch": sw_accs, "runs": runs, "test_samples": len(d.x_test)}


def snn_experiment(quick: bool, seed: int = 0) -> dict:
    t0 = time.time()
    res = {"mode": "quick" if quick else "full", "seed": seed,
           "digits": digits_experiment(quick, seed), "yinyang": yinyang_experiment(quick, seed)}
    res["seconds"] = time.time() - t0
    return res


def snn_headline(res) -> dict:
    g, y = res["digits"], res["yinyang"]
    r = g["runs"]
    return {
        "snn_software_acc": round(g["software"], 2),
        "snn_inloop_acc": round(r["0.00"]["in_the_loop"], 2),
        "snn_transfer_acc_s30": round(r["0.30"]["transfer"], 2),
        "snn_inloop_acc_s30": round(r["0.30"]["in_the_loop"], 2),
        "snn_yinyang_acc": round(y["runs"]["0.00"]["in_the_loop"], 2),
        "snn_rate_acc": round(g["rate"], 2),
    }


def snn_targets(res) -> list:
    """(target, value text, met) rows of the issue's targets."""
    g = res["digits"]
    r = g["runs"]
    sw, il0 = g["software"], r["0.00"]["in_the_loop"]
    tr0, tr30, il30 = r["0.00"]["transfer"], r["0.30"]["transfer"], r["0.30"]["in_the_loop"]
    return [
        ("in the loop within 1 point of the ideal software SNN at sigma_d = 0",
         f"{il0:.1f} vs {sw:.1f}", il0 >= sw - 1.0),
        ("sigma_d = 30 %: in the loop within 2 points of its own sigma_d = 0 value",
         f"{il30:.1f} vs {il0:.1f}", il30 >= il0 - 2.0),
        ("sigma_d = 30 %: transfer loses at least 5 points (against its sigma_d = 0 value)",
         f"{tr30:.1f} vs {tr0:.1f}", tr30 <= tr0 - 5.0),
        ("spiking digits within 2 points of the rate network of the same size",
         f"{sw:.1f} vs {g['rate']:.1f}", sw >= g["rate"] - 2.0),
    ]


def snn_figures(res, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = res["digits"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9),
                             gridspec_kw={"width_ratios": [1.3, 1, 1, 1]})
    ax = axes[0]
    sig = [100 * float(k) for k in g["runs"]]
    ax.plot(sig, [g["software"]] * len(sig), "k--", label="software (ideal)")
    ax.plot(sig, [r["transfer"] for r in g["runs"].values()], "o-", color="#c44",
            label="software, transferred")
    ax.plot(sig, [r["in_the_loop"] for r in g["runs"].values()], "s-", color="#4a4",
            label="in the loop")
    ax.set_xlabel("neuron spread sigma_d (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"digits {g['input_side']}x{g['input_side']}, SNN {tuple(g['sizes'])}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    s = g["runs"]["0.30"]["sample"]
    inp = np.array(s["input"])
    t_in, i_in = np.nonzero(inp)
    axes[1].plot(t_in, i_in, "|", color="k", ms=3)
    axes[1].set_title("input spikes (latency code)")
    axes[1].set_xlabel("time step")
    axes[1].set_ylabel("input")
    hs = np.array(s["hidden_spikes"])
    t_h, i_h = np.nonzero(hs)
    axes[2].plot(t_h, i_h, "|", color="#236", ms=3)
    axes[2].set_title(f"hidden spikes ({hs.sum()} spikes)")
    axes[2].set_xlabel("time step")
    axes[2].set_ylabel("hidden neuron")
    vo = np.array(s["output_v"])
    for c in range(vo.shape[1]):
        axes[3].plot(vo[:, c], lw=2.2 if c == s["label"] else 0.9,
                     color="#4a4" if c == s["label"] else "#999")
    axes[3].set_title(f"output membranes (label {s['label']} green)")
    axes[3].set_xlabel("time step")
    axes[3].set_ylabel("V (thresholds)")
    fig.suptitle("one test sample on the chip, sigma_d = 30 %, after in-the-loop training",
                 x=0.64, y=0.995, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "snn.png", dpi=110)
    plt.close(fig)


def snn_report(res, out: Path, cmd: str, docs: Path) -> str:
    g, y = res["digits"], res["yinyang"]
    fig_dir = Path(os.path.relpath(out.resolve(), docs.resolve().parent)).as_posix()
    wv, p30 = g["write_verify"], g["runs"]["0.30"]
    lines = [
        "# Spiking networks in the loop (Cramer et al., PNAS 2022)",
        "",
        f"Generated by `{cmd}` ({res['mode']} mode, seed {res['seed']}, "
        f"{res['seconds']:.0f} s wall clock). Code: `benchmarks/snn_reproduce.py`; model: "
        "`golden/neurons.py`, `golden/neuron_stage.py`, `golden/snn.py`, "
        "`golden/algorithms/surrogate.py`.",
        "",
        (f"Setup: digits {g['input_side']}x{g['input_side']} (scikit-learn's 8x8 digits"
         + (", bilinearly upsampled" if g["input_side"] == 16 else "")
         + f"), latency-coded into {g['coding']['steps']} steps; SNN {tuple(g['sizes'])} "
         f"(LIF hidden layer, membrane-readout output, no biases) on one "
         f"{'256x256' if g['sizes'][0] == 256 else 'crossbar'} array of organic ECRAM; "
         f"tau_syn {g['lif']['tau_syn']:g} dt, tau_mem {g['lif']['tau_mem']:g} dt, membrane "
         f"readout noise {g['lif']['readout_noise']:g} threshold. Each chip result is the mean "
         f"of {p30['instances']} Monte-Carlo chips (devices and neurons drawn independently) "
         f"on all {g['test_samples']} test samples; in the loop = "
         f"{p30['loop_epochs']} epoch(s) of per-sample training on the chip, starting from the "
         "transferred software weights (learning rate "
         f"{p30['lr']:g}, SGD by rank-1 pulses)."),
        "",
        "| sigma_d | software (ideal) | software, transferred | in the loop |",
        "|---|---|---|---|",
    ]
    for k, r in g["runs"].items():
        lines.append(f"| {100 * float(k):.0f} % | {g['software']:.1f} | {r['transfer']:.1f} | "
                     f"{r['in_the_loop']:.1f} |")
    lines += [
        "",
        f"Rate network of the same size (sigmoid MLP with biases, float per-sample SGD, "
        f"{len(g['rate_acc_per_epoch'])} epochs): {g['rate']:.1f} %. Software SNN: {g['hidden_spikes_per_sample']:.0f} hidden spikes "
        "per test sample.",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for name, val, ok in snn_targets(res):
        lines.append(f"| {name} | {val} | {'yes' if ok else 'no'} |")
    yr = y["runs"]
    lines += [
        "",
        f"Yin-Yang, SNN {tuple(y['sizes'])}: software {y['software']:.1f} %; sigma_d 0: "
        f"transfer {yr['0.00']['transfer']:.1f}, in the loop {yr['0.00']['in_the_loop']:.1f}; "
        f"sigma_d 30 %: transfer {yr['0.30']['transfer']:.1f}, in the loop "
        f"{yr['0.30']['in_the_loop']:.1f} ({y['test_samples']} test points).",
        "",
        "Write-back cost per training sample at sigma_d = 30 % (digits):",
        "",
        "| write-back | accuracy | update commands | device pulses | write-verify reads | "
        "write-verify pulses |",
        "|---|---|---|---|---|---|",
        (f"| rank-1 pulses (SGD) | {p30['in_the_loop']:.1f} | "
         f"{p30['update_commands_per_sample']:.1f} | {p30['pulses_per_sample']:.0f} | 0 | 0 |"),
        (f"| write-verify every 32 samples (Adam) | {wv['in_the_loop']:.1f} | 0 | 0 | "
         f"{wv['program_reads_per_sample']:.0f} | {wv['program_pulses_per_sample']:.0f} |"),
        "",
        f"A training sample takes {len(g['sizes']) - 1} x {g['coding']['steps']} array reads "
        "(one per layer and time step); with the end-of-epoch test evaluation the chip read "
        f"the array {p30['forward_reads_per_sample']:.0f} times per training sample. The "
        "write-verify run uses Adam (learning rate "
        f"{wv['lr']:g}) on the host weights and one chip ({wv['instances']} instance).",
        "",
        f"![Spiking networks in the loop]({fig_dir}/snn.png)",
        "",
        "Differences from the paper: our digits are scikit-learn's 8x8 set (1797 images), not "
        "MNIST; the in-the-loop runs fine-tune the transferred weights for few epochs instead "
        "of training from scratch for 100; the "
        "mismatch model (relative spread of time constants and threshold, leak and reset "
        "offsets of a quarter of the spread) is ours, so the sigma_d axis is comparable to "
        "the paper's only in kind.",
        "",
        "Where the neurons sit: on the chip, between the array's columns and the column "
        "converters (`golden/neuron_stage.py`, as on BrainScaleS-2): they integrate the analog "
        "column current, their state persists from one time step's read to the next, and a "
        "read returns each neuron's membrane code with its spike flag in the low bit; the "
        "software and rate references are float models.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (about 2 minutes)")
    ap.add_argument("--out", default="results/reproduce", help="results folder")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "reproductions-snn.md"),
                    help="where to write the report section")
    ap.add_argument("--seed", type=int, default=0, help="seed of every experiment")
    ap.add_argument("--replot", default=None, metavar="SNN.json",
                    help="no runs: rewrite the figure and the report from a saved snn.json")
    ap.add_argument("--paper-size", action="store_true",
                    help="only the paper's 256-246-10 on 16x16 digits, sigma_d 0 and 30 %%, "
                         "one chip, --sw-epochs / --loop-epochs; writes snn16.json")
    ap.add_argument("--sw-epochs", type=int, default=10)
    ap.add_argument("--loop-epochs", type=int, default=1)
    ap.add_argument("--sigmas", default="0,30", metavar="PERCENT,...",
                    help="--paper-size: the neuron spreads sigma_d in percent (default 0,30)")
    ap.add_argument("--transfer-only", action="store_true",
                    help="only the transfer loss at sigma_d 30 %% over --chips chips, for "
                         "--side (8 or 16) and --hidden; writes snn_transfer.json, no docs")
    ap.add_argument("--side", type=int, default=16, choices=(8, 16))
    ap.add_argument("--hidden", type=int, default=246)
    ap.add_argument("--chips", type=int, default=4)
    ap.add_argument("--offset-spread", type=float, default=None, metavar="F",
                    help="--transfer-only: the leak/reset offsets' spread relative to sigma_d "
                         "(default the model's 0.25; 0: only time constants and thresholds)")
    ap.add_argument("--steps", type=int, default=STEPS,
                    help=f"--transfer-only: time steps per sample (default {STEPS})")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.transfer_only:
        if not 1 <= args.hidden <= 256 - 10 or not 1 <= args.chips <= 64:
            ap.error("--hidden must be in [1, 246] and --chips in [1, 64]")
        if args.offset_spread is not None and not 0.0 <= args.offset_spread <= 1.0:
            ap.error("--offset-spread must be in [0, 1]")
        if not 1 <= args.steps <= 1000:
            ap.error("--steps must be in [1, 1000]")
        r = transfer_spread(args.side, args.hidden, args.sw_epochs, args.chips, args.seed,
                            args.offset_spread, args.steps)
        (out / "snn_transfer.json").write_text(json.dumps(r, indent=1))
        print(json.dumps(r))
        return 0
    if args.paper_size:
        t0 = time.time()
        try:
            sigmas = tuple(float(v) / 100 for v in args.sigmas.split(","))
        except ValueError:
            ap.error(f"--sigmas must be comma-separated percentages, got {args.sigmas!r}")
        if not sigmas or not all(0.0 <= v <= 1.0 for v in sigmas):
            ap.error(f"--sigmas must be percentages in [0, 100], got {args.sigmas!r}")
        r = paper_size_run(args.seed, args.sw_epochs, args.loop_epochs, sigmas, 1)
        r["seconds"] = time.time() - t0
        r["command"] = ("python benchmarks/snn_reproduce.py --paper-size --sw-epochs "
                        f"{args.sw_epochs} --loop-epochs {args.loop_epochs} --sigmas {args.sigmas}")
        (out / "snn16.json").write_text(json.dumps(r, indent=1))
        docs = Path(args.docs).with_name("reproductions-snn16.md")
        docs.write_text(paper_size_report(r))
        print(json.dumps({"software": round(r["software"], 2), **{
            f"{k}_{s}": round(v[k], 2) for s, v in r["runs"].items()
            for k in ("transfer", "in_the_loop")}, "seconds": round(r["seconds"], 1)}))
        return 0
    if args.replot:
        res = json.loads(Path(args.replot).read_text())
    else:
        res = snn_experiment(args.quick, args.seed)
    write_outputs(res, out, Path(args.docs), "python benchmarks/snn_reproduce.py"
                  + (" --quick" if res["mode"] == "quick" else ""))
    print(json.dumps({**snn_headline(res), "seconds": round(res["seconds"], 1)}))
    return 0


def paper_size_report(r) -> str:
    """The report page of a ``--paper-size`` run (every number from ``r``)."""
    runs = r["runs"]
    lines = [
        "# Spiking networks in the loop at the paper's size (256-246-10)",
        "",
        f"Generated by `{r['command']}` (seed 0, {r['seconds']:.0f} s wall clock; data in "
        "`reproductions/snn16.json`). Digits bilinearly upsampled to 16x16 (256 inputs), SNN "
        f"{tuple(r['sizes'])} on one 256x256 organic-ECRAM array with the LIF neurons between "
        "the columns and the converters; software: surrogate-gradient BPTT, Adam, "
        f"{r['software_epochs']} epochs; one chip per sigma_d (1 Monte-Carlo instance) on all "
        f"test samples; in the loop = {next(iter(runs.values()))['loop_epochs']} epoch(s) of "
        "per-sample SGD by rank-1 pulses from the transferred weights. Reduced against the full "
        "mode (25 software epochs, 3 loop epochs, 2 chips), which did not fit the machine.",
        "",
        "| sigma_d | software (ideal) | software, transferred | in the loop |",
        "|---|---|---|---|",
    ]
    for k, v in runs.items():
        lines.append(f"| {100 * float(k):.0f} % | {r['software']:.1f} | {v['transfer']:.1f} | "
                     f"{v['in_the_loop']:.1f} |")
    if "0.00" in runs and "0.30" in runs:
        sw, il0, il30 = r["software"], runs["0.00"]["in_the_loop"], runs["0.30"]["in_the_loop"]
        tr0, tr30 = runs["0.00"]["transfer"], runs["0.30"]["transfer"]
        lines += [
            "",
            "| target | measured | met |",
            "|---|---|---|",
            (f"| in the loop within 1 point of the ideal software SNN at sigma_d = 0 | "
             f"{il0:.1f} vs {sw:.1f} | {'yes' if il0 >= sw - 1 else 'no'} |"),
            (f"| sigma_d = 30 %: in the loop within 2 points of its own sigma_d = 0 value | "
             f"{il30:.1f} vs {il0:.1f} | {'yes' if il30 >= il0 - 2 else 'no'} |"),
            (f"| sigma_d = 30 %: transfer loses at least 5 points | {tr30:.1f} vs {tr0:.1f} | "
             f"{'yes' if tr30 <= tr0 - 5 else 'no'} |"),
        ]
    return "\n".join(lines) + "\n"


def write_outputs(res, out: Path, docs: Path, cmd: str) -> None:
    (out / "snn.json").write_text(json.dumps(res, indent=1))
    snn_figures(res, out)
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(snn_report(res, out, cmd, docs))


if __name__ == "__main__":
    sys.exit(main())
