"""One co-simulation session: clock, reset, analog front-end, monitors, and the host link.

:class:`Session` owns what the testbench adds around the harness ``dut``: the
clock and reset, the analog front-end over the golden physics, the host-link
monitor and the slot scoreboard it feeds. The controller is driven by the one
host interface (:class:`insitu.host.interface.HostInterface`, :attr:`Session.link`)
over the harness's stream port or UART pins (:mod:`insitu.host.cocotb`): the host
code a board runs.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import get_device
from insitu.host.cocotb import StreamTransport, UartTransport
from insitu.host.interface import HostInterface

from .frontend import AnalogFrontEnd
from .harness import monitor_message
from .monitor import CommandMonitor
from .scoreboard import SlotScoreboard


def physics_from(params: dict, config: ControllerConfig) -> GoldenBackend:
    """The golden array behind the port: device preset, periphery, seed from ``params``."""
    device = get_device(params.get("device", "ecram_organic"))
    periphery = PeripheryParams(**params.get("periphery", {}))
    return GoldenBackend(config, device, periphery, seed=int(params.get("seed", 0)),
                         engine="numba", mapping=params.get("mapping", "differential"))


def command_bound_cycles(config: ControllerConfig) -> tuple[int, int]:
    """Generous clock-cycle bounds of one batch and of one PROGRAM (write-verify loop)."""
    c = config
    slot = c.pulse_width + c.pulse_gap
    batch = max(200_000, 10_000 + 16 * max(c.count_max ** 2, c.bl) * slot)
    per_iter = 200 + c.count_max * slot + 4 * (c.settle_ticks + c.adc_average * (c.convert_ticks + 8))
    return batch, 10_000 + c.max_program_iters * per_iter


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
                                       slot_depth=self.sizes["SLOT_DEPTH"],
                                       mux_bits=self.sizes["MUXW"],
                                       width_bits=self.sizes["WIDTH_BITS"], busy_rng=busy_rng,
                                       clock_ns=self.clock_ns,
                                       track_commands=params.get("task") != "train")
        self.frontend.fail = self.fail  # its first failed check is the run's verdict
        self.scoreboard = SlotScoreboard(self.config)
        # training: answer a read's conversions at its first event (one wake per read)
        self.monitor = CommandMonitor(
            self.config, self.frontend, self.scoreboard,
            check_slots=bool(params.get("check_slots", True)),
            predict_reads=bool(params.get("predict_reads", params.get("task") == "train")))
        if self.host_kind == "stream":
            self.transport = StreamTransport(dut, rx_bytes=self.sizes["RXB"],
                                             tx_bytes=self.sizes["TXB"], monitor=self.monitor)
        else:
            self.transport = UartTransport(dut, design["uart_divisor"] * self.clock_ns,
                                           monitor=self.monitor)
        #: ``params["waveform_monitor"] = False`` ignores the waveform monitor's verdict (an
        #: experiment: which other check of the contract catches a timing fault)
        self.waveform_monitor = bool(params.get("waveform_monitor", True))
        batch, program = command_bound_cycles(self.config)
        self.link = HostInterface(self.transport, config=self.config,
                                  timeout=batch * self.clock_ns * 1e-9,
                                  program_timeout=program * self.clock_ns * 1e-9, retries=0)

    async def start(self, attach: bool = True) -> None:
        """Clock and reset; with ``attach`` the analog front-end and the waveform watcher.

        ``attach=False`` drives the converter inputs to their idle values and starts nothing
        in Python (a replay of recorded traffic, the speed reference).
        """
        d = self.dut
        d.tb_seed.value = int(self.params.get("tb_seed", 1)) & 0xFFFFFFFF
        d.rst.value = 1
        if self.host_kind == "stream":
            self.transport.init(self.params.get("rx_pause", 0), self.params.get("tx_pause", 0))
        else:
            self.transport.init()
        self.frontend.start(watch=attach)
        Clock(d.clk, self.clock_ns, "ns").start()
        await ClockCycles(d.clk, 4)
        d.rst.value = 0
        await RisingEdge(d.clk)
        if not attach:
            return
        # the waveform monitor latches the first violation: fail the run there (one wake)
        if self.waveform_monitor:
            self._monitor_task = cocotb.start_soon(self._watch_waveform())

    def waveform_violation(self) -> str | None:
        """The waveform monitor's first violation as one line, or None."""
        d = self.dut
        if not int(d.mon_fault.value):
            return None
        return monitor_message(self.config, int(d.mon_rule.value), int(d.mon_cycle.value),
                               int(d.mon_index.value))

    async def _watch_waveform(self) -> None:
        await RisingEdge(self.dut.mon_fault)
        await ReadOnly()
        self.fail(self.waveform_violation())

    def fail(self, message: str):
        """Fail the run with a one-line verdict (also left for the runner to report)."""
        if self.params.get("failure_file"):
            from pathlib import Path

            path = Path(self.params["failure_file"])
            if not path.exists():  # the first verdict is the one that counts
                path.write_text(message + "\n")
        raise AssertionError(message)

    def cycles(self) -> int:
        from cocotb.utils import get_sim_time

        return int(get_sim_time("ns") / self.clock_ns)

    def finish(self) -> None:
        self.frontend.stop()
        violation = self.waveform_violation() if self.waveform_monitor else None
        if violation is not None:
            self.fail(violation)
        if int(self.dut.pulse_fault.value):
            raise AssertionError("a pulse enable was high while read levels were latched")
        self.scoreboard.check()
