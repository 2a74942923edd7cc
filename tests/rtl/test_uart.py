"""UART bit timing, loopback, and the top answering a frame over its UART pins."""

from __future__ import annotations

import random

from amaranth.hdl import Elaboratable, Module

from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig
from insitu.rtl.top import ControllerTop
from insitu.rtl.uart import UartRx, UartTx
from rtl_harness import simulate, stream_get, stream_put

DIVISOR = 5


class Loopback(Elaboratable):
    def __init__(self):
        self.tx = UartTx(DIVISOR)
        self.rx = UartRx(DIVISOR)

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx, m.submodules.rx = self.tx, self.rx
        m.d.comb += self.rx.rx.eq(self.tx.tx)
        return m


def test_loopback_and_bit_timing():
    dut = Loopback()
    rng = random.Random(1)
    data = [rng.randrange(256) for _ in range(20)] + [0x00, 0xFF, P.SYNC]
    line = []

    async def sender(ctx):
        for b in data:
            await stream_put(ctx, dut.tx.i, b, rng)

    async def receiver(ctx):
        got = [await stream_get(ctx, dut.rx.o, timeout=200 * DIVISOR) for _ in data]
        assert got == data

    async def probe(ctx):
        while True:
            await ctx.tick()
            line.append(ctx.get(dut.tx.tx))

    simulate(dut, sender, receiver, background=[probe])
    # the first frame on the wire: start bit, 8 data bits LSB first, stop bit, DIVISOR ticks each
    t0 = line.index(0)
    bits = [line[t0 + DIVISOR * k + DIVISOR // 2] for k in range(10)]
    assert bits == [0] + [(data[0] >> k) & 1 for k in range(8)] + [1]
    assert line[t0:t0 + DIVISOR] == [0] * DIVISOR


def test_top_over_uart():
    cfg = ControllerConfig(rows=2, cols=3)
    top = ControllerTop(cfg, host="uart", uart_divisor=DIVISOR)
    frames = [P.encode_request(P.Opcode.STATUS),
              P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=1, codes=[5, -7]),
              P.encode_request(P.Opcode.READ_VECTOR, side=1, offset=0, count=3)]
    ref = P.ProtocolReference(cfg)
    answers = [b"".join(ref.feed(f)) for f in frames]
    expected = b"".join(answers)
    got = bytearray()

    async def host(ctx):
        ctx.set(top.uart_rx, 1)
        await ctx.tick().repeat(5)
        done = 0
        for f, answer in zip(frames, answers):
            # a UART host waits for the answer: the controller does not read while it answers
            while len(got) < done:
                await ctx.tick()
            done += len(answer)
            for b in f:
                for bit in [0] + [(b >> k) & 1 for k in range(8)] + [1]:
                    ctx.set(top.uart_rx, bit)
                    await ctx.tick().repeat(DIVISOR)

    async def listen(ctx):
        # decode the tx line by sampling mid-bit
        for _ in range(len(expected)):
            await ctx.tick().until(top.uart_tx == 0)
            await ctx.tick().repeat(DIVISOR // 2)
            byte = 0
            for k in range(8):
                await ctx.tick().repeat(DIVISOR)
                byte |= ctx.get(top.uart_tx) << k
            await ctx.tick().repeat(DIVISOR)
            assert ctx.get(top.uart_tx) == 1, "stop bit"
            got.append(byte)

    simulate(top, host, listen)
    assert bytes(got) == expected
    assert list(P.ResponseDecoder().feed(bytes(got))[-1].codes()) == [0, 5, -7]
