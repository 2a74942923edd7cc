"""``insitu train``: train a network on the golden model with one of the algorithms.

Examples::

    insitu train --algo pgd --device ecram_organic --dataset digits --epochs 5
    insitu train --algo activity-difference --device rram_oxide --dataset braille \\
        --epochs 20 --save run.json
    insitu train --save run.json --resume --epochs 30     # continue a saved run

The run state (backend conductances and random streams, the trainer's
position and generator, the algorithm's host-side state) is saved to
``--save`` after every epoch, so a killed run resumed with ``--resume`` ends
exactly where an uninterrupted run would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ALGO_HELP = {
    "pgd": "progressive gradient descent (van Doremaele et al. 2024)",
    "backprop": "standard in-situ backprop (all errors before any update)",
    "activity-difference": "equilibrium propagation (Yi et al. 2023)",
    "in-the-loop": "chip-in-the-loop: host gradients from measured activations (Cramer et al. 2022)",
    "stochastic-sgd": "stochastic pulse-coincidence SGD (Gokmen and Vlasov 2016)",
    "write-verify": "float SGD on the host, weights written by write-verify",
    "onchip-pgd": "the on-chip trainer's fixed-point PGD (integer tables, shifts, codes)",
    "mixed-precision": "digital gradient accumulator, whole pulses sent (Nandakumar et al. 2020)",
    "ttv1": "Tiki-Taka: fast array A, periodic transfer into C (Gokmen and Haensch 2020)",
    "ttv2": "Tiki-Taka v2: A -> digital buffer H -> C (Gokmen 2021)",
    "cttv2": "chopped TTv2 (Rasch et al. 2024)",
    "agad": "AGAD: chopped transfer against running means, no reference needed (Rasch et al. 2024)",
    "snn-in-the-loop": "spiking network, surrogate gradients from the measured membranes and "
                       "spikes, rank-1 pulse write-back (Cramer et al. 2022)",
    "snn-software": "spiking network trained in software (surrogate gradients, Adam)",
}


def add_parser(subparsers) -> None:
    from insitu.golden.algorithms.runs import ALGOS, DATASETS

    p = subparsers.add_parser(
        "train",
        help="train a network on the golden model with an in-situ training algorithm",
        description="Train a crossbar MLP on the golden model. Algorithms: "
        + "; ".join(f"{k}: {v}" for k, v in ALGO_HELP.items()) + ".",
    )
    p.add_argument("--algo", default=None, metavar="|".join(ALGOS),
                   help="training algorithm (default pgd)")
    from insitu.golden.presets import PRESETS

    p.add_argument("--device", default=None, metavar="PRESET|FILE.json",
                   help="device preset (" + ", ".join(PRESETS) + ") or a fitted-device "
                        ".json file (default ecram_organic)")
    p.add_argument("--dataset", default=None, metavar="|".join(DATASETS),
                   help="dataset; braille is distorted-word reconstruction (default digits)")
    p.add_argument("--epochs", default="5", metavar="N",
                   help="total epochs to train (a resumed run continues up to N; default 5)")
    p.add_argument("--lr", default=None, metavar="RATE",
                   help="learning rate (default per dataset: 0.1, yinyang 0.03)")
    p.add_argument("--seed", default=None, metavar="N",
                   help="seed of the devices, the initial weights and the sample order (default 0)")
    p.add_argument("--instances", default=None, metavar="K",
                   help="Monte-Carlo device draws trained side by side (default 1)")
    p.add_argument("--hidden", default=None, metavar="N",
                   help="hidden layer size (default per dataset: digits 32, iris 8, "
                        "yinyang 30, braille 96)")
    p.add_argument("--backend", default=None, metavar="golden|ideal",
                   help="golden (device physics) or ideal (float reference; default golden)")
    p.add_argument("--mismatch", action="store_true", default=None,
                   help="strong fixed-pattern DAC/ADC mismatch and device spread "
                        "(the chip-in-the-loop experiment)")
    p.add_argument("--weight-scale", default=None, metavar="auto|GAIN",
                   help="digital per-layer weight gain alpha_l: auto (from the fan-in) or a "
                        "number (default: none, |w| <= 1)")
    p.add_argument("--fast-lr", default=None, metavar="RATE",
                   help="Tiki-Taka family: learning rate of the fast array A (default lr)")
    p.add_argument("--transfer-every", default=None, metavar="N",
                   help="Tiki-Taka family: samples between row reads of A (default 1)")
    p.add_argument("--buffer-granularity", default=None, metavar="PULSES",
                   help="Tiki-Taka family: buffer threshold in pulses of C (default 1)")
    p.add_argument("--chop-prob", default=None, metavar="P",
                   help="c-TTv2/AGAD: chopper flip probability per read (default 0.01)")
    p.add_argument("--mapping", default=None, metavar="differential|reference",
                   help="weights as differential pairs G+ - G- (default) or one device per "
                        "weight against a reference conductance (the reference-device variant; "
                        "its spread is the device's ref_d2d)")
    p.add_argument("--save", default=None, metavar="RUN.json",
                   help="write results and the resumable run state here after every epoch")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --save (its options are reused)")
    p.add_argument("--stop-after", default=None, metavar="SAMPLES",
                   help="stop (and save) after this many training samples in this "
                        "invocation; simulates a killed run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _int(name, v, lo, hi):
    try:
        i = int(v)
    except (TypeError, ValueError):
        raise ValueError(f"--{name} must be an integer in [{lo}, {hi}], got {v!r}") from None
    if not lo <= i <= hi:
        raise ValueError(f"--{name} must be an integer in [{lo}, {hi}], got {i}")
    return i


#: allowed ranges of the options parsed by _float, named in its message (the range itself
#: is checked where the value is used: RunOptions, TransferSettings, weight_scales)
FLOAT_RANGES = {"lr": "in (0, 100]", "fast-lr": "in (0, 100]", "buffer-granularity":
                "in [0.01, 1000]", "chop-prob": "in [0, 1]"}


def _float(name, v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        allowed = f" {FLOAT_RANGES[name]}" if name in FLOAT_RANGES else ""
        raise ValueError(f"--{name} must be a number{allowed}, got {v!r}") from None
    return f


OPTION_KEYS = ("algo", "device", "dataset", "lr", "seed", "backend", "instances", "hidden",
               "mismatch", "weight_scale", "fast_lr", "transfer_every", "buffer_granularity",
               "chop_prob", "mapping")


def _scale(v):
    if v is None or v == "auto":
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"--weight-scale must be auto or a number in (0, 1000], "
                         f"got {v!r}") from None


def _options(args, saved: dict | None):
    from insitu.golden.algorithms.runs import RunOptions

    given = {
        "algo": args.algo, "device": args.device, "dataset": args.dataset,
        "lr": None if args.lr is None else _float("lr", args.lr),
        "seed": None if args.seed is None else _int("seed", args.seed, 0, 2**31 - 1),
        "backend": args.backend,
        "instances": None if args.instances is None else _int("instances", args.instances, 1, 64),
        "hidden": None if args.hidden is None else _int("hidden", args.hidden, 1, 200),
        "mismatch": args.mismatch,
        "weight_scale": _scale(args.weight_scale),
        "fast_lr": None if args.fast_lr is None else _float("fast-lr", args.fast_lr),
        "transfer_every": None if args.transfer_every is None else _int(
            "transfer-every", args.transfer_every, 1, 10**6),
        "buffer_granularity": None if args.buffer_granularity is None else _float(
            "buffer-granularity", args.buffer_granularity),
        "chop_prob": None if args.chop_prob is None else _float("chop-prob", args.chop_prob),
        "mapping": args.mapping,
    }
    if saved is not None:
        for k, v in given.items():
            if v is not None and v != saved.get(k):
                raise ValueError(f"--{k} {v} differs from the saved run's {saved.get(k)!r}; "
                                 f"drop it or start a new --save file")
        return RunOptions(**saved).validate()
    d = {k: v for k, v in given.items() if v is not None}
    if "device" in d and d["device"].endswith(".json"):
        d["device"] = str(Path(d["device"]).resolve())
    return RunOptions(**d).validate()


def run(args) -> int:
    from insitu.golden.algorithms.runs import build
    from insitu.golden.train import _from_jsonable, _jsonable

    epochs = _int("epochs", args.epochs, 0, 100000)
    stop_after = None if args.stop_after is None else _int("stop-after", args.stop_after, 1,
                                                           10**9)
    save = Path(args.save) if args.save else None
    saved = None
    if args.resume:
        if save is None:
            raise ValueError("--resume needs --save RUN.json (the run to continue)")
        if not save.exists():
            raise ValueError(f"--resume: {save} does not exist")
        try:
            saved = json.loads(save.read_text())
            saved_opts = saved["options"]
            saved["trainer"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"--resume: {save} is not a saved insitu train run ({e})") from None
    opts = _options(args, saved_opts if saved else None)
    trainer, step = build(opts)
    if saved:
        trainer.load_state_dict(saved["trainer"])
        if hasattr(step, "load_state_dict") and saved.get("algorithm") is not None:
            step.load_state_dict(_from_jsonable(saved["algorithm"]))
        print(f"resumed {save} at epoch {trainer.epoch}, sample {trainer.position}",
              file=sys.stderr)

    def write():
        if save is None:
            return
        h = trainer.history
        extra = {
            "options": opts.to_dict(),
            "algorithm": _jsonable(step.state_dict()) if hasattr(step, "state_dict") else None,
            "results": {
                "epochs_done": trainer.epoch,
                "test_acc": h.test_acc,
                "final_test_acc": h.test_acc[-1] if h.test_acc else None,
                "test_acc_per_instance": h.test_acc_per_instance,
                "backend_stats": trainer.net.backend.stats.to_dict(),
                "capped_updates": trainer.net.capped_updates,
                "algorithm": repr(step),
            },
        }
        trainer.save(save, extra)

    desc = f"{opts.algo} {opts.dataset}"
    done_before = trainer.epoch * len(trainer.data.x_train) + trainer.position
    while trainer.epoch < epochs:
        target = trainer.epoch + 1
        left = None
        if stop_after is not None:
            done = trainer.epoch * len(trainer.data.x_train) + trainer.position - done_before
            left = stop_after - done
            if left <= 0:
                break
        before = len(trainer.history.test_acc)
        trainer.run(target, progress=not args.no_progress, desc=desc, stop_after=left)
        if len(trainer.history.test_acc) > before:
            acc = trainer.history.test_acc[-1]
            print(f"epoch {trainer.epoch}: test accuracy {acc:.2f}%", flush=True)
        write()
        if trainer.epoch < target:  # stopped mid-epoch by --stop-after
            print(f"stopped after {stop_after} samples at epoch {trainer.epoch}, sample "
                  f"{trainer.position}", flush=True)
            return 0
    h = trainer.history
    final = h.test_acc[-1] if h.test_acc else float("nan")
    print(json.dumps({"algo": opts.algo, "dataset": opts.dataset, "device": opts.device,
                      "epochs": trainer.epoch, "test_acc": round(final, 3),
                      "pulses": trainer.net.backend.stats.pulses,
                      "program_reads": trainer.net.backend.stats.program_reads}))
    return 0
