"""Small helpers shared by the RTL tests: simulation runner, stream endpoints, buffers."""

from __future__ import annotations

import random

import numpy as np

from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator


#: the fastest timing a controller allows: one-tick pulses, no gap, no settling, 1-tick conversions
FAST_TIMING = {"pulse_width": 1, "pulse_gap": 0, "settle_ticks": 0, "convert_ticks": 1,
               "max_program_iters": 4}


def small_config(rows: int, cols: int, **fields):
    """A small ControllerConfig for the simulator tests: :data:`FAST_TIMING` unless overridden."""
    from insitu.golden.config import ControllerConfig

    return ControllerConfig(rows=rows, cols=cols, **{**FAST_TIMING, **fields})


def simulate(dut, *testbenches, background=(), vcd: str | None = None):
    """Run async testbenches on ``dut`` until the foreground ones return."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    for tb in background:
        sim.add_testbench(tb, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


async def stream_put(ctx, stream, payload, rng: random.Random | None = None, p_pause=0.3):
    """Offer one payload; with ``rng``, first idle for a random number of ticks."""
    if rng is not None:
        while rng.random() < p_pause:
            await ctx.tick()
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, rng: random.Random | None = None, p_pause=0.3, timeout=100000):
    """Take one payload; with ``rng``, hold ready low on random ticks (backpressure)."""
    n = 0
    while True:
        ready = 1 if rng is None else int(rng.random() >= p_pause)
        ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        n += 1
        if n > timeout:
            raise AssertionError("stream_get timed out")
        if ready and valid:
            ctx.set(stream.ready, 0)
            return payload


class Buffers(Elaboratable):
    """x and d buffers (lib.memory) wired to a component's x/d read ports, writable from a testbench."""

    def __init__(self, config, dut):
        self.config = config
        self.dut = dut
        self.x_we = Signal()
        self.x_waddr = Signal(range(config.rows))
        self.x_wdata = Signal(signed(config.dac_bits))
        self.d_we = Signal()
        self.d_waddr = Signal(range(config.cols))
        self.d_wdata = Signal(signed(config.dac_bits))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.dut = dut = self.dut
        m.submodules.x = x = Memory(shape=signed(cfg.dac_bits), depth=cfg.rows, init=[])
        m.submodules.d = d = Memory(shape=signed(cfg.dac_bits), depth=cfg.cols, init=[])
        for mem, we, wa, wd, ra, rd in (
            (x, self.x_we, self.x_waddr, self.x_wdata, dut.x_addr, dut.x_data),
            (d, self.d_we, self.d_waddr, self.d_wdata, dut.d_addr, dut.d_data),
        ):
            w = mem.write_port()
            r = mem.read_port()
            m.d.comb += [w.en.eq(we), w.addr.eq(wa), w.data.eq(wd), r.addr.eq(ra), rd.eq(r.data)]
        return m

    async def load(self, ctx, x_codes, d_codes):
        for we, wa, wd, codes in ((self.x_we, self.x_waddr, self.x_wdata, x_codes),
                                  (self.d_we, self.d_waddr, self.d_wdata, d_codes)):
            ctx.set(we, 1)
            for i, c in enumerate(codes):
                ctx.set(wa, i)
                ctx.set(wd, int(c))
                await ctx.tick()
            ctx.set(we, 0)


class LinearArray:
    """A tiny integer crossbar for tests: weights move one unit per pulse, reads are exact.

    Used twice per test: inside the protocol reference and behind the simulated
    analog port; if the RTL pulses and reads like the reference, both stay equal.
    """

    W_MAX = 40

    def __init__(self, config, seed=0):
        self.config = config
        self.w = np.random.default_rng(seed).integers(-20, 21, (config.rows, config.cols))

    def read(self, drive_side, levels, sense_side, l0, l1):
        levels = np.asarray(levels, dtype=np.int64)
        out = levels @ self.w if drive_side == 0 else self.w @ levels
        m = self.config.adc_max
        return np.clip(out >> 4, -m, m)[l0:l1]

    def pulse(self, counts):
        self.w = np.clip(self.w + counts, -self.W_MAX, self.W_MAX)


def analog_model(port, config, array: LinearArray, rng: random.Random, log: dict, hang=()):
    """Background testbench standing in for the chip behind an AnalogPortSignature port.

    Also checks the port's invariants every tick: pulses only while every DAC
    level is 0 and no conversion is running, enable runs no longer than
    ``pulse_width``, polarity constant within a slot. ``hang``: indices of conversion
    starts (both sides, counted from 0) whose ``busy`` never falls (until the next start).
    """
    R, C = config.rows, config.cols
    hang = set(hang)

    async def model(ctx):
        row_lv = np.zeros(R, dtype=np.int64)
        col_lv = np.zeros(C, dtype=np.int64)
        counts = np.zeros((R, C), dtype=np.int64)
        busy = {"row": 0, "col": 0}
        since_slot = 0
        pol = 0
        log.setdefault("slots", 0)
        log.setdefault("bursts", 0)
        log.setdefault("starts", 0)
        hung = {"row": False, "col": False}
        while True:
            await ctx.tick()
            if ctx.get(port.dac.strobe):
                rd, cd = ctx.get(port.dac.row), ctx.get(port.dac.col)
                row_lv = np.array([rd[i] for i in range(R)])
                col_lv = np.array([cd[j] for j in range(C)])
            converting = False
            for side, lines in (("row", R), ("col", C)):
                if ctx.get(getattr(port.adc, side).start):
                    mux = ctx.get(getattr(port.adc, side).mux)
                    if side == "col":
                        vals = array.read(0, row_lv, 1, 0, C)
                    else:
                        vals = array.read(1, col_lv, 0, 0, R)
                    data = []
                    for k in range(config.adcs):
                        line = mux * config.adcs + k
                        data.append(int(vals[line]) if line < lines else 0)
                    ctx.set(getattr(port.adc, side).data, data)
                    busy[side] = config.convert_ticks + rng.randint(0, 3)
                    hung[side] = log["starts"] in hang
                    log["starts"] += 1
                if hung[side]:  # stuck high, converting nothing
                    ctx.set(getattr(port.adc, side).busy, (1 << config.adcs) - 1)
                    continue
                if busy[side]:
                    busy[side] -= 1
                    converting = True
                ctx.set(getattr(port.adc, side).busy, (1 << config.adcs) - 1 if busy[side] else 0)
            row_en, col_en = ctx.get(port.pulse.row), ctx.get(port.pulse.col)
            if ctx.get(port.pulse.slot):
                since_slot = 0
                pol = ctx.get(port.pulse.pol)
                r = np.array([(row_en >> i) & 1 for i in range(R)])
                c = np.array([(col_en >> j) & 1 for j in range(C)])
                counts += np.outer(r, c) * (-1 if pol else 1)
                log["slots"] += 1
            if row_en or col_en:
                since_slot += 1
                assert since_slot <= config.pulse_width, "pulse longer than pulse_width"
                assert ctx.get(port.pulse.pol) == pol, "polarity changed within a slot"
                assert not converting, "pulse during a conversion"
                assert not row_lv.any() and not col_lv.any(), "pulse while read levels are latched"
                rd, cd = ctx.get(port.dac.row), ctx.get(port.dac.col)
                assert all(rd[i] == 0 for i in range(R)) and all(cd[j] == 0 for j in range(C))
            if ctx.get(port.update_done):
                # one polarity per device and command; at most count_max**2 (deterministic)
                # or bl (stochastic: a device fires only in its own sign subphase) pulses
                assert np.abs(counts).max(initial=0) <= max(config.count_max ** 2, config.bl)
                array.pulse(counts)
                counts[:] = 0
                log["bursts"] += 1

    return model


def host_session(top, ref, chip, config, chunks, seed: int, *, p_pause=0.3, timeout_cycles=None,
                 get_timeout=20000, quiet_ticks=0, watchers=()):
    """Send ``chunks`` = [(bytes, idle ticks after)] to ``top``'s stream host port with the
    chip ``chip`` (a :class:`LinearArray`) behind its analog port, and check every response
    byte against ``ref`` (a ``ProtocolReference`` on its own copy of the chip) and the arrays
    at the end. An idle gap longer than ``timeout_cycles + 5`` is a link timeout for the
    reference; ``quiet_ticks``: nothing more may come out for that long after the last byte;
    ``watchers``: more background testbenches (observers of ``top``).

    Returns (responses, log of the analog model) with the responses decoded."""
    from insitu.golden import protocol as P

    rng = random.Random(seed)
    expected = []
    for data, idle in chunks:
        expected += ref.feed(data)
        if timeout_cycles is not None and idle > timeout_cycles + 5:
            expected += ref.timeout()
    expected_bytes = b"".join(expected)
    log = {}
    got = bytearray()

    async def sender(ctx):
        for data, idle in chunks:
            for b in data:
                await stream_put(ctx, top.host_rx, b, rng, p_pause)
            await ctx.tick().repeat(max(idle, 1))

    async def receiver(ctx):
        while len(got) < len(expected_bytes):
            got.append(await stream_get(ctx, top.host_tx, rng, p_pause, timeout=get_timeout))
        for _ in range(quiet_ticks):  # nothing more comes out
            assert not ctx.get(top.host_tx.valid)
            await ctx.tick()

    simulate(top, sender, receiver,
             background=[analog_model(top.analog, config, chip, random.Random(seed + 1), log),
                         *watchers])
    dec = P.ResponseDecoder()
    responses = dec.feed(bytes(got))
    assert dec.dropped == 0
    want = P.ResponseDecoder().feed(expected_bytes)
    assert len(responses) == len(want)
    for k, (a, b) in enumerate(zip(responses, want)):
        assert (a.opcode, a.status, a.payload) == (b.opcode, b.status, b.payload), \
            f"response {k}: rtl {a}, reference {b}"
    assert bytes(got) == expected_bytes
    assert (chip.w == ref.analog.w).all()
    return responses, log
