"""The controller top: host link + controller + analog port, with a UART or a byte-stream host side."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from .analog import AnalogPortSignature
from .controller import Controller
from .hostlink import HostLink
from .uart import UartRx, UartTx, check_divisor, rx_fifo_depth

HOSTS = ("stream", "uart")
DEFAULT_UART_DIVISOR = 104  # 12 MHz / 115200 baud

def check_host_args(host: str, uart_divisor: int, timeout_cycles: int | None = None) -> int:
    """Validate the host-side parameters; return the inter-byte timeout to use."""
    if host not in HOSTS:
        raise ValueError(f"host must be one of {', '.join(HOSTS)}; got {host!r}")
    check_divisor(uart_divisor)
    if timeout_cycles is None:
        timeout_cycles = 40 * uart_divisor if host == "uart" else 1000
    if isinstance(timeout_cycles, bool) or not isinstance(timeout_cycles, int) or timeout_cycles < 2:
        raise ValueError(f"timeout_cycles must be an integer >= 2, got {timeout_cycles!r}")
    return timeout_cycles


class ControllerTop(wiring.Component):
    """Everything between the host and the chip.

    Parameters
    ----------
    config : ControllerConfig
    host : "stream" or "uart"
        ``stream``: byte streams ``host_rx`` / ``host_tx`` (a SoC, or fast
        simulation without bit timing); ``uart``: pins ``uart_rx`` / ``uart_tx``.
    uart_divisor : int
        Clock ticks per UART bit (``uart`` only).
    timeout_cycles : int or None
        Inter-byte timeout inside a request frame; default four byte times on
        a UART, 1000 ticks on a stream.
    levels : "registers" or "memory"
        Read levels as one register per line (default) or as a RAM read port
        (``AnalogPortSignature``; the board builds, whose DAC chain is serial).
    trainer : OnChipConfig or None
        Build the trainer engine with these tables (``insitu.rtl.trainer``).
    run_ahead : bool or None
        The host link takes the next frame while a command executes (two payload banks,
        :class:`~insitu.rtl.hostlink.HostLink`); default on for ``stream`` (the link is then
        never what a run of TRAIN frames waits for), off for ``uart`` (its receive FIFO
        buffers the frames that come meanwhile).

    Attributes
    ----------
    analog : Out(AnalogPortSignature(config))
    host_rx : In(stream.Signature(8)), host_tx : Out(stream.Signature(8))   (``stream``)
    uart_rx : In(1), uart_tx : Out(1)                                        (``uart``)
    trainer_busy : Out(1)
        The trainer engine runs a command (with a trainer): its busy fraction.
    """

    def __init__(self, config: ControllerConfig, *, host: str = "stream",
                 uart_divisor: int = DEFAULT_UART_DIVISOR, timeout_cycles: int | None = None,
                 levels: str = "registers", trainer=None, run_ahead: bool | None = None):
        self.trainer = trainer
        self.run_ahead = host == "stream" if run_ahead is None else bool(run_ahead)
        self.timeout_cycles = check_host_args(host, uart_divisor, timeout_cycles)
        self.config = config
        self.levels = levels
        self.host = host
        self.uart_divisor = uart_divisor
        members = {"analog": Out(AnalogPortSignature(config, levels))}
        if host == "stream":
            members["host_rx"] = In(stream.Signature(8))
            members["host_tx"] = Out(stream.Signature(8))
        else:
            members["uart_rx"] = In(1, init=1)
            members["uart_tx"] = Out(1, init=1)
        if trainer is not None:
            members["trainer_busy"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = HostLink(self.config, self.timeout_cycles, self.run_ahead)
        m.submodules.controller = ctrl = Controller(self.config, self.levels, self.trainer)
        wiring.connect(m, link.cmd, ctrl.cmd)
        if self.trainer is not None:
            m.d.comb += self.trainer_busy.eq(ctrl.trainer_busy)
        wiring.connect(m, ctrl.analog, wiring.flipped(self.analog))
        if self.host == "stream":
            wiring.connect(m, wiring.flipped(self.host_rx), link.rx)
            wiring.connect(m, link.tx, wiring.flipped(self.host_tx))
        else:
            m.submodules.uart_rx = rx = UartRx(self.uart_divisor)
            m.submodules.uart_tx = tx = UartTx(self.uart_divisor)
            m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(
                width=8, depth=rx_fifo_depth(self.config))
            m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
                         link.overrun.eq(rx.overrun)]  # a byte lost: counted in STATUS
            wiring.connect(m, rx.o, rx_fifo.w_stream)
            wiring.connect(m, rx_fifo.r_stream, link.rx)
            wiring.connect(m, link.tx, tx.i)
        return m
