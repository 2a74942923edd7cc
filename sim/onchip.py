"""The on-chip training contract: TRAIN / INFER through the Verilog against the golden on-chip step.

:func:`run_onchip` runs inside the simulator (task ``onchip`` of :mod:`insitu.sim.tb_cosim`):
the initial weights are programmed into the golden array behind the analog port directly
(the same call as in the golden run: this contract is about training, write-verify has its
own), the host sends CONFIGURE with the constants :meth:`OnChipTrainer.constants` derives,
then one TRAIN per training sample (``streaming``, the default: back to back with
:meth:`~insitu.host.interface.HostInterface.train_samples`, the next sample arriving while one
trains; else one by one) and one INFER per test sample. Meanwhile the host-link
monitor is :class:`~insitu.golden.protocol.ProtocolReference` with the trainer over a copy
of the array (:class:`~insitu.sim.checks.GoldenAnalog`), in lockstep: it queues the slot
schedule of every update a TRAIN makes (the scoreboard checks every pulse slot) and checks
every answer. The run records the conversion events the front-end answered, the pulse
bursts, the final conductances, and the answers.

:func:`golden_onchip` is the same run on the golden model alone
(:class:`~insitu.golden.onchip.OnChipTrainer` on a GoldenBackend, no protocol), and
:func:`compare_onchip` names the first difference of any kind.
"""

from __future__ import annotations

import copy

import numpy as np
from insitu.golden.config import ControllerConfig
from insitu.golden.nn import CrossbarMLP
from insitu.golden.onchip import OnChipConfig, OnChipTrainer

from . import training
from .session import physics_from


def check_params(params: dict) -> dict:
    """Training parameters of the on-chip run, completed (ValueError naming a bad one)."""
    p = {"model": "iris", "samples": 40, "tests": 20, "seed": 0, "device": "ecram_organic",
         "lr": 0.1, "onchip": {}, "config": {}, "periphery": {}, "streaming": True, **params}
    OnChipConfig(**{**p["onchip"], "lr": p["lr"]})
    if not isinstance(p["streaming"], bool):
        raise ValueError(f"streaming must be True or False, got {p['streaming']!r}")
    base = {k: p[k] for k in ("model", "samples", "seed", "device", "config", "periphery")}
    training.check_params(base)
    t = p["tests"]
    if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= 10**6:
        raise ValueError(f"tests must be an integer in [1, 1000000], got {t!r}")
    return p


def with_data(params: dict) -> dict:
    """``params`` with the dataset (the simulator process needs no scikit-learn)."""
    p = check_params(params)
    d = training.dataset(p["model"], p["seed"])
    p["data"] = {"name": d.name, "x_train": d.x_train.tolist(), "y_train": d.y_train.tolist(),
                 "x_test": d.x_test.tolist(), "y_test": d.y_test.tolist(), "classes": d.classes}
    return p


def controller_config(params: dict) -> ControllerConfig:
    p = check_params(params)
    return training.controller_config({k: p[k] for k in ("model", "seed", "config")}
                                      | ({"data": p["data"]} if "data" in p else {}))


def sample_order(n: int, samples: int, seed: int) -> np.ndarray:
    """Training sample indices: a fresh permutation per epoch (``Generator`` seeded)."""
    rng = np.random.default_rng(seed + 1)
    epochs = -(-samples // n)
    return np.concatenate([rng.permutation(n) for _ in range(epochs)])[:samples]


def _plan(params: dict):
    """Dataset, layer sizes, on-chip config and the input codes of every sample used."""
    p = check_params(params)
    data = training.dataset(p["model"], p["seed"], p.get("data"))
    sizes = training.sizes(p["model"], data)
    onchip = OnChipConfig(**{**p["onchip"], "lr": p["lr"]})
    return p, data, sizes, onchip


def _codes(x, D: int) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=float) * D + 0.5).astype(np.int64)


def _network(backend, p, sizes, onchip):
    net = CrossbarMLP(backend, sizes)
    net.init_weights(np.random.default_rng(p["seed"]))
    step = OnChipTrainer(onchip)
    return net, step, step.constants(net, onchip.lr)


def golden_onchip(params: dict) -> dict:
    """The run on the golden model alone: OnChipTrainer's integer step on a GoldenBackend."""
    p, data, sizes, onchip = _plan(params)
    cfg = controller_config(p)
    be = physics_from(p, cfg)
    net, step, k = _network(be, p, sizes, onchip)
    bursts = []

    def log(n, row0, col0):
        i, j = np.nonzero(n[0])
        bursts.append(np.stack([i + row0, j + col0, n[0][i, j]], axis=1).tolist())

    be.burst_observer = log
    train = []
    for idx in sample_order(len(data.x_train), p["samples"], p["seed"]):
        t = np.zeros((1, sizes[-1]), dtype=np.int64)
        t[0, int(data.y_train[idx])] = 1
        out = step.step_codes(net, _codes(data.x_train[idx], k["D"])[None], t, k)
        train.append([int(out["prediction"][0]), int(out["loss"][0])])
    test = [int(step.infer(net, _codes(x, k["D"])[None], k)[0]) for x in data.x_test[:p["tests"]]]
    return {"train": train, "test": test, "bursts": bursts, "g": be.conductances[0].tolist(),
            "test_acc": float(np.mean(np.array(test) == data.y_test[:p["tests"]]))}


def run_onchip(session, params: dict) -> dict:
    """The run through the controller behind ``session`` (blocking: call it in a bridge)."""
    p, data, sizes, onchip = _plan(params)
    physics, link, monitor = session.physics, session.link, session.monitor
    net, step, k = _network(physics, p, sizes, onchip)
    # the golden on-chip reference in lockstep, on a copy of the programmed array
    from .checks import GoldenAnalog

    monitor.trainer = onchip
    monitor.analog = GoldenAnalog(copy.deepcopy(physics), session.config)
    events = []
    session.frontend.on_conversion.append(
        lambda side, pos, a: events.append([side, int(pos), [int(v) for v in a]]))
    monitor.burst_log = []
    link.configure_network(sizes, k["zm"], k["r"], shift=k["zs"], activation=onchip.activation,
                           algorithm=onchip.algorithm)
    fe = session.frontend

    def analog_counts():  # conversions, DAC level strobes (16-bit harness counter), slots
        return fe.conversions, int(session.dut.dac_seq.value.to_unsigned()), fe.slots

    def busy():  # ticks the trainer engine has been busy (harness counter, 32 bits)
        return int(session.dut.busy_cycles.value.to_unsigned())

    order = sample_order(len(data.x_train), p["samples"], p["seed"])
    codes = [_codes(data.x_train[idx], k["D"]) for idx in order]
    labels = [int(data.y_train[idx]) for idx in order]
    c0, n0, b0 = session.cycles(), analog_counts(), busy()
    if p["streaming"]:  # back to back: the next sample arrives while one trains
        answers = link.train_samples(codes, labels)
    else:  # one by one: each request waits for the previous answer
        answers = [link.train_sample(x, y) for x, y in zip(codes, labels)]
    train = [[out["prediction"], out["loss"]] for out in answers]
    c1, n1, b1 = session.cycles(), analog_counts(), busy()
    tests = [_codes(x, k["D"]) for x in data.x_test[:p["tests"]]]
    if p["streaming"]:
        test = link.infer_samples(tests)
    else:
        test = [link.infer(x) for x in tests]
    c2 = session.cycles()
    ref = monitor.analog
    return {"train": train, "test": test, "bursts": monitor.burst_log,
            "g": physics.conductances[0].tolist(), "events": events,
            "reference_events": [[s, int(pos), list(a)] for s, pos, a in ref.events],
            "reference_g": ref.physics.conductances[0].tolist(),
            "cycles_per_sample": (c1 - c0) / max(1, len(train)),
            "streaming": p["streaming"],
            # the share of the training ticks the trainer engine computed (the rest: waiting
            # for a sample or for its answer to leave)
            "trainer_busy_fraction": ((b1 - b0) % (1 << 32)) / max(1, c1 - c0),
            # what one TRAIN asks of the converters and the pulse enables (board timing)
            "conversions_per_sample": (n1[0] - n0[0]) / max(1, len(train)),
            "dac_strobes_per_sample": ((n1[1] - n0[1]) % (1 << 16)) / max(1, len(train)),
            "slots_per_sample": (n1[2] - n0[2]) / max(1, len(train)),
            "cycles_per_inference": (c2 - c1) / max(1, len(test)),
            "test_acc": float(np.mean(np.array(test) == data.y_test[:p["tests"]]))}


def compare_onchip(golden: dict, rtl: dict) -> list[str]:
    """Differences, first of each kind (empty: identical): the conversion events (ADC codes)
    and final conductances against the lockstep reference, then every TRAIN answer, every
    INFER answer, every pulse burst and the final conductances against the golden run."""
    out = []
    ev, rev = rtl["events"], rtl["reference_events"]
    k = next((i for i, (a, b) in enumerate(zip(ev, rev)) if a != b), None)
    if k is not None:
        out.append(f"conversion {k}: rtl {ev[k]}, reference {rev[k]}")
    elif len(ev) != len(rev):
        out.append(f"conversions: rtl {len(ev)}, reference {len(rev)}")
    if rtl["g"] != rtl["reference_g"]:
        out.append("final conductances differ from the lockstep reference's")
    for key, name in (("train", "TRAIN"), ("test", "INFER")):
        a, b = golden[key], rtl[key]
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        if k is not None:
            out.append(f"{name} {k}: golden {a[k]}, rtl {b[k]}")
        elif len(a) != len(b):
            out.append(f"{name}: golden {len(a)} answers, rtl {len(b)}")
    a, b = golden["bursts"], rtl["bursts"]
    k = next((i for i, (x, y) in enumerate(zip(a, b))
              if training._burst_difference(i, x, y) is not None), None)
    if k is not None:
        out.append(training._burst_difference(k, a[k], b[k]))
    elif len(a) != len(b):
        out.append(f"pulse bursts: golden {len(a)}, rtl {len(b)}")
    ga, gb = np.array(golden["g"]), np.array(rtl["g"])
    if ga.shape != gb.shape or not np.array_equal(ga, gb):
        out.append("final conductances differ from the golden run's")
    return out
