"""Clock cycles of the controller's commands, counted in an Amaranth simulation of ControllerTop.

For 16x16 and 64x64 arrays (default ControllerConfig otherwise: 8-bit DACs,
10-bit ADC, one ADC per side, pulse width 2 + gap 1 ticks, settle 2, convert 4)
it runs, through the byte-stream host port with no stalls:

* one forward read and one transpose read of the full array;
* one full-array rank-1 update (deterministic, gains count_max; and stochastic,
  gains 2**prob_bits) from random full-scale x and d codes;
* write-verify (PROGRAM commands) of the same update on sampled devices.

All figures are for the **byte-stream host port** (``ControllerTop(host="stream")``: one
request byte per clock offered, responses taken at once). Over the UART pins every request
and response byte adds ten bit times (``10 * uart_divisor`` ticks) on top.

Each number is measured from the first request byte offered to the last
response byte taken, so framing, argument parsing and the response are
included for every command. Write-verify cost of the whole update is
extrapolated: the mean cycles per device programmed (measured on
``--program-samples`` devices drawn among those the update moves) times the
number of devices the update moves (devices it leaves alone are skipped, which
favours write-verify). For the sizes in ``--measure-all`` (default 16) every moved device
is programmed as well, and ``write_verify_extrapolation_error_<n>`` is (extrapolated -
measured) / measured. The stand-in device is ideal and noise free: read code
~ read_code * w / 16, one pulse moves w by one unit; write-verify targets the
code the update would produce, with shift 3 and tolerance 4, so it converges
in the fewest iterations count_max pulses per step allow. Real, noisy devices
need more iterations, so the speedup here is a lower bound.

Prints progress lines, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


from amaranth.sim import Simulator

from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference
from insitu.rtl.top import ControllerTop

READ_SHIFT = 4  # the stand-in device: code = (levels @ w) >> READ_SHIFT


class IdealArray:
    """Noise-free integer devices: w moves one unit per pulse and reads are exact."""

    def __init__(self, config: ControllerConfig, seed: int):
        self.config = config
        self.w = np.random.default_rng(seed).integers(-8, 9, (config.rows, config.cols))

    def read(self, drive_rows: bool, levels: np.ndarray) -> np.ndarray:
        out = levels @ self.w if drive_rows else self.w @ levels
        m = self.config.adc_max
        return np.clip(out >> READ_SHIFT, -m, m)

    def pulse(self, counts: np.ndarray) -> None:
        self.w = self.w + counts


def chip_model(top: ControllerTop, array: IdealArray):
    cfg = array.config
    port = top.analog
    R, C = cfg.rows, cfg.cols

    async def model(ctx):
        row_lv = np.zeros(R, dtype=np.int64)
        col_lv = np.zeros(C, dtype=np.int64)
        counts = np.zeros((R, C), dtype=np.int64)
        while True:
            await ctx.tick()
            if ctx.get(port.dac.strobe):
                rd, cd = ctx.get(port.dac.row), ctx.get(port.dac.col)
                row_lv = np.array([rd[i] for i in range(R)], dtype=np.int64)
                col_lv = np.array([cd[j] for j in range(C)], dtype=np.int64)
            for side, lines, drive_rows, levels in (("col", C, True, row_lv), ("row", R, False, col_lv)):
                if ctx.get(getattr(port.adc, side).start):
                    mux = ctx.get(getattr(port.adc, side).mux)
                    vals = array.read(drive_rows, levels)
                    data = [int(vals[mux * cfg.adcs + k]) if mux * cfg.adcs + k < lines else 0
                            for k in range(cfg.adcs)]
                    ctx.set(getattr(port.adc, side).data, data)
            if ctx.get(port.pulse.slot):
                re, ce = ctx.get(port.pulse.row), ctx.get(port.pulse.col)
                r = np.array([(re >> i) & 1 for i in range(R)])
                c = np.array([(ce >> j) & 1 for j in range(C)])
                counts += np.outer(r, c) * (-1 if ctx.get(port.pulse.pol) else 1)
            if ctx.get(port.update_done):
                array.pulse(counts)
                counts[:] = 0

    return model


def run_commands(config: ControllerConfig, frames: list[bytes], array: IdealArray) -> list[tuple[int, P.Response]]:
    """Send frames one after another; return (cycles, response) per frame."""
    top = ControllerTop(config, host="stream")
    results = []

    async def host(ctx):
        ctx.set(top.host_tx.ready, 1)
        for frame in frames:
            cycles = 0
            got = bytearray()
            dec = P.ResponseDecoder()
            responses = []
            pending = list(frame)
            while not responses:
                if pending:
                    ctx.set(top.host_rx.valid, 1)
                    ctx.set(top.host_rx.payload, pending[0])
                else:
                    ctx.set(top.host_rx.valid, 0)
                _, _, rx_ready, tx_valid, tx_byte = await ctx.tick().sample(
                    top.host_rx.ready, top.host_tx.valid, top.host_tx.payload)
                cycles += 1
                if pending and rx_ready:
                    pending.pop(0)
                if tx_valid:
                    got.append(tx_byte)
                    responses = dec.feed(bytes([tx_byte]))
            ctx.set(top.host_rx.valid, 0)
            results.append((cycles, responses[0]))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(chip_model(top, array), background=True)
    sim.run()
    return results


def update_frames(config: ControllerConfig, rng: np.random.Generator):
    m = config.dac_max
    x = rng.integers(-m, m + 1, config.rows)
    d = rng.integers(-m, m + 1, config.cols)
    loads = [P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0, codes=x),
             P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0, codes=d)]
    return x, d, loads


def measure_size(n: int, samples: int, seed: int, *, measure_all: bool = False) -> dict:
    cfg = ControllerConfig(rows=n, cols=n, seed=seed)
    rng = np.random.default_rng(seed)
    x, d, loads = update_frames(cfg, rng)
    full = dict(row0=0, nrows=n, col0=0, ncols=n)
    frames = loads + [
        P.encode_request(P.Opcode.FORWARD, **full),
        P.encode_request(P.Opcode.TRANSPOSE, **full),
        P.encode_request(P.Opcode.UPDATE, mode=0, flags=0, row_gain=cfg.count_max,
                         col_gain=cfg.count_max, **full),
        P.encode_request(P.Opcode.UPDATE, mode=1, flags=0, row_gain=cfg.prob_max,
                         col_gain=cfg.prob_max, **full),
    ]
    t0 = time.time()
    array = IdealArray(cfg, seed)
    w0 = array.w.copy()
    res = run_commands(cfg, frames, array)
    assert all(r.ok for _, r in res), [r for _, r in res]
    ref = ControllerReference(cfg)
    plan = ref.plan_update(x, d, mode="deterministic", row_gain=cfg.count_max, col_gain=cfg.count_max)
    assert res[4][1].fields()["slots"] == plan.slots
    load_d = res[1][0]
    out = {
        f"load_vector_cycles_{n}": res[0][0],
        f"forward_cycles_{n}": res[2][0],
        f"transpose_cycles_{n}": res[3][0],
        f"update_cycles_{n}": res[4][0],
        f"update_slots_{n}": plan.slots,
        f"update_stochastic_cycles_{n}": res[5][0],
    }

    # write-verify of the deterministic update: per-device targets = code after the update
    read_code = cfg.dac_max
    moved = np.argwhere(plan.counts != 0)
    pick = moved[rng.choice(len(moved), size=min(samples, len(moved)), replace=False)]
    wv_array = IdealArray(cfg, seed)
    wv_array.w = w0.copy()
    frames = []
    for i, j in pick:
        target_w = w0[i, j] + plan.counts[i, j]
        target = (read_code * target_w) >> READ_SHIFT
        frames.append(P.encode_request(P.Opcode.PROGRAM, row=int(i), col=int(j), target=int(target),
                                       tolerance=4, shift=3, read_code=read_code))
    def program_frame(i, j):
        target = (read_code * (w0[i, j] + plan.counts[i, j])) >> READ_SHIFT
        return P.encode_request(P.Opcode.PROGRAM, row=int(i), col=int(j), target=int(target),
                                tolerance=4, shift=3, read_code=read_code)

    res = run_commands(cfg, frames, wv_array)
    per_device = [c for c, _ in res]
    fields = [r.fields() for _, r in res]
    assert all(f["converged"] for f in fields), fields
    mean = float(np.mean(per_device))
    out.update({
        f"write_verify_cycles_per_device_{n}": round(mean, 1),
        f"write_verify_iterations_per_device_{n}": round(float(np.mean([f["reads"] for f in fields])), 2),
        f"write_verify_devices_{n}": int(len(moved)),
        f"write_verify_cycles_{n}": int(round(mean * len(moved))),
        f"update_speedup_{n}": round(mean * len(moved) / out[f"update_cycles_{n}"], 1),
        # the same, charging the update for loading x and d first
        f"update_speedup_with_loads_{n}": round(
            mean * len(moved) / (out[f"update_cycles_{n}"] + out[f"load_vector_cycles_{n}"] + load_d), 1),
        f"sim_seconds_{n}": round(time.time() - t0, 1),
    })
    if measure_all:  # the extrapolation against every moved device programmed
        all_array = IdealArray(cfg, seed)
        all_array.w = w0.copy()
        res = run_commands(cfg, [program_frame(i, j) for i, j in moved], all_array)
        assert all(r.fields()["converged"] for _, r in res)
        measured = sum(c for c, _ in res)
        out.update({
            f"write_verify_cycles_measured_{n}": int(measured),
            f"write_verify_extrapolation_error_{n}": round(
                (out[f"write_verify_cycles_{n}"] - measured) / measured, 4),
            f"update_speedup_measured_{n}": round(measured / out[f"update_cycles_{n}"], 1),
        })
    print(f"# {n}x{n}: " + ", ".join(f"{k}={v}" for k, v in out.items()), file=sys.stderr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 64], help="array sizes (n x n)")
    ap.add_argument("--program-samples", type=int, default=16,
                    help="devices programmed per size to measure write-verify cycles per device")
    ap.add_argument("--seed", type=int, default=1, help="seed of codes, devices and LFSRs")
    ap.add_argument("--measure-all", type=int, nargs="*", default=[16],
                    help="sizes whose write-verify is also measured on every moved device")
    args = ap.parse_args(argv)
    result = {"port": "stream",
              "method": "amaranth.sim cycles, byte-stream host port, request start to response end"}
    for n in args.sizes:
        result.update(measure_size(n, args.program_samples, args.seed,
                                   measure_all=n in args.measure_all))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
