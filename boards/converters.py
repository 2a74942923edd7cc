"""Converter adapters: the controller's analog port on real DAC, ADC and switch parts.

Three components turn the ideal, parallel analog port of
:class:`insitu.rtl.analog.AnalogPortSignature` into pin wiggles of real parts
on a few header pins, and keep the port's meaning intact:

:class:`DacChain`
    Every row and column level through a daisy chain of AD5676 (8 channels)
    or AD5686R (4 channels) 16-bit SPI DACs. A ``dac.strobe`` makes the chain
    write all channels to their input registers and then pulse LDAC, so every
    line changes at once. ``ready`` is low from the strobe until the new levels
    are out *and* have settled.
:class:`Ads8688Reader`
    Each side's conversions through ADS8688 8-channel SPI ADCs (one chip
    select per part, shared SCLK/SDI/SDO). ``adc.<side>.busy`` rises the tick after
    ``adc.<side>.start`` and falls when every converter's code is in ``adc.<side>.data``.
    A conversion waits for the DAC chain's ``ready``, so the controller never
    samples a line before its level is there, however slow the DAC chain.
:class:`PulseEnables`
    Row and column pulse enables through two 74HC595 chains (rows, columns)
    sharing SRCLK/RCLK/OE. A slot is shifted in with the outputs disabled,
    latched, then the outputs are enabled for exactly ``pulse_width`` ticks;
    the polarity output changes only while the outputs are disabled, with a
    break-before-make dead time on both sides.
:class:`NeuronLines`
    The analog port's ``neuron`` lines (``NEURON_CONTROL``, :mod:`insitu.rtl.neuron_control`)
    on two pins for a front-end with neuron circuits behind the columns (a spiking
    chip): the one-tick reset strobe stretched to a reset pulse of ``reset_s``, the
    neuron-read line registered, both active high.

Datasheet facts used (``/work/shared/REFERENCES.md`` and the parts' datasheets;
where a detail could not be read it is marked *assumed*):

* AD5676/AD5686R: 24-bit frames MSB first, command(4) | address(4) | data(16);
  data is taken on SCLK falling edges while SYNC is low; a frame executes on
  SYNC rising (daisy-chain mode) or at the 24th falling edge (standalone);
  command 0001 writes an input register (dependent on LDAC), 1000 writes the
  daisy-chain enable register (DB0 = 1 enables SDO); LDAC low copies the input
  registers to the DAC registers of all channels at once. AD5676 addresses a
  channel by its binary number, AD5686R one-hot. With RSTSEL tied high the
  parts power up, and return on RESET low, to mid-scale (*assumed* that RESET
  also clears the daisy-chain enable, so the chain is re-enabled after every
  reset).
* ADS8688: 32-SCLK frames, SPI mode 1 (SCLK idle low, SDI taken and SDO
  launched so the host samples on falling edges); the 16-bit command in the
  first 16 clocks, the 16-bit result of the channel selected by the *previous*
  frame's command in the last 16 (pipelined); MAN_Ch_n = 0xC000 + n * 0x400,
  NO_OP = 0x0000; codes straight binary, 0x8000 at 0 V (bipolar ranges).
* 74HC595: SER taken on SRCLK rising, RCLK rising copies the shift register to
  the outputs, OE high puts the outputs in high impedance (pull-downs on the
  board turn the switches off).

Levels are offset binary on the DACs: code 0 is mid-scale, which the board's
level shifter maps to 0 V (``docs/boards.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from ..rtl.adc import mux_positions
from ..rtl.analog import AdcSidesSignature, DacPortSignature, NeuronPortSignature, PulsePortSignature
from ..rtl.layouts import adc_shape, dac_shape


# ---------------------------------------------------------------------------- timing
def ticks(clk_hz: float, seconds: float, minimum: int = 1) -> int:
    """Clock ticks that cover ``seconds`` at ``clk_hz`` (rounded up, at least ``minimum``)."""
    return max(minimum, math.ceil(seconds * clk_hz - 1e-6))


def half_period(clk_hz: float, max_sclk_hz: float) -> int:
    """Ticks per SCLK half period so that SCLK stays at or below ``max_sclk_hz``."""
    if max_sclk_hz <= 0:
        raise ValueError(f"SCLK limit must be positive, got {max_sclk_hz}")
    return max(1, math.ceil(clk_hz / (2.0 * max_sclk_hz) - 1e-9))


@dataclass(frozen=True)
class DacPart:
    """A member of the AD5686R/AD5676 family as the chain sees it."""

    name: str
    channels: int
    onehot_address: bool
    max_sclk_hz: float = 50e6
    settle_s: float = 5e-6  # output settling, 1/4 to 3/4 scale (typical)


DAC_PARTS = {
    "ad5676": DacPart("ad5676", 8, False),
    "ad5686r": DacPart("ad5686r", 4, True),
}

CMD_WRITE_INPUT = 0b0001
CMD_DCEN = 0b1000
ADS_MAN_CH = 0xC000
ADS_CHANNELS = 8
ADS_MAX_SCLK_HZ = 17e6


def dac_word(code: int, dac_bits: int) -> int:
    """Offset-binary 16-bit DAC word of a signed code (0 -> mid-scale 0x8000)."""
    return (0x8000 + (code << (16 - dac_bits))) & 0xFFFF if dac_bits <= 16 else None


def adc_code(result: int, adc_bits: int) -> int:
    """Signed controller code of a 16-bit straight-binary ADS8688 result.

    The top ``adc_bits`` bits (floor), clamped to the symmetric code range; for
    ``adc_bits > 16`` the result is scaled up.
    """
    s = (result & 0xFFFF) - 0x8000
    if adc_bits <= 16:
        s >>= 16 - adc_bits
    else:
        s <<= adc_bits - 16
    m = (1 << (adc_bits - 1)) - 1
    return max(-m, min(m, s))


# ---------------------------------------------------------------------------- SPI
class SpiShifter(wiring.Component):
    """One SPI word, mode 1 (SCLK idle low; data out on rising, sampled on falling).

    Parameters
    ----------
    width : int
        Bits per word, MSB first.
    half : int
        Ticks per SCLK half period.

    Attributes
    ----------
    start : In(1)
        Strobe: shift ``tx`` out (ignored while ``busy``).
    tx : In(width)
    rx : Out(width)
        Bits sampled on the falling edges, valid when ``done`` strobes.
    busy, done : Out(1)
    sclk, mosi : Out(1)
    miso : In(1)
    """

    def __init__(self, width: int, half: int):
        self.width = width
        self.half = half
        super().__init__({
            "start": In(1), "tx": In(width), "rx": Out(width),
            "busy": Out(1), "done": Out(1),
            "sclk": Out(1), "mosi": Out(1), "miso": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(self.width)
        bits = Signal(range(self.width + 1))
        timer = Signal(range(self.half))
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.FSM():
            with m.State("IDLE"), m.If(self.start):
                m.d.sync += [shreg.eq(self.tx), bits.eq(self.width), timer.eq(self.half - 1)]
                m.next = "LOW"
            with m.State("LOW"):  # SCLK low: setup before the next rising edge
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    with m.If(bits == 0):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [
                            self.sclk.eq(1), self.mosi.eq(shreg[-1]),
                            shreg.eq(shreg << 1), timer.eq(self.half - 1),
                        ]
                        m.next = "HIGH"
            with m.State("HIGH"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    m.d.sync += [
                        self.sclk.eq(0), self.rx.eq(Cat(self.miso, self.rx[:-1])),
                        bits.eq(bits - 1), timer.eq(self.half - 1),
                    ]
                    m.next = "LOW"
        return m


# ---------------------------------------------------------------------------- DACs
class DacChain(wiring.Component):
    """All row and column levels through a daisy chain of AD5676/AD5686R DACs.

    Lines are numbered rows first, then columns: line ``l`` is channel
    ``l % channels`` of part ``l // channels`` (part 0 nearest the FPGA: its
    SDIN is ``sdin``, its SDO feeds part 1, ...). One chain frame (SYNC low ..
    SYNC high) carries one 24-bit word per part, the farthest part's first;
    ``channels`` frames write every channel, then LDAC pulses low.

    Sequence after reset and on every rising ``safe``: RESET low (parts go to
    mid-scale = 0 V), then ``parts`` frames of DCEN words (each enables one more
    part, since a part passes data on only once enabled), then all-zero levels.
    While ``safe`` is high the levels sent are zero and strobes only set
    ``pending``; when it falls the current levels are sent.

    Parameters
    ----------
    config : ControllerConfig
    clk_hz : float
    part : "ad5676" or "ad5686r"
    max_sclk_hz : float or None
        SCLK limit (default 12.5 MHz: in a daisy chain each part's SDO, launched on
        a rising edge, must reach the next part's SDIN within half a period, over
        header wiring; the parts themselves take up to 50 MHz standalone).
    settle_s : float or None
        Time from LDAC to ``ready`` (default the part's settling time).
    levels : "registers" or "memory"
        The controller's read levels: parallel ``dac.row`` / ``dac.col``, or a
        synchronous read port (``dac.addr`` out, ``dac.code`` in one tick later;
        the address of a word is presented while the previous word shifts out).

    Attributes
    ----------
    dac : In(DacPortSignature(config, levels))
        The controller's ``analog.dac`` (``row``, ``col``, ``strobe``; ``addr`` / ``code``
        with ``levels="memory"``).
    safe : In(1)
    ready : Out(1)
        Idle, nothing pending, outputs settled.
    sclk, sdin, sync_n, ldac_n, reset_n : Out(1)
        Pins.
    """

    def __init__(self, config: ControllerConfig, clk_hz: float, *, part: str = "ad5676",
                 max_sclk_hz: float | None = None, settle_s: float | None = None,
                 levels: str = "registers"):
        if part not in DAC_PARTS or config.dac_bits > 16 or levels not in ("registers", "memory"):
            self._MustUse__silence = True
        if part not in DAC_PARTS:
            raise ValueError(f"DAC part must be one of {', '.join(DAC_PARTS)}; got {part!r}")
        if config.dac_bits > 16:
            raise ValueError(f"dac_bits must be <= 16 for 16-bit DACs, got {config.dac_bits}")
        if levels not in ("registers", "memory"):
            raise ValueError(f"levels must be 'registers' or 'memory'; got {levels!r}")
        self.config = config
        self.levels = levels
        self.part = DAC_PARTS[part]
        self.clk_hz = clk_hz
        self.lines = config.rows + config.cols
        self.parts = -(-self.lines // self.part.channels)
        self.half = half_period(clk_hz, min(max_sclk_hz or 12.5e6, self.part.max_sclk_hz))
        self.sync_high_ticks = max(self.half, ticks(clk_hz, 20e-9))
        self.ldac_ticks = ticks(clk_hz, 25e-9)
        self.reset_ticks = ticks(clk_hz, 1e-6)
        self.settle_ticks = ticks(clk_hz, self.part.settle_s if settle_s is None else settle_s)
        super().__init__({
            "dac": In(DacPortSignature(config, levels)),
            "safe": In(1),
            "ready": Out(1),
            "sclk": Out(1), "sdin": Out(1),
            "sync_n": Out(1, init=1), "ldac_n": Out(1, init=1), "reset_n": Out(1, init=0),
        })

    def update_ticks(self) -> int:
        """Ticks from a strobe to ``ready`` (the chain idle before)."""
        frame = 2 + self.parts * (2 * self.half * 24 + self.half + 2) + self.sync_high_ticks
        return 1 + self.part.channels * frame + self.ldac_ticks + self.settle_ticks + 2

    def elaborate(self, platform):
        m = Module()
        cfg, part = self.config, self.part
        ch = part.channels
        m.submodules.spi = spi = SpiShifter(24, self.half)
        m.d.comb += [self.sclk.eq(spi.sclk), self.sdin.eq(spi.mosi)]

        lookahead = Signal()  # a word is shifting: address the next part's word

        pending = Signal()
        zeros = Signal()  # send zero levels (safe state)
        safe_q = Signal()
        chan = Signal(range(ch))
        pidx = Signal(range(self.parts))
        frame = Signal(range(self.parts))  # DCEN frames sent
        init = Signal()
        timer = Signal(range(max(self.reset_ticks, self.settle_ticks, self.sync_high_ticks,
                                 self.ldac_ticks) + 1))
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        reset_req = Signal()
        m.d.sync += safe_q.eq(self.safe)
        with m.If(self.safe & ~safe_q):
            m.d.sync += reset_req.eq(1)
        with m.If(self.dac.strobe | (safe_q & ~self.safe)):
            m.d.sync += pending.eq(1)

        code = Signal(dac_shape(cfg))
        if self.levels == "registers":
            codes = [self.dac.row[i] for i in range(cfg.rows)] + [self.dac.col[j] for j in range(cfg.cols)]
            codes += [Const(0, dac_shape(cfg))] * (self.parts * ch - self.lines)
            m.d.comb += code.eq(Array(codes)[pidx * ch + chan])
        else:
            addr = Signal(range(self.parts * ch))
            addr_ok = Signal()  # padding channels beyond the last line send 0
            m.d.comb += [addr.eq(Mux(lookahead, (pidx - 1) * ch + chan, pidx * ch + chan)),
                         self.dac.addr.eq(addr)]
            m.d.sync += addr_ok.eq(addr < self.lines)
            m.d.comb += code.eq(Mux(addr_ok, self.dac.code, 0))
        word_data = Signal(16)
        m.d.comb += word_data.eq(Mux(zeros, 0x8000, (code.as_unsigned() << (16 - cfg.dac_bits)) ^ 0x8000))
        address = (Const(1, 4) << chan)[:4] if part.onehot_address else Cat(chan, Const(0, 4 - len(chan)))
        write_word = Cat(word_data, address, Const(CMD_WRITE_INPUT, 4))
        dcen_word = Const((CMD_DCEN << 20) | 1, 24)
        m.d.comb += spi.tx.eq(Mux(init, dcen_word, write_word))

        with m.FSM(init="RESET"):
            with m.State("RESET"):
                m.d.sync += [reset_req.eq(0), self.reset_n.eq(0), self.sync_n.eq(1), self.ldac_n.eq(1),
                             timer.eq(self.reset_ticks), frame.eq(0)]
                m.next = "RESET_LOW"
            with m.State("RESET_LOW"), m.If(timer == 0):
                m.d.sync += [self.reset_n.eq(1), timer.eq(self.reset_ticks)]
                m.next = "RESET_RELEASE"
            with m.State("RESET_RELEASE"), m.If(timer == 0):
                m.d.sync += [init.eq(1), zeros.eq(1), pidx.eq(self.parts - 1)]
                m.next = "FRAME"
            with m.State("IDLE"):
                m.d.comb += self.ready.eq(~pending & ~self.dac.strobe & ~self.safe & ~safe_q)
                with m.If(reset_req):
                    m.next = "RESET"
                with m.Elif(pending):
                    m.d.sync += [pending.eq(0), zeros.eq(self.safe), chan.eq(0),
                                 pidx.eq(self.parts - 1)]
                    m.next = "FRAME"
            # one chain frame: SYNC low, one word per part (farthest first), SYNC high
            with m.State("FRAME"):
                m.d.sync += self.sync_n.eq(0)
                m.next = "WORD"
            with m.State("WORD"):
                m.d.comb += spi.start.eq(1)
                m.next = "WORD_WAIT"
            with m.State("WORD_WAIT"):
                m.d.comb += lookahead.eq(1)
                with m.If(spi.done):
                    with m.If(pidx == 0):
                        m.d.sync += [self.sync_n.eq(1), timer.eq(self.sync_high_ticks)]
                        m.next = "FRAME_END"
                    with m.Else():
                        m.d.sync += pidx.eq(pidx - 1)
                        m.next = "WORD"
            with m.State("FRAME_END"):  # SYNC high: the frame executes
                with m.If(timer == 0):
                    m.d.sync += pidx.eq(self.parts - 1)
                    with m.If(init):
                        m.d.sync += frame.eq(frame + 1)
                        with m.If(frame == self.parts - 1):
                            m.d.sync += [init.eq(0), chan.eq(0)]
                        m.next = "FRAME"
                    with m.Elif(chan == ch - 1):
                        m.d.sync += [self.ldac_n.eq(0), timer.eq(self.ldac_ticks)]
                        m.next = "LDAC"
                    with m.Else():
                        m.d.sync += chan.eq(chan + 1)
                        m.next = "FRAME"
            with m.State("LDAC"), m.If(timer == 0):
                m.d.sync += [self.ldac_n.eq(1), timer.eq(self.settle_ticks)]
                m.next = "SETTLE"
            with m.State("SETTLE"):
                with m.If(reset_req):
                    m.next = "RESET"
                with m.Elif(timer == 0):
                    m.next = "IDLE"
        return m


# ---------------------------------------------------------------------------- ADCs
def adc_parts(config: ControllerConfig) -> tuple[int, int]:
    """ADS8688 parts on the row side and on the column side (8 lines each)."""
    return -(-config.rows // ADS_CHANNELS), -(-config.cols // ADS_CHANNELS)


class Ads8688Reader(wiring.Component):
    """Both sides' converters through ADS8688 parts on one SPI bus.

    Row line ``i`` is channel ``i % 8`` of part ``i // 8``; column line ``j`` is
    channel ``j % 8`` of part ``row_parts + j // 8``; ``cs_n[p]`` selects part
    ``p``, SCLK/SDI/SDO are shared (SDO is high impedance while CS is high).

    A conversion of a side (``adc.<side>.start``) waits for ``dac_ready``, then for
    each of the ``adcs`` converters k reads line ``mux * adcs + k`` in two
    frames: MAN_Ch_n (select the channel), then NO_OP, whose last 16 bits are
    the conversion taken at that frame's CS falling edge. A converter beyond
    the side's last line answers 0 without a frame. CS stays high
    ``cs_high_s`` between frames (acquisition).

    Attributes
    ----------
    adc : In(AdcSidesSignature(config))
        The controller's ``analog.adc`` (``row`` / ``col``: start, mux in; busy, data out;
        ``docs/analog-port.md``).
    dac_ready : In(1)
    sclk, sdi : Out(1); sdo : In(1); cs_n : Out(parts)
        Pins.
    """

    def __init__(self, config: ControllerConfig, clk_hz: float, *,
                 max_sclk_hz: float = 10e6, cs_high_s: float = 1e-6):
        self.config = config
        self.clk_hz = clk_hz
        self.row_parts, self.col_parts = adc_parts(config)
        self.parts = self.row_parts + self.col_parts
        self.half = half_period(clk_hz, min(max_sclk_hz, ADS_MAX_SCLK_HZ))
        self.cs_high_ticks = ticks(clk_hz, cs_high_s)
        members = {"adc": In(AdcSidesSignature(config))}
        members.update({
            "dac_ready": In(1),
            "sclk": Out(1), "sdi": Out(1), "sdo": In(1),
            "cs_n": Out(self.parts, init=(1 << self.parts) - 1),
        })
        super().__init__(members)

    def conversion_ticks(self) -> int:
        """Ticks of one converter's two frames (the DACs already settled)."""
        frame = 1 + 2 * self.half * 32 + self.half + 2
        return 2 * (frame + self.cs_high_ticks) + 2

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        n_conv = cfg.adcs
        m.submodules.spi = spi = SpiShifter(32, self.half)
        m.d.comb += [self.sclk.eq(spi.sclk), self.sdi.eq(spi.mosi), spi.miso.eq(self.sdo)]

        # per side: requested, latched mux position
        req = {s: Signal(name=f"{s}_req") for s in ("row", "col")}
        mux = {s: Signal(range(max(2, mux_positions(n, n_conv))), name=f"{s}_mux")
               for s, n in (("row", cfg.rows), ("col", cfg.cols))}
        for s in ("row", "col"):
            conv = getattr(self.adc, s)
            with m.If(conv.start):
                m.d.sync += [req[s].eq(1), conv.busy.eq(-1), mux[s].eq(conv.mux)]

        # (side, line) -> part, channel: constant tables
        side = Signal()  # 0 rows, 1 columns
        k = Signal(range(n_conv + 1))
        n_max = max(cfg.rows, cfg.cols)
        line = Signal(range(mux_positions(n_max, n_conv) * n_conv + n_conv))
        m.d.comb += line.eq(Mux(side, mux["col"], mux["row"]) * n_conv + k)
        in_range = Mux(side, line < cfg.cols, line < cfg.rows)
        part_of = Array(
            [Const(min(i, cfg.rows - 1) // ADS_CHANNELS, range(self.parts)) for i in range(n_max)]
            + [Const(self.row_parts + min(j, cfg.cols - 1) // ADS_CHANNELS, range(self.parts))
               for j in range(n_max)]
        )
        part = Signal(range(self.parts))
        channel = Signal(3)
        m.d.comb += [part.eq(part_of[side * n_max + line]), channel.eq(line[:3])]

        second = Signal()  # 0: MAN_Ch frame, 1: NO_OP frame
        m.d.comb += spi.tx.eq(Mux(second, 0, (ADS_MAN_CH | Cat(Const(0, 10), channel)) << 16))
        timer = Signal(range(self.cs_high_ticks + 1))
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        result = Signal(16)
        m.d.comb += result.eq(spi.rx[:16])
        code = Signal(adc_shape(cfg))
        offset = Signal(16)
        m.d.comb += offset.eq(result ^ 0x8000)  # two's complement of the straight-binary result
        if cfg.adc_bits <= 16:
            raw = offset.as_signed() >> (16 - cfg.adc_bits)
        else:
            raw = offset.as_signed() << (cfg.adc_bits - 16)
        m.d.comb += code.eq(Mux(raw < -cfg.adc_max, -cfg.adc_max, raw))

        row_data = Array(self.adc.row.data[i] for i in range(n_conv))
        col_data = Array(self.adc.col.data[i] for i in range(n_conv))

        with m.FSM():
            with m.State("IDLE"):
                with m.If(req["row"]):
                    m.d.sync += [side.eq(0), k.eq(0), req["row"].eq(0)]
                    m.next = "WAIT_DAC"
                with m.Elif(req["col"]):
                    m.d.sync += [side.eq(1), k.eq(0), req["col"].eq(0)]
                    m.next = "WAIT_DAC"
            with m.State("WAIT_DAC"), m.If(self.dac_ready):
                m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(k == n_conv):
                    with m.If(side):
                        m.d.sync += self.adc.col.busy.eq(0)
                    with m.Else():
                        m.d.sync += self.adc.row.busy.eq(0)
                    m.next = "IDLE"
                with m.Elif(~in_range):
                    with m.If(side):
                        m.d.sync += col_data[k].eq(0)
                    with m.Else():
                        m.d.sync += row_data[k].eq(0)
                    m.d.sync += k.eq(k + 1)
                with m.Else():
                    m.d.sync += [second.eq(0), self.cs_n.eq(~(Const(1, self.parts) << part))]
                    m.next = "SHIFT"
            with m.State("SHIFT"):
                m.d.comb += spi.start.eq(1)
                m.next = "SHIFT_WAIT"
            with m.State("SHIFT_WAIT"), m.If(spi.done):
                m.d.sync += [self.cs_n.eq(-1), timer.eq(self.cs_high_ticks)]
                m.next = "CS_HIGH"
            with m.State("CS_HIGH"), m.If(timer == 0):
                with m.If(~second):
                    m.d.sync += [second.eq(1), self.cs_n.eq(~(Const(1, self.parts) << part))]
                    m.next = "SHIFT"
                with m.Else():
                    with m.If(side):
                        m.d.sync += col_data[k].eq(code)
                    with m.Else():
                        m.d.sync += row_data[k].eq(code)
                    m.d.sync += k.eq(k + 1)
                    m.next = "NEXT"
        return m


# ---------------------------------------------------------------------------- pulse enables
def enable_timing(config: ControllerConfig, clk_hz: float, max_sclk_hz: float = 12.5e6,
                  dead_s: float = 100e-9) -> dict:
    """Half period, dead time, bits per chain, shift ticks and the pulse gap they need."""
    half = half_period(clk_hz, max_sclk_hz)
    dead = ticks(clk_hz, dead_s)
    bits = 8 * max(-(-config.rows // 8), -(-config.cols // 8))
    shift = 2 * half * bits + 2 * half + 1
    return {"half": half, "dead": dead, "bits": bits, "shift": shift, "gap": shift + 2 * dead + 1}


def required_pulse_gap(config: ControllerConfig, clk_hz: float, max_sclk_hz: float = 12.5e6,
                       dead_s: float = 100e-9) -> int:
    """Smallest ``pulse_gap`` (ticks) with which :class:`PulseEnables` keeps up with the slots."""
    return enable_timing(config, clk_hz, max_sclk_hz, dead_s)["gap"]


class PulseEnables(wiring.Component):
    """Row and column pulse enables through two 74HC595 chains, one slot at a time.

    Line ``i`` of a side is output ``i % 8`` (QA..QH) of register ``i // 8`` of
    that side's chain (register 0 nearest the FPGA). Both chains share SRCLK,
    RCLK and OE; ``pol`` selects the pulse source polarity (1 = negative).

    Schedule of a slot (ticks after the controller's ``pulse.slot`` strobe):
    ``0``: masks captured, ``pol`` set; ``S = shift_ticks()``: shifted and
    latched; ``S + D``: OE low (enables on); ``S + D + pulse_width``: OE high.
    ``D`` is the dead time. The next slot comes ``pulse_width + pulse_gap``
    ticks after this one, so ``pulse_gap >= S + 2 D`` keeps break-before-make
    on both sides of every polarity change; :func:`required_pulse_gap` gives
    the bound and the constructor checks it. A slot that arrives while the
    previous one is still playing is dropped and ``overrun`` strobes.

    Attributes
    ----------
    pulse : In(PulsePortSignature(config))
        The controller's ``analog.pulse`` (``row``, ``col``, ``pol``, ``slot``).
    safe : In(1)
        Enables off at once (OE high) and slots ignored while high.
    overrun : Out(1)
    srclk, rclk, row_ser, col_ser, oe_n, pol : Out(1)
        Pins.
    """

    def __init__(self, config: ControllerConfig, clk_hz: float, *, max_sclk_hz: float = 12.5e6,
                 dead_s: float = 100e-9, check: bool = True):
        self.config = config
        self.clk_hz = clk_hz
        t = enable_timing(config, clk_hz, max_sclk_hz, dead_s)
        self.half, self.dead_ticks, self.bits = t["half"], t["dead"], t["bits"]
        self._timing = t
        if check and config.pulse_gap < self.required_gap():
            self._MustUse__silence = True  # never elaborated: no "created but never used" warning
            raise ValueError(
                f"pulse_gap must be >= {self.required_gap()} ticks at {clk_hz / 1e6:g} MHz to shift "
                f"{self.bits} enable bits with {self.dead_ticks}-tick dead times; got {config.pulse_gap}")
        super().__init__({
            "pulse": In(PulsePortSignature(config)), "safe": In(1),
            "overrun": Out(1),
            "srclk": Out(1), "rclk": Out(1), "row_ser": Out(1), "col_ser": Out(1),
            "oe_n": Out(1, init=1), "pol": Out(1),
        })

    def shift_ticks(self) -> int:
        return self._timing["shift"]

    def required_gap(self) -> int:
        return self._timing["gap"]

    def elaborate(self, platform):
        m = Module()
        seq = Module()  # the slot sequencer; held in reset (outputs off) while ``safe``
        m.submodules.seq = ResetInserter(self.safe)(seq)
        cfg = self.config
        rmask = Signal(self.bits)
        cmask = Signal(self.bits)
        bits = Signal(range(self.bits + 1))
        timer = Signal(range(max(self.half, self.dead_ticks, cfg.pulse_width) + 1))
        with seq.If(timer != 0):
            seq.d.sync += timer.eq(timer - 1)

        with seq.FSM() as fsm:
            with seq.State("IDLE"), seq.If(self.pulse.slot):
                row_en = Signal(self.bits)
                col_en = Signal(self.bits)
                seq.d.comb += [row_en.eq(self.pulse.row), col_en.eq(self.pulse.col)]
                seq.d.sync += [
                    rmask.eq(row_en), cmask.eq(col_en), self.pol.eq(self.pulse.pol),
                    self.row_ser.eq(row_en[-1]), self.col_ser.eq(col_en[-1]),
                    bits.eq(self.bits), timer.eq(self.half - 1),
                ]
                seq.next = "LOW"
            with seq.State("LOW"):  # SRCLK low, SER set up
                with seq.If(timer == 0):
                    with seq.If(bits == 0):
                        seq.d.sync += [self.rclk.eq(1), timer.eq(self.half - 1)]
                        seq.next = "LATCH"
                    with seq.Else():
                        seq.d.sync += [self.srclk.eq(1), timer.eq(self.half - 1)]
                        seq.next = "HIGH"
            with seq.State("HIGH"):  # the 595s took SER on the rising edge
                with seq.If(timer == 0):
                    seq.d.sync += [
                        self.srclk.eq(0), rmask.eq(rmask << 1), cmask.eq(cmask << 1),
                        self.row_ser.eq(rmask[-2] if self.bits > 1 else 0),
                        self.col_ser.eq(cmask[-2] if self.bits > 1 else 0),
                        bits.eq(bits - 1), timer.eq(self.half - 1),
                    ]
                    seq.next = "LOW"
            with seq.State("LATCH"), seq.If(timer == 0):
                seq.d.sync += [self.rclk.eq(0), timer.eq(self.dead_ticks - 1)]
                seq.next = "DEAD"
            with seq.State("DEAD"), seq.If(timer == 0):
                seq.d.sync += [self.oe_n.eq(0), timer.eq(cfg.pulse_width - 1)]
                seq.next = "PULSE"
            with seq.State("PULSE"), seq.If(timer == 0):
                seq.d.sync += self.oe_n.eq(1)
                seq.next = "IDLE"
        m.d.comb += self.overrun.eq(self.pulse.slot & ~self.safe & ~fsm.ongoing("IDLE"))
        return m


# ---------------------------------------------------------------------------- neuron lines
class NeuronLines(wiring.Component):
    """The controller's neuron lines on two pins of a spiking front-end.

    ``reset`` goes high the tick after the controller's one-tick ``neuron.reset``
    strobe and stays high for ``reset_ticks`` ticks (``reset_s``, at least one tick; a
    strobe during a pulse restarts it): a reset input that needs a minimum pulse
    width sees one however fast the FPGA clock (1 us *assumed* enough; the
    BrainScaleS-2 papers name no figure). ``read`` is ``neuron.read`` one tick later,
    forced low while ``safe``: no conversion of the safe state is taken as a neuron
    read. The controller raises ``neuron.read`` at a FORWARD's first level write and
    drops it at its release, so on a board the DAC chain's update and settling (tens of
    microseconds) separate its edges from every conversion's sampling instant; the
    reset pulse ends before the next command can start (:class:`~insitu.boards.core.BoardCore`
    checks that it is shorter than one byte on the host link).

    Attributes
    ----------
    neuron : In(NeuronPortSignature())
        The controller's ``analog.neuron`` (``reset``, ``read``).
    safe : In(1)
    reset, read : Out(1)
        Pins.
    """

    def __init__(self, clk_hz: float, *, reset_s: float = 1e-6):
        if not 0.0 < reset_s <= 1e-3:
            self._MustUse__silence = True  # never elaborated
            raise ValueError(f"reset_s must be in (0, 1e-3] seconds; got {reset_s}")
        self.clk_hz = clk_hz
        self.reset_ticks = ticks(clk_hz, reset_s)
        super().__init__({"neuron": In(NeuronPortSignature()), "safe": In(1),
                          "reset": Out(1), "read": Out(1)})

    def elaborate(self, platform):
        m = Module()
        left = Signal(range(self.reset_ticks))  # reset pulse ticks still to play after this one
        with m.If(self.neuron.reset):
            m.d.sync += [self.reset.eq(1), left.eq(self.reset_ticks - 1)]
        with m.Elif(left != 0):
            m.d.sync += left.eq(left - 1)
        with m.Else():
            m.d.sync += self.reset.eq(0)
        # both pins straight from flip-flops: no glitch reaches the front-end
        m.d.sync += self.read.eq(self.neuron.read & ~self.safe)
        return m
