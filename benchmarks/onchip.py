"""The on-chip trainer's fixed-point spec against host-side float PGD, and what each
fixed-point choice costs.

64-32-10 MLP on digits, per sample, organic ECRAM (``ecram_organic``), ``--draws`` device
draws trained side by side, ``--epochs`` epochs at lr 0.1; accuracy = the mean over the draws of
the last three epochs' test accuracy. ``host_pgd_acc``: :class:`~insitu.golden.algorithms.pgd.PGD`
on :class:`~insitu.golden.nn.CrossbarMLP` (float activations, softmax, abs-max scaling);
``onchip_acc``: :class:`~insitu.golden.onchip.OnChipTrainer` with its defaults (8-bit tables,
leading-one shifts, sigmoid); ``ablation`` the same with one choice changed at a time.

The controller-side figures (``--rtl-samples N``, default 20; 0 skips them; ``--no-accuracy``
skips the accuracy runs): the same network through the generated Verilog with the trainer
engine (Verilator, :mod:`insitu.sim.onchip`): ``cycles_per_sample`` (one TRAIN, clock cycles,
the simulation's converter timing), ``board_cycles_per_sample`` (the same TRAIN with the ULX3S
SPI converter adapters' frame timings and enable-chain pulse gap, :func:`board_cycles_per_sample`),
``identical`` (every ADC conversion, pulse burst, answer
and the final conductances equal the golden on-chip reference, in both runs below), the stream
port: ``stream_cycles_per_sample`` (TRAIN requests back to back, ``HostInterface.train_samples``:
the host link takes the next sample while one trains) against
``stream_cycles_per_sample_one_by_one`` (each request after the previous answer; also
``cycles_per_sample``), and ``trainer_busy_fraction`` (the share of those ticks the trainer
engine is busy; near 1: the link is not the bottleneck), and the link:
``link_bytes_per_sample_onchip`` (a TRAIN request and its answer) against
``link_bytes_per_sample_host`` (the host-in-the-loop PGD of today's protocol, same network:
the LOAD_VECTOR / FORWARD / TRANSPOSE / UPDATE batches of :class:`~insitu.host.LinkBackend`,
counted on the in-process fake). ``board_samples_per_s_*``: at the ULX3S build clock (50 MHz)
over the 115200-baud UART (10 bits a byte): on-chip as ``HostInterface.train_samples`` sends them
(``run_ahead_samples`` TRAIN requests ahead, what the receive FIFO holds, :func:`run_ahead_seconds`;
``_one_by_one``: ``1 / (link time + board cycles / clock)``, request, training, answer in turn), host
``1 / link time`` (its controller time left out: an upper bound for the host, so the ratio is
a lower bound).

Usage: python benchmarks/onchip.py [--epochs 20] [--draws 4] [--quick] [--rtl-samples 20]
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


ULX3S_HZ = 50e6
UART_BAUD = 115200


class _CountingTransport:
    """The fake controller, counting the bytes each way."""

    flow_control = True

    def __init__(self, inner):
        self.inner = inner
        self.sent = self.received = 0

    def exchange(self, data, responses, timeout):
        raw = self.inner.exchange(data, responses, timeout)
        self.sent += len(data)
        self.received += len(raw)
        return raw


def link_bytes_host(data, samples: int, seed: int) -> float:
    """Bytes per training sample of host-in-the-loop PGD over today's protocol (the fake)."""
    from insitu.golden.backends import GoldenBackend
    from insitu.golden.nn import layout_config
    from insitu.golden.periphery import PeripheryParams
    from insitu.host import HostInterface, LinkBackend, ReferenceTransport
    from insitu.sim.checks import GoldenAnalog

    cfg = layout_config(SIZES, None)
    chip = GoldenBackend(cfg, ecram_organic, PeripheryParams(), seed=seed, engine="numba")
    counting = _CountingTransport(ReferenceTransport(cfg, GoldenAnalog(chip, cfg)))
    net = CrossbarMLP(LinkBackend(HostInterface(counting, config=cfg), ecram_organic), SIZES)
    w = [np.random.default_rng(seed).uniform(-0.3, 0.3, (s + 1, t)) for s, t in
         zip(SIZES[:-1], SIZES[1:])]
    for lw, wl in zip(net.layers, w):  # the golden array directly: programming is not counted
        chip.program(wl, 0, lw.col0)
    step, onehot = PGD(), np.eye(10)
    for i in range(samples):
        step(net, data.x_train[i][None], onehot[data.y_train[i]][None], LR)
    return (counting.sent + counting.received) / samples


def board_cycles_per_sample(cfg, rtl: dict) -> dict:
    """One TRAIN's clock cycles on the ULX3S board core (50 MHz) with the SPI converter
    adapters of :mod:`insitu.boards.converters`, from the simulated run's cycles and counts.

    The simulation's converters answer after ``convert_ticks`` and its slots last
    ``pulse_width + pulse_gap``; on the board every conversion (one mux position of
    ``adcs`` ADS8688s) holds ``busy`` for ``adcs`` two-frame SPI reads, every DAC level strobe
    costs at most one full daisy-chain update (the conversion after it waits for the chain's
    ``ready``), and every pulse slot lasts ``pulse_width`` plus the enable chains' gap
    (:func:`~insitu.boards.core.board_config`). The strobes are counted at a full update
    each, so the figure is an upper bound of the board's time (a lower bound of its rate)."""
    from insitu.boards.converters import Ads8688Reader, DacChain
    from insitu.boards.core import board_config

    board = board_config(cfg, ULX3S_HZ)
    dac = DacChain(board, ULX3S_HZ, levels="memory")
    adc = Ads8688Reader(board, ULX3S_HZ)
    dac._MustUse__silence = adc._MustUse__silence = True  # only their timing is asked
    conversion = cfg.adcs * adc.conversion_ticks()
    extra = {
        "conversions": rtl["conversions_per_sample"] * (conversion - cfg.convert_ticks),
        "dac_updates": rtl["dac_strobes_per_sample"] * dac.update_ticks(),
        "pulse_slots": rtl["slots_per_sample"] * (board.pulse_gap - cfg.pulse_gap),
    }
    return {"board_cycles_per_sample": round(rtl["cycles_per_sample"] + sum(extra.values()), 1),
            "board_extra_cycles": {k: round(v, 1) for k, v in extra.items()},
            "board_timing": {"conversion_ticks": conversion, "dac_update_ticks": dac.update_ticks(),
                             "pulse_gap": board.pulse_gap,
                             "conversions_per_sample": rtl["conversions_per_sample"],
                             "dac_strobes_per_sample": rtl["dac_strobes_per_sample"],
                             "slots_per_sample": rtl["slots_per_sample"]}}


def run_ahead_seconds(batch: int, t_request: float, t_response: float, t_train: float) -> float:
    """Seconds for ``batch`` TRAIN requests sent back to back until the last answer is out:
    the controller starts a sample once its frame is in (the UART's receive FIFO holds the
    ones that come meanwhile) and the previous answer has left (it waits for its response
    bytes to go out)."""
    end = 0.0
    for i in range(1, batch + 1):
        end = max(i * t_request, end) + t_train + t_response
    return end


def controller_figures(samples: int, seed: int) -> dict:
    """Cycles per TRAIN and identity from the RTL, link bytes both ways, board samples/s."""
    from insitu.golden import protocol as P
    from insitu.sim import onchip, runner

    params = onchip.with_data({"model": "digits", "samples": samples, "tests": 10, "seed": seed,
                               "lr": LR})
    cfg = onchip.controller_config(params)
    bld = runner.build(runner.Design(cfg, trainer=OnChipConfig(**params["onchip"], lr=LR)),
                       "verilator")
    golden = onchip.golden_onchip(params)
    # one by one (each TRAIN waits for the previous answer) and streamed (back to back, the
    # next sample taken while one trains): the same training, both checked against the golden
    rtl = runner.run(bld, {"task": "onchip", **params, "streaming": False})
    streamed = runner.run(bld, {"task": "onchip", **params, "streaming": True})
    diffs = (onchip.compare_onchip(golden, rtl)
             + [f"streamed: {d}" for d in onchip.compare_onchip(golden, streamed)])
    train = (P.FRAME_OVERHEAD + 1 + SIZES[0] * P.SAMPLE_CODE_BYTES
             + P.RESPONSE_OVERHEAD + P.fields_size(P.RESPONSE_FIELDS[P.Opcode.TRAIN]))
    host = link_bytes_host(datasets.load("digits", seed=0), 5, seed)
    byte_s = 10 / UART_BAUD
    board = board_cycles_per_sample(cfg, rtl)
    t_comp = board["board_cycles_per_sample"] / ULX3S_HZ
    request = P.FRAME_OVERHEAD + 1 + SIZES[0] * P.SAMPLE_CODE_BYTES
    ahead = P.run_ahead_bytes(cfg) // request  # TRAIN frames HostInterface.train_samples sends ahead
    out = {"rtl_samples": samples, "identical": not diffs,
           "first_difference": diffs[0] if diffs else None,
           "cycles_per_sample": round(rtl["cycles_per_sample"], 1),
           # the stream port (simulation timing): back to back with the run-ahead, one by one
           "stream_cycles_per_sample": round(streamed["cycles_per_sample"], 1),
           "stream_cycles_per_sample_one_by_one": round(rtl["cycles_per_sample"], 1),
           "trainer_busy_fraction": round(streamed["trainer_busy_fraction"], 4),
           "trainer_busy_fraction_one_by_one": round(rtl["trainer_busy_fraction"], 4),
           "cycles_per_inference": round(rtl["cycles_per_inference"], 1),
           **board,
           "link_bytes_per_sample_onchip": train,
           "link_bytes_per_sample_host": round(host, 1),
           "board_samples_per_s_onchip": round(ahead / run_ahead_seconds(
               ahead, request * byte_s, (train - request) * byte_s, t_comp), 1),
           "board_samples_per_s_onchip_one_by_one": round(1 / (train * byte_s + t_comp), 1),
           "run_ahead_samples": ahead,
           "board_samples_per_s_host": round(1 / (host * byte_s), 2)}
    out["link_bytes_ratio"] = round(host / train, 1)
    out["board_speedup"] = round(out["board_samples_per_s_onchip"]
                                 / out["board_samples_per_s_host"], 1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="no ablations")
    ap.add_argument("--rtl-samples", type=int, default=20,
                    help="TRAIN samples through the Verilog for the controller figures (0: none)")
    ap.add_argument("--no-accuracy", action="store_true", help="only the controller figures")
    args = ap.parse_args(argv)
    data = datasets.load("digits", seed=0)
    out = {"epochs": args.epochs, "draws": args.draws}
    if args.rtl_samples:
        out.update(controller_figures(args.rtl_samples, args.seed))
        print({k: v for k, v in out.items() if k not in ("epochs", "draws")}, flush=True)
    if args.no_accuracy:
        print(json.dumps(out))
        return 0
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
