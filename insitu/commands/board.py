"""``insitu board``: talk to a controller on an FPGA board over its USB-serial port."""

from __future__ import annotations

import argparse

ACTIONS = ("ping", "read", "train")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "board",
        help="ping, read or train the array behind a board built with 'insitu build'",
        description="Connect to the controller on a board (insitu.host) over a serial "
                    "port. ping: print the controller's STATUS. read: single-device reads of "
                    "the whole array (ADC codes). train: a small MLP trained in situ on the "
                    "array (CrossbarMLP on a BoardBackend).",
    )
    parser.add_argument("action", choices=ACTIONS, help="what to do: ping, read or train")
    parser.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or COM3")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="seconds to wait for each response (default 1.0)")
    parser.add_argument("--device", default="ecram_organic",
                        help="device preset or fitted .json describing the array (weight units; "
                             "default ecram_organic)")
    parser.add_argument("--dataset", default="xor", choices=("xor", "iris"),
                        help="train: dataset (default xor)")
    parser.add_argument("--hidden", type=int, default=3, help="train: hidden units (default 3)")
    parser.add_argument("--epochs", type=int, default=5, help="train: epochs (default 5)")
    parser.add_argument("--lr", type=float, default=0.5, help="train: learning rate (default 0.5)")
    parser.add_argument("--seed", type=int, default=0, help="train: seed (default 0)")
    parser.add_argument("--on-chip", action="store_true", dest="on_chip",
                        help="train: on the controller's trainer engine (a build with it): one "
                             "TRAIN command per sample, INFER for the test set")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    import numpy as np

    from insitu.boards.host import BoardBackend
    from insitu.host.interface import HostInterface
    from insitu.golden.presets import get_device

    if args.timeout <= 0:
        raise ValueError("--timeout must be positive")
    device = get_device(args.device)
    ctrl = HostInterface(args.port, baud=args.baud, timeout=args.timeout)  # ValueError without a port
    try:
        if args.action == "ping":
            for k, v in ctrl.status().items():
                print(f"{k:>13} {v}")
            return 0
        backend = BoardBackend(ctrl, device)
        if args.action == "read":
            codes = backend.read_codes()
            for row in codes:
                print(" ".join(f"{int(c):6d}" for c in row))
            return 0
        from insitu.golden.datasets import load
        from insitu.golden.nn import CrossbarMLP

        data = load(args.dataset, seed=args.seed)
        sizes = (data.features, args.hidden, data.classes)
        net = CrossbarMLP(backend, sizes)  # ValueError if the board's array is too small
        rng = np.random.default_rng(args.seed)
        net.init_weights(rng)
        if args.on_chip:
            return _train_on_chip(ctrl, net, data, args, rng)
        onehot = np.eye(data.classes)
        for epoch in range(args.epochs):
            for i in rng.permutation(len(data.x_train)):
                net.backprop_step(data.x_train[i][None], onehot[data.y_train[i]][None], args.lr)
            acc = float(np.mean(net.predict(data.x_test)[0] == data.y_test))
            print(f"epoch {epoch + 1}: test accuracy {acc:.3f}")
        return 0
    finally:
        ctrl.close()


def _train_on_chip(ctrl, net, data, args, rng) -> int:
    """The trainer engine trains: the host sends the constants once, then only samples."""
    import numpy as np

    from insitu.golden.onchip import OnChipConfig, OnChipTrainer

    step = OnChipTrainer(OnChipConfig(lr=args.lr))
    k = step.constants(net, args.lr)
    ctrl.configure_network(net.sizes, k["zm"], k["r"], shift=k["zs"])
    D = k["D"]

    def codes(x):
        return np.floor(np.asarray(x) * D + 0.5).astype(np.int64)

    for epoch in range(args.epochs):
        order = rng.permutation(len(data.x_train))  # sent ahead: the link never waits
        ctrl.train_samples([codes(data.x_train[i]) for i in order],
                           [int(data.y_train[i]) for i in order])
        pred = np.array(ctrl.infer_samples([codes(x) for x in data.x_test]))
        print(f"epoch {epoch + 1}: test accuracy {float(np.mean(pred == data.y_test)):.3f} "
              f"(on chip)")
    return 0
