"""End to end: the host interface's bytes through the UART pins of the board core's Verilog.

Behind the board core's pins sit the part models (DAC chain, ADS8688s,
74HC595 chains) and a small integer crossbar: ADC readings are computed from
the DAC levels the models hold, and every enable pulse moves the devices it
hits. The same crossbar inside :class:`insitu.golden.protocol.ProtocolReference`
gives the answers the RTL must produce, byte for byte.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer
from cocotb.utils import get_sim_time
from insitu.boards.converters import DAC_PARTS, adc_parts, ticks
from insitu.boards.host import BoardBackend
from insitu.boards.models import (
    MIDSCALE,
    AdcBusModel,
    Ads8688Model,
    DacChainModel,
    ShiftEnableModel,
)
from insitu.golden import protocol as proto
from insitu.golden.config import ControllerConfig
from insitu.golden.presets import get_device
from insitu.host import CommandError, HostInterface
from insitu.host.cocotb import UartTransport

P = json.loads(os.environ.get("INSITU_TEST_PARAMS", "{}"))
CFG = ControllerConfig(**P["config"])
CLK_HZ = P["clk_hz"]
BAUD = P["baud"]
PERIOD_NS = 1e9 / CLK_HZ
BIT_NS = 1e9 / BAUD
PART = DAC_PARTS[P["dac_part"]]


class Crossbar:
    """Integer weights; reads shift the summed current down by 4 and clip to the ADC range."""

    W_MAX = 40

    def __init__(self, seed=0):
        self.w = np.random.default_rng(seed).integers(-20, 21, (CFG.rows, CFG.cols))

    def read(self, drive_side, levels, sense_side, l0, l1):
        levels = np.asarray(levels, dtype=np.int64)
        out = levels @ self.w if drive_side == 0 else self.w @ levels
        return np.clip(out >> 4, -CFG.adc_max, CFG.adc_max)[l0:l1]

    def pulse(self, counts):
        self.w = np.clip(self.w + counts, -self.W_MAX, self.W_MAX)


class SimUart(UartTransport):
    """The UART pins of the design as a host transport; records every write and can flip a
    bit of the next one on the wire."""

    def __init__(self, dut):
        super().__init__(dut, BIT_NS)
        self.corrupt_next = False
        self.sent: list[bytes] = []
        self.init()

    async def write(self, data: bytes, gap_bits: int = 0) -> None:
        data = bytearray(data)
        if self.corrupt_next:
            data[-3] ^= 0x10  # a payload/header bit flipped on the wire
            self.corrupt_next = False
        self.sent.append(bytes(data))
        await super().write(bytes(data), gap_bits)


class Board:
    def __init__(self, dut):
        self.dut = dut
        self.array = Crossbar(seed=3)
        lines = CFG.rows + CFG.cols
        self.dac = DacChainModel(-(-lines // PART.channels), PART.channels, PART.onehot_address)
        self.row_parts, col_parts = adc_parts(CFG)
        self.adcs = [Ads8688Model(self._sampler(p)) for p in range(self.row_parts + col_parts)]
        self.adc_bus = AdcBusModel(self.adcs)
        self.en = ShiftEnableModel(8 * -(-CFG.rows // 8), 8 * -(-CFG.cols // 8), dead_ns=90.0)
        self.pulses_applied = 0
        self.neu_read_at_sample: list[int] = []  # the neuron-read pin at every ADC sampling instant
        self.neu_reset_ticks: list[int] = []  # width of every neuron reset pulse

    def levels(self, side):
        words = self.dac.words()
        span = range(CFG.rows) if side == 0 else range(CFG.rows, CFG.rows + CFG.cols)
        return np.array([(words[k] - MIDSCALE) >> (16 - CFG.dac_bits) for k in span], dtype=np.int64)

    def _sampler(self, part):
        def sample(channel):
            self.neu_read_at_sample.append(int(self.dut.neu_read.value))
            if part < self.row_parts:  # a row line: transpose read, columns drive
                line = part * 8 + channel
                code = int(self.array.read(1, self.levels(1), 0, 0, CFG.rows)[line])
            else:
                line = (part - self.row_parts) * 8 + channel
                code = int(self.array.read(0, self.levels(0), 1, 0, CFG.cols)[line])
            return MIDSCALE + (code << (16 - CFG.adc_bits))
        return sample

    async def start(self):
        d = self.dut
        cocotb.start_soon(Clock(d.clk, PERIOD_NS, unit="ns").start())
        d.uart_rx.value = 1
        d.adc_sdo.value = 0
        d.rst.value = 1
        await self.dac.attach(d.dac_sclk, d.dac_sdin, d.dac_sync_n, d.dac_ldac_n, d.dac_reset_n)
        await self.adc_bus.attach(d.adc_sclk, d.adc_sdi, d.adc_sdo, d.adc_cs_n)
        await self.en.attach(d.en_srclk, d.en_rclk, d.en_row_ser, d.en_col_ser, d.en_oe_n, d.en_pol)
        cocotb.start_soon(self._apply_pulses())
        cocotb.start_soon(self._watch_neuron_reset())
        await ClockCycles(d.clk, 5)
        d.rst.value = 0
        await ClockCycles(d.clk, 3000)  # DAC chain init

    async def _apply_pulses(self):
        """Each finished enable pulse moves the devices where a row and a column are enabled."""
        while True:
            await Timer(2000, unit="ns")
            while self.pulses_applied < len(self.en.pulses) and \
                    self.en.pulses[self.pulses_applied].end_ns is not None:
                p = self.en.pulses[self.pulses_applied]
                r = np.array([(p.rows >> i) & 1 for i in range(CFG.rows)])
                c = np.array([(p.cols >> j) & 1 for j in range(CFG.cols)])
                self.array.pulse(np.outer(r, c) * (-1 if p.negative else 1))
                self.pulses_applied += 1

    async def _watch_neuron_reset(self):
        while True:
            await RisingEdge(self.dut.neu_reset)
            t0 = get_sim_time("ns")
            await FallingEdge(self.dut.neu_reset)
            self.neu_reset_ticks.append(round((get_sim_time("ns") - t0) / PERIOD_NS))

    def violations(self):
        return self.dac.violations + self.adc_bus.all_violations() + self.en.violations


def rand_vec(rng, n, m=None):
    m = CFG.dac_max if m is None else m
    return [rng.randint(-m, m) for _ in range(n)]


async def reference_session(dut):
    """A started board, its UART as the host's transport, the protocol reference (the same
    crossbar behind it), the host interface and ``expect()``: the reference's answers to
    every frame written since the last call."""
    board = Board(dut)
    await board.start()
    uart = SimUart(dut)
    ref = proto.ProtocolReference(CFG, analog=Crossbar(seed=3))
    ctrl = HostInterface(uart, timeout=0.01, retries=2)
    seen = [0]

    def expect():
        out = []
        for f in uart.sent[seen[0]:]:
            out += ref.feed(f)
        seen[0] = len(uart.sent)
        return [proto.decode_response(x) for x in out]

    return board, uart, ref, ctrl, expect


@cocotb.test()
async def host_driver_end_to_end(dut):
    """HostInterface + BoardBackend through the UART pins; every answer equals the protocol
    reference."""
    board, uart, ref, ctrl, expect = await reference_session(dut)

    @resume
    async def settle():
        await Timer(5000, unit="ns")

    def session():
        rng = random.Random(11)
        st = ctrl.status()
        (want,) = expect()
        assert st == want.fields() and st["rows"] == CFG.rows
        n_steps = 0
        for step in range(4):
            x = rand_vec(rng, CFG.rows)
            d = rand_vec(rng, CFG.cols)
            ctrl.load_vector(proto.Side.ROWS, x)
            expect()
            ctrl.load_vector(proto.Side.COLS, d)
            expect()
            got = ctrl.forward(0, CFG.rows, 0, CFG.cols)
            (want,) = expect()
            assert list(got) == list(want.codes()), (step, got, want.codes())
            got = ctrl.transpose(1, CFG.rows - 1, 0, CFG.cols)
            (want,) = expect()
            assert list(got) == list(want.codes())
            mode = "deterministic" if step % 2 == 0 else "stochastic"
            gmax = CFG.count_max if mode == "deterministic" else CFG.prob_max
            r = ctrl.update(mode, gmax, gmax, dither=bool(step & 2))
            (want,) = expect()
            assert r == want.fields()
            settle()
            got = ctrl.read_device(step % CFG.rows, (step * 3) % CFG.cols, read_code=CFG.dac_max)
            (want,) = expect()
            assert got == want.codes()[0]
            n_steps += 1
        # write-verify of one device
        r = ctrl.program(1, 2, target=30, tolerance=1, shift=2, read_code=CFG.dac_max)
        (want,) = expect()
        assert r == want.fields()
        # an out-of-range argument: error status, nothing changes
        try:
            ctrl.forward(0, CFG.rows + 1, 0, 1)
            raise AssertionError("BAD_ARG expected")
        except CommandError as e:
            assert e.status == proto.Status.BAD_ARG
        expect()
        # a request corrupted on the wire: BAD_CRC, retried, then the right answer
        uart.corrupt_next = True
        got = ctrl.forward(0, CFG.rows, 0, CFG.cols)
        wants = expect()
        assert ctrl.retried == 1 and wants[0].status == proto.Status.BAD_CRC
        assert list(got) == list(wants[-1].codes())
        st = ctrl.status()
        (want,) = expect()
        assert st == want.fields() and st["frame_errors"] == 2  # BAD_ARG + BAD_CRC
        # the backend interface on top of the same link: loads and the command in batches
        be = BoardBackend(ctrl, get_device("ecram_organic"))
        x = np.array(rand_vec(rng, CFG.rows))
        got = be.forward(x)
        wants = expect()
        assert [w.opcode for w in wants] == [proto.Opcode.LOAD_VECTOR, proto.Opcode.FORWARD]
        assert list(got) == list(wants[-1].codes())
        slots = be.update(np.array(rand_vec(rng, CFG.rows)), np.array(rand_vec(rng, CFG.cols)),
                          mode="deterministic", row_gain=CFG.count_max, col_gain=CFG.count_max)
        wants = expect()
        assert [w.opcode for w in wants] == [proto.Opcode.LOAD_VECTOR] * 2 + [proto.Opcode.UPDATE]
        assert slots == wants[-1].fields()["slots"]
        settle()
        return n_steps

    steps = await bridge(session)()
    assert steps == 4
    await Timer(20000, unit="ns")
    assert np.array_equal(board.array.w, ref.analog.w), "device states diverged"
    assert not board.violations(), board.violations()


@cocotb.test()
async def watchdog_makes_safe(dut):
    """Host quiet for the watchdog time: DACs reset to 0 V, enables off; the next command still works."""
    board = Board(dut)
    await board.start()
    uart = SimUart(dut)
    ctrl = HostInterface(uart, timeout=0.01)
    resets = board.dac.resets
    assert not int(dut.led_safe.value)
    await Timer(P["watchdog_s"] * 1e9 * 1.2, unit="ns")
    assert int(dut.led_safe.value) and int(dut.en_oe_n.value)
    assert board.dac.resets == resets + 1
    assert board.dac.words() == [MIDSCALE] * len(board.dac.words())
    st = await bridge(ctrl.status)()
    assert st["rows"] == CFG.rows
    await ClockCycles(dut.clk, 10)
    assert not int(dut.led_safe.value)
    assert not board.violations(), board.violations()


@cocotb.test()
async def neuron_pins_follow_neuron_control(dut):
    """NEURON_CONTROL through the UART pins: every reset strobe is one ``neu_reset`` pulse of
    ``neuron_reset_s``; ``neu_read`` is high at every ADC sampling instant of a FORWARD in
    neuron-read mode and low at every other one (a TRANSPOSE in that mode, a FORWARD after
    the mode is off), as the protocol reference logs them."""
    board, uart, ref, ctrl, expect = await reference_session(dut)

    def read_pin_during(call):
        """The neu_read pin at the sampling instants of ``call``'s conversions."""
        n = len(board.neu_read_at_sample)
        got = call()
        wants = expect()
        assert len(wants) == 1, [(w.opcode, w.status) for w in wants]
        assert list(got) == list(wants[0].codes())
        samples = board.neu_read_at_sample[n:]
        assert samples, "no conversion sampled"
        return set(samples)

    def session():
        rng = random.Random(5)
        ctrl.status()  # the interface learns the array's size first
        ctrl.load_vector(proto.Side.ROWS, rand_vec(rng, CFG.rows))
        ctrl.load_vector(proto.Side.COLS, rand_vec(rng, CFG.cols))
        expect()
        assert read_pin_during(lambda: ctrl.forward(0, CFG.rows, 0, CFG.cols)) == {0}
        ctrl.neuron_control(reset=True, read=True)
        expect()
        assert read_pin_during(lambda: ctrl.forward(0, CFG.rows, 0, CFG.cols)) == {1}
        assert read_pin_during(lambda: ctrl.forward(1, 2, 1, CFG.cols - 1)) == {1}
        assert read_pin_during(lambda: ctrl.transpose(0, CFG.rows, 0, CFG.cols)) == {0}
        ctrl.neuron_control(reset=True, read=True)  # the next sample
        expect()
        assert read_pin_during(lambda: ctrl.forward(0, CFG.rows, 0, CFG.cols)) == {1}
        ctrl.neuron_control(read=False)
        expect()
        assert read_pin_during(lambda: ctrl.forward(0, CFG.rows, 0, CFG.cols)) == {0}

    await bridge(session)()
    await ClockCycles(dut.clk, 10)
    assert ref.neuron_log == ["reset", ("read", 0, CFG.cols), ("read", 1, CFG.cols - 1),
                              "reset", ("read", 0, CFG.cols)]
    width = ticks(CLK_HZ, P.get("neuron_reset_s", 1e-6))
    assert board.neu_reset_ticks == [width] * ref.neuron_log.count("reset"), board.neu_reset_ticks
    assert not int(dut.neu_read.value) and not int(dut.neu_reset.value)
    assert not board.violations(), board.violations()
