"""Behavioural models of the converter parts, for cocotb testbenches.

Each model is a plain Python object with pin-event methods (``sclk_fall``,
``sync_rise``, ...) written from the datasheet facts listed in
:mod:`insitu.boards.converters`, plus an ``attach`` coroutine that wakes on
the pins' edges of a simulated design (never on every clock). Models record
what a part would have done (register writes, LDAC updates, conversions,
pulses) and every protocol violation they notice in ``violations``; tests
assert that list is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIDSCALE = 0x8000


def _now() -> float:
    from cocotb.utils import get_sim_time

    return get_sim_time("ns")


# ---------------------------------------------------------------------------- DAC chain
@dataclass
class DacModel:
    """One AD5676 (8 channels, binary address) or AD5686R (4 channels, one-hot address)."""

    channels: int = 8
    onehot: bool = False
    shreg: int = 0
    count: int = 0
    dcen: bool = False
    sdo: int = 0
    done: bool = False  # standalone: the frame executed at the 24th edge
    input: list = field(default_factory=list)
    output: list = field(default_factory=list)
    writes: int = 0

    def __post_init__(self):
        self.reset()

    def reset(self):
        """RESET low or power-on with RSTSEL high: mid-scale, standalone mode."""
        self.input = [MIDSCALE] * self.channels
        self.output = [MIDSCALE] * self.channels
        self.dcen = False
        self.shreg = self.count = self.sdo = 0
        self.done = False

    def channels_of(self, address: int) -> list[int]:
        if self.onehot:
            return [c for c in range(self.channels) if address >> c & 1]
        return [address] if address < self.channels else []

    def execute(self, word: int, ldac_low: bool, violations: list):
        cmd, address, value = word >> 20, (word >> 16) & 0xF, word & 0xFFFF
        if cmd == 0b0001:  # write input register n (dependent on LDAC)
            chans = self.channels_of(address)
            if not chans:
                violations.append(f"write to bad address {address:#x}")
            for c in chans:
                self.input[c] = value
                if ldac_low:
                    self.output[c] = value
            self.writes += 1
        elif cmd == 0b0011:  # write and update
            for c in self.channels_of(address):
                self.input[c] = self.output[c] = value
        elif cmd == 0b1000:  # daisy-chain enable register
            self.dcen = bool(value & 1)
        elif cmd == 0b0000:
            pass
        else:
            violations.append(f"unexpected DAC command {cmd:#06b}")


class DacChainModel:
    """A daisy chain of DAC parts on SCLK/SDIN/SYNC/LDAC/RESET (part 0 nearest the host).

    Data is taken on SCLK falling edges while SYNC is low; SDO presents the
    register's MSB from the next rising edge (daisy-chain mode only, else it
    is high impedance, read as 0). A part executes its word on SYNC rising in
    daisy-chain mode, or at the 24th falling edge in standalone mode. LDAC low
    copies every input register to its DAC register.
    """

    def __init__(self, parts: int, channels: int = 8, onehot: bool = False,
                 max_sclk_hz: float = 50e6):
        self.parts = [DacModel(channels, onehot) for _ in range(parts)]
        self.channels = channels
        self.violations: list[str] = []
        self.ldac_events: list[float] = []
        self.resets = 0
        self.sync_low = False
        self.ldac_low = False
        self.in_reset = True
        self.min_half_ns = 1e12
        self.max_sclk_hz = max_sclk_hz
        self._last_edge = None

    # -- pin events
    def reset_level(self, low: bool):
        if low and not self.in_reset:
            self.resets += 1
        self.in_reset = low
        if low:
            for p in self.parts:
                p.reset()

    def sync_fall(self):
        self.sync_low = True
        for p in self.parts:
            p.count = 0
            p.done = False

    def sync_rise(self):
        self.sync_low = False
        if self.in_reset:
            return
        for p in self.parts:
            if p.dcen and p.count >= 24:
                p.execute(p.shreg, self.ldac_low, self.violations)
            elif not p.dcen and 0 < p.count < 24:
                self.violations.append(f"SYNC rose after {p.count} clocks (write aborted)")

    def sclk_edge(self, t_ns: float):
        if self._last_edge is not None and self.sync_low:
            self.min_half_ns = min(self.min_half_ns, t_ns - self._last_edge)
        self._last_edge = t_ns

    def sclk_rise(self):
        for p in self.parts:
            p.sdo = (p.shreg >> 23) & 1 if p.dcen else 0

    def sclk_fall(self, sdin: int):
        if not self.sync_low or self.in_reset:
            return
        bit = sdin
        outs = [p.sdo for p in self.parts]
        for i, p in enumerate(self.parts):
            b = bit if i == 0 else outs[i - 1]
            if not p.dcen and p.done:
                continue
            p.shreg = ((p.shreg << 1) | b) & 0xFFFFFF
            p.count += 1
            if not p.dcen and p.count == 24:
                p.execute(p.shreg, self.ldac_low, self.violations)
                p.done = True

    def ldac_fall(self, t_ns: float):
        self.ldac_low = True
        self.ldac_events.append(t_ns)
        for p in self.parts:
            p.output = list(p.input)

    def ldac_rise(self):
        self.ldac_low = False

    # -- views
    def words(self) -> list[int]:
        """DAC register of every channel, part 0 channel 0 first."""
        return [w for p in self.parts for w in p.output]

    async def attach(self, sclk, sdin, sync_n, ldac_n, reset_n):
        """Wake on the chain's pins of a cocotb design."""
        import cocotb
        from cocotb.triggers import Edge

        self.reset_level(not int(reset_n.value))

        async def clock():
            while True:
                await Edge(sclk)
                self.sclk_edge(_now())
                if int(sclk.value):
                    self.sclk_rise()
                else:
                    self.sclk_fall(int(sdin.value))

        async def sync():
            while True:
                await Edge(sync_n)
                self.sync_rise() if int(sync_n.value) else self.sync_fall()

        async def ldac():
            while True:
                await Edge(ldac_n)
                self.ldac_rise() if int(ldac_n.value) else self.ldac_fall(_now())

        async def reset():
            while True:
                await Edge(reset_n)
                self.reset_level(not int(reset_n.value))

        for c in (clock(), sync(), ldac(), reset()):
            cocotb.start_soon(c)


# ---------------------------------------------------------------------------- ADS8688
class Ads8688Model:
    """One ADS8688: CS frames of 32 SCLKs, SPI mode 1, pipelined result.

    At CS falling the channel selected by an earlier frame is sampled
    (``sample(channel) -> 16-bit straight-binary result``); the command comes
    in on the first 16 falling edges; the result goes out MSB first on the
    rising edges 17..32 (the host samples it on the falling edges). A MAN_Ch_n
    command selects channel n for the next frame; NO_OP keeps the channel.
    """

    def __init__(self, sample, max_sclk_hz: float = 17e6):
        self.sample = sample
        self.channel = 0
        self.command = 0
        self.clocks = 0
        self.result = 0
        self.sdo = 0
        self.selected = False
        self.conversions: list[tuple[float, int]] = []  # (time ns, channel)
        self.commands: list[int] = []
        self.violations: list[str] = []

    def cs_fall(self, t_ns: float):
        self.selected = True
        self.clocks = 0
        self.command = 0
        self.result = self.sample(self.channel) & 0xFFFF
        self.conversions.append((t_ns, self.channel))
        self.sdo = 0

    def cs_rise(self):
        if not self.selected:  # power-up: CS settling high, no frame
            return
        self.selected = False
        if self.clocks < 32:
            self.violations.append(f"frame of {self.clocks} SCLKs (need 32)")
        self.commands.append(self.command)
        if (self.command & 0xE000) == 0xC000:
            self.channel = (self.command >> 10) & 0x7
        elif self.command != 0:
            self.violations.append(f"unexpected ADC command {self.command:#06x}")

    def sclk_rise(self):
        if self.selected:
            n = self.clocks + 1  # the rising edge of clock n
            self.sdo = (self.result >> (32 - n)) & 1 if 17 <= n <= 32 else 0

    def sclk_fall(self, sdi: int):
        if self.selected:
            self.clocks += 1
            if self.clocks <= 16:
                self.command = ((self.command << 1) | sdi) & 0xFFFF


class AdcBusModel:
    """ADS8688 parts sharing SCLK/SDI/SDO, one CS each."""

    def __init__(self, parts: list[Ads8688Model], max_sclk_hz: float = 17e6):
        self.parts = parts
        self.violations: list[str] = []
        self.max_sclk_hz = max_sclk_hz
        self.min_half_ns = 1e12

    async def attach(self, sclk, sdi, sdo, cs_n):
        import cocotb
        from cocotb.triggers import Edge

        last = [None]

        def selected():
            v = int(cs_n.value)
            return [p for i, p in enumerate(self.parts) if not v >> i & 1]

        async def clock():
            while True:
                await Edge(sclk)
                t = _now()
                if last[0] is not None and selected():
                    self.min_half_ns = min(self.min_half_ns, t - last[0])
                last[0] = t
                for p in self.parts:
                    if int(sclk.value):
                        p.sclk_rise()
                    else:
                        p.sclk_fall(int(sdi.value))
                sel = [p for p in self.parts if p.selected]
                sdo.value = sel[0].sdo if len(sel) == 1 else 0

        async def chip_select():
            prev = int(cs_n.value)
            while True:
                await Edge(cs_n)
                v = int(cs_n.value)
                for i, p in enumerate(self.parts):
                    was, now = prev >> i & 1, v >> i & 1
                    if was and not now:
                        p.cs_fall(_now())
                    elif now and not was:
                        p.cs_rise()
                if sum(1 for i in range(len(self.parts)) if not v >> i & 1) > 1:
                    self.violations.append("two ADCs selected at once")
                prev = v
                sel = [p for p in self.parts if p.selected]
                sdo.value = sel[0].sdo if len(sel) == 1 else 0

        cocotb.start_soon(clock())
        cocotb.start_soon(chip_select())

    def all_violations(self) -> list[str]:
        return self.violations + [v for p in self.parts for v in p.violations]


# ---------------------------------------------------------------------------- 74HC595 chains
@dataclass
class Pulse:
    start_ns: float
    end_ns: float | None
    rows: int
    cols: int
    negative: int


class ShiftEnableModel:
    """Two 74HC595 chains (rows, columns) on shared SRCLK/RCLK/OE, and the polarity pin.

    SER is taken on SRCLK rising (chain bit 0 = QA of the register nearest the
    host), RCLK rising copies the chain to the outputs, OE low enables them.
    Records one :class:`Pulse` per OE low period, and checks break-before-make:
    the polarity may only change while OE is high, at least ``dead_ns`` away
    from any OE edge.
    """

    def __init__(self, row_bits: int, col_bits: int, dead_ns: float = 0.0):
        self.row_bits, self.col_bits = row_bits, col_bits
        self.row_chain = self.col_chain = 0
        self.row_out = self.col_out = 0
        self.oe = False
        self.pol = 0
        self.dead_ns = dead_ns
        self.pulses: list[Pulse] = []
        self.violations: list[str] = []
        self._oe_edge = -1e12
        self._pol_edge = -1e12

    def srclk_rise(self, row_ser: int, col_ser: int):
        self.row_chain = ((self.row_chain << 1) | row_ser) & ((1 << self.row_bits) - 1)
        self.col_chain = ((self.col_chain << 1) | col_ser) & ((1 << self.col_bits) - 1)

    def rclk_rise(self):
        if self.oe:
            self.violations.append("outputs latched while enabled")
        # bit k of a chain is output k: the bit shifted in last sits at QA (line 0)
        self.row_out, self.col_out = self.row_chain, self.col_chain

    def oe_level(self, enabled: bool, t_ns: float):
        if enabled == self.oe:
            return
        if t_ns - self._pol_edge < self.dead_ns:
            self.violations.append(f"OE edge {t_ns - self._pol_edge:.0f} ns after a polarity change")
        self.oe = enabled
        self._oe_edge = t_ns
        if enabled:
            self.pulses.append(Pulse(t_ns, None, self.row_out, self.col_out, self.pol))
        elif self.pulses:
            self.pulses[-1].end_ns = t_ns

    def pol_level(self, pol: int, t_ns: float):
        if pol == self.pol:
            return
        if self.oe:
            self.violations.append("polarity changed during a pulse")
        elif t_ns - self._oe_edge < self.dead_ns:
            self.violations.append(f"polarity changed {t_ns - self._oe_edge:.0f} ns after an OE edge")
        self.pol = pol
        self._pol_edge = t_ns

    async def attach(self, srclk, rclk, row_ser, col_ser, oe_n, pol):
        import cocotb
        from cocotb.triggers import Edge, RisingEdge

        self.oe = not int(oe_n.value)
        self.pol = int(pol.value)

        async def shift():
            while True:
                await RisingEdge(srclk)
                self.srclk_rise(int(row_ser.value), int(col_ser.value))

        async def latch():
            while True:
                await RisingEdge(rclk)
                self.rclk_rise()

        async def enable():
            while True:
                await Edge(oe_n)
                self.oe_level(not int(oe_n.value), _now())

        async def polarity():
            while True:
                await Edge(pol)
                self.pol_level(int(pol.value), _now())

        for c in (shift(), latch(), enable(), polarity()):
            cocotb.start_soon(c)
