"""The board core: controller, UART host link, converter adapters and the safety logic.

:class:`BoardCore` is everything a board top needs apart from clocks and pin
buffers, so it can be simulated as Verilog (cocotb, with models of the parts
on its pins) and built for any platform by :mod:`insitu.boards.tops`.

Safe state (all DAC outputs at mid-scale = 0 V on the lines, every pulse
enable off) is entered

* after reset (the DAC chain starts with a hardware RESET, OE of the enable
  chains is high);
* when the host link is quiet for ``watchdog_s`` (no byte either way; to within one
  LED unit, ``2**LED_PRESCALE_BITS`` ticks, 0.7 ms at 24 MHz): the host is gone. If a request was waiting for its answer that long, the
  controller is hung: it is reset as well (the x/d buffers keep their
  contents, the LFSRs restart from the seed) and ``error`` is raised;
* on any error: an error response on the host link (its status byte is
  watched), a pulse slot the enable chains could not play (``overrun``),
  or a received byte the UART had to drop. The parts are reset once (DACs
  to 0 V, enables off) and the error LED stays on for 0.5 s; the next
  command runs normally.

The controller itself already leaves lines at 0 V and enables off between
commands; the safe state forces the parts there regardless of its state.
"""

from __future__ import annotations

from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig
from ..rtl.top import ControllerTop
from ..rtl.uart import UartRx, UartTx, rx_fifo_depth
from .converters import Ads8688Reader, DacChain, NeuronLines, PulseEnables, required_pulse_gap, ticks


def uart_divisor(clk_hz: float, baud: int) -> int:
    """Clock ticks per UART bit; ValueError if the rate error exceeds 2 %."""
    div = round(clk_hz / baud)
    if div < 4 or abs(clk_hz / div - baud) / baud > 0.02:
        raise ValueError(f"cannot make {baud} baud from {clk_hz / 1e6:g} MHz within 2 %")
    return div


def max_response_length(config: ControllerConfig) -> int:
    """Longest response payload of the controller: a fixed body, or a read of the longer side."""
    lines = max(config.rows, config.cols)
    return max(max(proto.fields_size(f) for f in proto.RESPONSE_FIELDS.values()),
               proto.ADC_CODE_BYTES * lines, proto.VECTOR_CODE_BYTES * lines)


class ResponseMonitor(wiring.Component):
    """Watches response frames on the host byte stream; ``error`` strobes on a non-OK status.

    Parameters
    ----------
    max_length : int
        Longest response payload the controller sends (sizes the skip counter).

    Attributes
    ----------
    valid, byte : In
        A response byte leaves the controller.
    error : Out(1)
    """

    def __init__(self, max_length: int = 0xFFFF):
        self.max_length = max_length
        super().__init__({"valid": In(1), "byte": In(8), "error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        pos = Signal(range(6))  # header byte position after SYNC
        length = Signal(16)
        remaining = Signal(range(self.max_length + 3))  # payload + CRC bytes still to skip
        with m.If(self.valid), m.FSM():
            with m.State("SYNC"), m.If(self.byte == proto.SYNC):
                m.d.sync += pos.eq(1)
                m.next = "HEADER"
            with m.State("HEADER"):
                m.d.sync += pos.eq(pos + 1)
                with m.If((pos == 2) & (self.byte != proto.Status.OK)):
                    m.d.comb += self.error.eq(1)
                with m.If(pos == 3):
                    m.d.sync += length[:8].eq(self.byte)
                with m.If(pos == 4):
                    m.d.sync += remaining.eq((self.byte << 8 | length[:8]) + 2)
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.sync += remaining.eq(remaining - 1)
                with m.If(remaining == 1):
                    m.next = "SYNC"
        return m


class BoardCore(wiring.Component):
    """Controller + UART + converter adapters + neuron lines + safety, with the parts' pins as ports.

    Parameters
    ----------
    config : ControllerConfig
        ``pulse_gap`` must cover the enable chains' shift time
        (:meth:`PulseEnables.required_gap`; :func:`board_config` sets it).
    clk_hz : float
        The core's clock.
    baud : int
    dac_part : "ad5676" or "ad5686r"
    watchdog_s : float
        Host-link quiet time before the safe state (counted in LED units of
        ``2**LED_PRESCALE_BITS`` ticks: to within one unit).
    neuron_reset_s : float
        Width of the neuron reset pulse on ``neu_reset`` (:class:`NeuronLines`); at most one
        byte time of the host link, so that it ends before the next command arrives.
    trainer : OnChipConfig or None
        Build the controller's trainer engine with these tables (``insitu.rtl.trainer``):
        the board then runs TRAIN / INFER itself (``insitu board train --on-chip``).

    Attributes
    ----------
    uart_rx : In(1), uart_tx : Out(1)
    dac_sclk, dac_sdin, dac_sync_n, dac_ldac_n, dac_reset_n : Out(1)
    adc_sclk, adc_sdi : Out(1), adc_sdo : In(1), adc_cs_n : Out(parts)
    en_srclk, en_rclk, en_row_ser, en_col_ser, en_oe_n, en_pol : Out(1)
    neu_reset, neu_read : Out(1)
        The neuron lines of a spiking front-end (NEURON_CONTROL); low on a plain one.
    led_alive, led_rx, led_tx, led_safe, led_error, led_update : Out(1)
    """

    def __init__(self, config: ControllerConfig, clk_hz: float, *, baud: int = 115200,
                 dac_part: str = "ad5676", watchdog_s: float = 2.0,
                 dac_max_sclk_hz: float | None = None, adc_max_sclk_hz: float = 10e6,
                 en_max_sclk_hz: float = 12.5e6, neuron_reset_s: float = 1e-6, trainer=None):
        self.config = config
        self.trainer = trainer
        self.clk_hz = clk_hz
        self.baud = baud
        self.divisor = uart_divisor(clk_hz, baud)
        self.watchdog_ticks = ticks(clk_hz, watchdog_s)
        #: LED units the watchdog waits: the host counts as gone within one unit of watchdog_s
        self.watchdog_units = -(-self.watchdog_ticks // (1 << LED_PRESCALE_BITS))
        # read levels in a RAM: the DAC chain reads one line at a time anyway (area)
        self.dac = DacChain(config, clk_hz, part=dac_part, max_sclk_hz=dac_max_sclk_hz, levels="memory")
        self.adc = Ads8688Reader(config, clk_hz, max_sclk_hz=adc_max_sclk_hz)
        self.enables = PulseEnables(config, clk_hz, max_sclk_hz=en_max_sclk_hz)
        self.neurons = NeuronLines(clk_hz, reset_s=neuron_reset_s)
        parts = (self, self.dac, self.adc, self.enables, self.neurons)
        if self.neurons.reset_ticks > 10 * self.divisor:
            for part in parts:
                part._MustUse__silence = True  # never elaborated
            raise ValueError(f"neuron_reset_s must be at most one host-link byte "
                             f"({10 / baud:.3g} s at {baud} baud); got {neuron_reset_s}")
        need = adapter_busy_ticks(self.dac, self.adc)
        if config.adc_timeout < need:
            for part in parts:
                part._MustUse__silence = True  # never elaborated
            raise ValueError(f"adc_timeout must be >= {need} ticks for these converters at "
                             f"{clk_hz / 1e6:g} MHz (board_config sets it); got {config.adc_timeout}")
        self.controller = ControllerTop(config, host="stream", timeout_cycles=40 * self.divisor,
                                        levels="memory", trainer=trainer)
        super().__init__({
            "uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
            "dac_sclk": Out(1), "dac_sdin": Out(1), "dac_sync_n": Out(1, init=1),
            "dac_ldac_n": Out(1, init=1), "dac_reset_n": Out(1),
            "adc_sclk": Out(1), "adc_sdi": Out(1), "adc_sdo": In(1),
            "adc_cs_n": Out(self.adc.parts, init=(1 << self.adc.parts) - 1),
            "en_srclk": Out(1), "en_rclk": Out(1), "en_row_ser": Out(1), "en_col_ser": Out(1),
            "en_oe_n": Out(1, init=1), "en_pol": Out(1),
            "neu_reset": Out(1), "neu_read": Out(1),
            "led_alive": Out(1), "led_rx": Out(1), "led_tx": Out(1),
            "led_safe": Out(1), "led_error": Out(1), "led_update": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        ctrl_reset = Signal()
        m.submodules.controller = ResetInserter(ctrl_reset)(self.controller)
        ctrl = self.controller
        an = ctrl.analog
        m.submodules.dac = dac = self.dac
        m.submodules.adc = adc = self.adc
        m.submodules.enables = en = self.enables
        m.submodules.neurons = neu = self.neurons

        # ---- host link on the UART; bytes both ways are visible here
        m.submodules.uart_rx = rx = UartRx(self.divisor)
        m.submodules.uart_tx = tx = UartTx(self.divisor)
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(
            width=8, depth=rx_fifo_depth(self.config))
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        wiring.connect(m, rx.o, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, ctrl.host_rx)
        wiring.connect(m, ctrl.host_tx, tx.i)
        rx_byte = rx.o.valid & rx.o.ready
        tx_byte = tx.i.valid & tx.i.ready
        mon = ResponseMonitor(max_response_length(self.config))
        m.submodules.monitor = ResetInserter(ctrl_reset)(mon)  # restarts with the controller
        m.d.comb += [mon.valid.eq(tx_byte), mon.byte.eq(tx.i.payload)]

        prescale = Signal(LED_PRESCALE_BITS)
        unit = Signal()  # one tick every 2**LED_PRESCALE_BITS
        m.d.sync += [prescale.eq(prescale + 1), unit.eq(prescale.all())]

        # ---- watchdog and safe state
        # counts LED units, not ticks (area: 12 bits instead of 26 for 2 s at 24 MHz): the
        # n-th unit strobe after the last byte comes (n - 1) to n units after it
        n_units = self.watchdog_units
        quiet = Signal(range(max(2, n_units)))
        expired = Signal()
        m.d.comb += expired.eq(unit & (quiet == n_units - 1))
        awaiting = Signal()  # a request byte came in and no answer byte has left since
        host_gone = Signal()
        with m.If(rx_byte | tx_byte):
            m.d.sync += [quiet.eq(0), host_gone.eq(0)]
        with m.Elif(expired):
            m.d.sync += [quiet.eq(0), host_gone.eq(1)]
        with m.Elif(unit):
            m.d.sync += quiet.eq(quiet + 1)
        with m.If(rx_byte):
            m.d.sync += awaiting.eq(1)
        with m.Elif(tx_byte):
            m.d.sync += awaiting.eq(0)
        hung = expired & awaiting
        with m.If(hung):
            m.d.sync += awaiting.eq(0)
        m.d.comb += ctrl_reset.eq(hung)

        error_event = Signal()
        m.d.comb += error_event.eq(mon.error | en.overrun | rx.overrun | hung)
        error_q = Signal()  # registered: no combinational loop through the enables' overrun
        m.d.sync += error_q.eq(error_event)
        error_on = stretch(m, error_event, led_units(self.clk_hz, 0.5), unit)  # error LED ~0.5 s
        # an error is a one-tick safe request: the DAC chain resets (0 V) and re-initialises,
        # the enable chains drop their outputs; the next command then runs as usual
        safe = Signal()
        m.d.comb += safe.eq(host_gone | error_q)

        # ---- adapters: each takes its member of the analog port
        wiring.connect(m, an.dac, dac.dac)
        wiring.connect(m, an.adc, adc.adc)
        wiring.connect(m, an.pulse, en.pulse)
        wiring.connect(m, an.neuron, neu.neuron)
        m.d.comb += [
            dac.safe.eq(safe),
            self.dac_sclk.eq(dac.sclk), self.dac_sdin.eq(dac.sdin), self.dac_sync_n.eq(dac.sync_n),
            self.dac_ldac_n.eq(dac.ldac_n), self.dac_reset_n.eq(dac.reset_n),
            adc.dac_ready.eq(dac.ready),
            self.adc_sclk.eq(adc.sclk), self.adc_sdi.eq(adc.sdi), adc.sdo.eq(self.adc_sdo),
            self.adc_cs_n.eq(adc.cs_n),
            en.safe.eq(safe),
            self.en_srclk.eq(en.srclk), self.en_rclk.eq(en.rclk), self.en_row_ser.eq(en.row_ser),
            self.en_col_ser.eq(en.col_ser), self.en_oe_n.eq(en.oe_n), self.en_pol.eq(en.pol),
            neu.safe.eq(safe), self.neu_reset.eq(neu.reset), self.neu_read.eq(neu.read),
        ]

        # ---- status LEDs: alive blinks at ~1 Hz, rx/tx stretch activity to ~50 ms
        half_s = led_units(self.clk_hz, 0.5)
        blink = Signal(range(half_s))
        with m.If(unit):
            m.d.sync += blink.eq(blink - 1)
            with m.If(blink == 0):
                m.d.sync += [blink.eq(half_s - 1), self.led_alive.eq(~self.led_alive)]
        for led, event in ((self.led_rx, rx_byte), (self.led_tx, tx_byte)):
            m.d.comb += led.eq(stretch(m, event, led_units(self.clk_hz, 0.05), unit))
        m.d.comb += [
            self.led_safe.eq(safe | ~dac.reset_n),
            self.led_error.eq(error_on),
            self.led_update.eq(an.update_active),
        ]
        return m


LED_PRESCALE_BITS = 14  # LED timers count units of 2**14 ticks (0.7 ms at 24 MHz)


def led_units(clk_hz: float, seconds: float) -> int:
    return max(1, round(ticks(clk_hz, seconds) / (1 << LED_PRESCALE_BITS)))


def stretch(m: Module, event, n: int, unit):
    """High from ``event`` until ``n`` strobes of ``unit`` have passed (restarted by every event).

    Short counters on a prescaler strobe: a wide LED counter was the board's critical path.
    """
    count = Signal(range(n + 1))
    with m.If(event):
        m.d.sync += count.eq(n)
    with m.Elif(unit & (count != 0)):
        m.d.sync += count.eq(count - 1)
    return count != 0


def adapter_busy_ticks(dac: DacChain, adc: Ads8688Reader) -> int:
    """Longest time the ADC adapter holds ``busy`` for one conversion: it waits for the DAC
    chain's new levels (their ``ready``, the DAC's acknowledge), then reads every converter."""
    return dac.update_ticks() + dac.config.adcs * adc.conversion_ticks()


def required_adc_timeout(config: ControllerConfig, clk_hz: float, *, dac_part: str = "ad5676",
                         dac_max_sclk_hz: float | None = None,
                         adc_max_sclk_hz: float = 10e6) -> int:
    """The smallest ``adc_timeout`` that a board's working converters never reach."""
    dac = DacChain(config, clk_hz, part=dac_part, max_sclk_hz=dac_max_sclk_hz, levels="memory")
    adc = Ads8688Reader(config, clk_hz, max_sclk_hz=adc_max_sclk_hz)
    dac._MustUse__silence = adc._MustUse__silence = True  # only their timing is asked
    return adapter_busy_ticks(dac, adc)


PULSE_GAP_MAX = 65535  # ControllerConfig.pulse_gap's range (the drivers size their slot counter to the period)


def board_config(config: ControllerConfig, clk_hz: float, *, en_max_sclk_hz: float = 12.5e6,
                 pulse_s: float | None = None, dac_part: str = "ad5676") -> ControllerConfig:
    """``config`` with ``pulse_gap`` (and, given ``pulse_s``, ``pulse_width``) and
    ``adc_timeout`` set for a board.

    The gap is raised to what the enable chains need at ``clk_hz``, the converter
    timeout to twice the longest busy time of the converter adapters; ValueError
    if the timing cannot be met within the config's fields.
    """
    d = config.to_dict()
    busy = 2 * required_adc_timeout(config, clk_hz, dac_part=dac_part)
    if busy > 65535:
        raise ValueError(f"the converter adapters need an adc_timeout of {busy} ticks at "
                         f"{clk_hz / 1e6:g} MHz (at most 65535): lower the clock")
    d["adc_timeout"] = max(d["adc_timeout"], busy)
    if pulse_s is not None:
        d["pulse_width"] = ticks(clk_hz, pulse_s)
        if d["pulse_width"] > 255:
            raise ValueError(f"a {pulse_s * 1e6:g} us pulse needs {d['pulse_width']} ticks at "
                             f"{clk_hz / 1e6:g} MHz; at most 255")
    need = required_pulse_gap(config, clk_hz, en_max_sclk_hz)
    if need > PULSE_GAP_MAX:
        raise ValueError(f"the enable chains need a {need}-tick pulse gap at {clk_hz / 1e6:g} MHz "
                         f"(at most {PULSE_GAP_MAX}): lower the clock or raise the shift clock")
    d["pulse_gap"] = max(d["pulse_gap"], need)
    return ControllerConfig(**d)
