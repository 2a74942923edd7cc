"""One co-simulation session: clock, reset, analog front-end, host driver, scoreboard.

:class:`Session` owns everything the testbench runs against the harness and
offers the controller's commands as coroutines (``read``, ``update``,
``program_device``, ``status``). :class:`insitu.sim.backend.RtlBackend` wraps
them for blocking code.
"""

from __future__ import annotations

import random
import time

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from insitu.golden import protocol as P
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import get_device

from .frontend import AnalogFrontEnd
from .host import StreamHost, UartHost, check_ok, codes_of, request
from .scoreboard import SlotScoreboard


def physics_from(params: dict, config: ControllerConfig) -> GoldenBackend:
    """The golden array behind the port: device preset, periphery, seed from ``params``."""
    device = get_device(params.get("device", "ecram_organic"))
    periphery = PeripheryParams(**params.get("periphery", {}))
    return GoldenBackend(config, device, periphery, seed=int(params.get("seed", 0)),
                         engine="numba", mapping=params.get("mapping", "differential"))


class Session:
    """Everything around the harness ``dut`` for one run described by ``params``."""

    def __init__(self, dut, params: dict):
        self.dut = dut
        self.params = params
        design = params["design"]
        self.config = ControllerConfig.from_dict(design["config"])
        self.host_kind = design["host"]
        self.clock_ns = float(params.get("clock_ns", 10))
        self.sizes = params["sizes"]
        self.physics = physics_from(params, self.config)
        busy_rng = random.Random(params["busy_seed"]) if params.get("busy_seed") is not None else None
        self.frontend = AnalogFrontEnd(dut, self.config, self.physics,
                                       slot_depth=self.sizes["SLOT_DEPTH"], busy_rng=busy_rng,
                                       clock_ns=self.clock_ns,
                                       track_commands=params.get("task") != "train")
        self.scoreboard = SlotScoreboard(self.config)
        self.frontend.on_burst.append(self._burst)
        self.reference = ControllerReference(self.config)
        self.check_slots = bool(params.get("check_slots", True))
        self.host_py_s = 0.0  # Python time of the command coroutines (not the host transactor waits)
        self._t = 0.0
        # training: answer a read's conversions at its first event (one wake per read)
        self.predict_reads = bool(params.get("predict_reads", params.get("task") == "train"))
        self._program_cell = None
        self._program_bursts = 0
        self.last_counts = np.zeros((self.config.rows, self.config.cols), dtype=np.int64)
        self.burst_log = None  # a list: sparse (row, col, count) triples of every burst
        if self.host_kind == "stream":
            self.host = StreamHost(dut, self.config, self.frontend, self.sizes, self.clock_ns)
        else:
            self.host = UartHost(dut, self.config, self.frontend, design["uart_divisor"], self.clock_ns)

    async def start(self) -> None:
        d = self.dut
        d.tb_seed.value = int(self.params.get("tb_seed", 1)) & 0xFFFFFFFF
        d.rst.value = 1
        if self.host_kind == "stream":
            self.host.init(self.params.get("rx_pause", 0), self.params.get("tx_pause", 0))
        else:
            self.host.init()
        self.frontend.start()
        Clock(d.clk, self.clock_ns, "ns").start()
        await ClockCycles(d.clk, 4)
        d.rst.value = 0
        await RisingEdge(d.clk)

    def cycles(self) -> int:
        from cocotb.utils import get_sim_time

        return int(get_sim_time("ns") / self.clock_ns)

    # ------------------------------------------------------------------ scoreboard hook
    def _burst(self, pol, rows, cols, counts):
        self.last_counts = counts
        if self.burst_log is not None:
            i, j = np.nonzero(counts)
            self.burst_log.append(np.stack([i, j, counts[i, j]], axis=1).tolist())
        if self._program_cell is not None:
            r, c = self._program_cell
            self._program_bursts += 1
            n = len(pol)
            ok = (1 <= n <= self.config.count_max and np.all(pol == pol[0]) and rows[:, r].all()
                  and cols[:, c].all() and rows.sum() == n and cols.sum() == n)
            if not ok:
                self.scoreboard.errors.append(f"write-verify step on ({r}, {c}) fired {n} slots "
                                              f"elsewhere or with mixed polarity")
            return
        self.scoreboard.burst(pol, rows, cols, counts)

    # ------------------------------------------------------------------ commands
    async def command(self, frames: list[bytes], timeout_cycles: int = 200_000) -> list[P.Response]:
        self.host_py_s += time.perf_counter() - self._t
        rs = await self.host.transact(frames, timeout_cycles)
        self._t = time.perf_counter()
        return rs

    def _tic(self):
        self._t = time.perf_counter()

    def _toc(self):
        self.host_py_s += time.perf_counter() - self._t

    async def read(self, codes, l0: int, o0: int, n: int, transpose: bool) -> np.ndarray:
        """LOAD_VECTOR + FORWARD (or TRANSPOSE) in one batch; the ADC codes of lines [o0, o0+n)."""
        self._tic()
        codes = [int(c) for c in codes]
        side = P.Side.COLS if transpose else P.Side.ROWS
        load = request(P.Opcode.LOAD_VECTOR, side=side, offset=l0, codes=codes)
        if transpose:
            read = request(P.Opcode.TRANSPOSE, row0=o0, nrows=n, col0=l0, ncols=len(codes))
        else:
            read = request(P.Opcode.FORWARD, row0=l0, nrows=len(codes), col0=o0, ncols=n)
        if self.predict_reads:
            c = self.config
            events = [pos for pos in self.reference.adc_positions(o0, o0 + n)
                      for _ in range(c.adc_average)]
            self.frontend.expect_read("row" if transpose else "col", events)
        r_load, r_read = await self.command([load, read])
        if self.predict_reads:
            self.frontend.verify_reads()
        check_ok(r_load)
        out = codes_of(r_read)
        self._toc()
        return out

    async def update(self, cx, cd, mode: str, row_gain: int, col_gain: int, dither: bool,
                     row0: int, col0: int) -> int:
        """LOAD x, LOAD d, UPDATE in one batch; the slots the controller reports."""
        self._tic()
        cx = [int(c) for c in cx]
        cd = [int(c) for c in cd]
        frames = [
            request(P.Opcode.LOAD_VECTOR, side=P.Side.ROWS, offset=row0, codes=cx),
            request(P.Opcode.LOAD_VECTOR, side=P.Side.COLS, offset=col0, codes=cd),
            request(P.Opcode.UPDATE, mode=int(mode == "stochastic"),
                             flags=P.UPDATE_FLAG_DITHER if dither else 0, row_gain=row_gain,
                             col_gain=col_gain, row0=row0, nrows=len(cx), col0=col0, ncols=len(cd)),
        ]
        plan = self.reference.plan_update(np.array(cx), np.array(cd), mode=mode, row_gain=row_gain,
                                          col_gain=col_gain, dither=dither, row0=row0, col0=col0)
        if self.check_slots:
            self.scoreboard.expect_update(self.reference, plan, row0, col0)
        else:
            self.scoreboard.expect_any()
        timeout = 10_000 + 4 * plan.slots * (self.config.pulse_width + self.config.pulse_gap)
        rs = await self.command(frames, timeout)
        for r in rs:
            check_ok(r)
        f = rs[2].fields()
        if f["slots"] != plan.slots or f["lfsr_draws"] != self.reference.lfsr.draws & 0xFFFFFFFF:
            raise AssertionError(f"UPDATE answered {f}, reference slots {plan.slots} draws "
                                 f"{self.reference.lfsr.draws}")
        self._toc()
        return int(f["slots"])

    async def program_device(self, row: int, col: int, target: int, tolerance: int, shift: int,
                             read_code: int) -> dict:
        """One PROGRAM command (write-verify of one device)."""
        frame = request(P.Opcode.PROGRAM, row=row, col=col, target=int(target),
                                 tolerance=tolerance, shift=shift, read_code=read_code)
        self._program_cell, self._program_bursts = (row, col), 0
        c = self.config
        per_iter = 200 + c.count_max * (c.pulse_width + c.pulse_gap) + 4 * (
            c.settle_ticks + c.adc_average * (c.convert_ticks + 8))
        try:
            (r,) = await self.command([frame], 10_000 + c.max_program_iters * per_iter)
        finally:
            self._program_cell = None
        check_ok(r)
        f = r.fields()
        steps = f["reads"] - f["converged"]
        if self._program_bursts != steps:
            raise AssertionError(f"PROGRAM ({row}, {col}): {self._program_bursts} pulse bursts seen, "
                                 f"response says {f['reads']} reads, converged {f['converged']}")
        return f

    async def status(self) -> dict:
        (r,) = await self.command([request(P.Opcode.STATUS)])
        check_ok(r)
        return r.fields()

    def finish(self) -> None:
        self.frontend.stop()
        if int(self.dut.pulse_fault.value):
            raise AssertionError("a pulse enable was high while read levels were latched")
        self.scoreboard.check()

