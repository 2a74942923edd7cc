"""``insitu demo``: the main job in one command."""

from __future__ import annotations

from insitu.golden.presets import PRESETS
from insitu.golden.validate import check_float, check_int


def add_parser(sub):
    p = sub.add_parser(
        "demo",
        help="train a 64-32-10 MLP on digits in situ (ECRAM, RRAM) next to float backprop",
        description="Train a 64-32-10 MLP on scikit-learn's 8x8 digits through the golden model "
        "with the ecram_organic and rram_oxide presets, one sample at a time with in-situ pulse "
        "updates, and compare with float backprop of the same network. Writes results.json and "
        "demo.png.",
    )
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument("--device", action="append", choices=sorted(PRESETS), default=None,
                   help="device preset(s) to train (repeatable; default ecram_organic and "
                   "rram_oxide)")
    p.add_argument("--family", default="agad", choices=("agad", "cttv2", "ttv2", "ttv1", "none"),
                   help="also train rram_oxide with this Tiki-Taka variant (default agad)")
    p.add_argument("--out", default=".", help="folder for results.json and demo.png (default .)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from insitu.demo import run_demo

    check_int("--epochs", args.epochs, 1, 1000)
    check_float("--lr", args.lr, 0.0, 10.0, lo_open=True)
    check_int("--seed", args.seed, 0, 2**31 - 1)
    devices = tuple(args.device or ("ecram_organic", "rram_oxide"))
    res = run_demo(epochs=args.epochs, lr=args.lr, seed=args.seed, devices=devices,
                   out_dir=args.out, progress=not args.no_progress,
                   family=None if args.family == "none" else args.family)
    runs = res["runs"]
    fl = runs["float"]["final_test_acc"]
    print(f"64-32-10 MLP on digits, {args.epochs} epochs, one sample at a time")
    print(f"  float backprop (numpy)            test accuracy {fl:5.1f}%")
    for name in [n for n in runs if n != "float"]:
        r = runs[name]
        print(f"  in situ, {name:<20} test accuracy {r['final_test_acc']:5.1f}%"
              f"  ({r['final_test_acc'] - fl:+.1f} points, {r['pulses']:,} device pulses, "
              f"{r['seconds']:.1f} s)")
    print(f"wrote {args.out}/results.json and {args.out}/demo.png")
    return 0
