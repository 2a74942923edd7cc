"""Small helpers shared by the RTL tests: simulation runner, stream endpoints, buffers."""

from __future__ import annotations

import random

from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator


def simulate(dut, *testbenches, processes=(), vcd: str | None = None):
    """Run async testbenches on ``dut`` with a 1 MHz-ish clock until they all return."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    for proc in processes:
        sim.add_process(proc)
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
