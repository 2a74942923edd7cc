"""NEURON_CONTROL through ControllerTop: the neurons' reset line and neuron-read selection.

The analog port's ``neuron.reset`` must strobe once per accepted reset flag and
``neuron.read`` be high exactly during the FORWARD reads taken in neuron-read mode,
as ``ProtocolReference`` predicts (its ``neuron_log``); both are 0 when a command is
answered. A NEURON_CONTROL with an unknown flag is BAD_ARG and changes nothing.
"""

from __future__ import annotations

import random

from insitu.golden import protocol as P
from insitu.rtl.top import ControllerTop
from rtl_harness import LinearArray, analog_model, simulate, stream_get, stream_put
from test_top import CFG_A


def neuron_session(cfg, frames, seed=0):
    """Run ``frames``; the responses, the reference, and the neuron events seen on the port."""
    rng = random.Random(seed)
    top = ControllerTop(cfg, host="stream", timeout_cycles=60)
    ref = P.ProtocolReference(cfg, analog=LinearArray(cfg, seed))
    want = b"".join(ref.feed(b"".join(frames)))
    got = bytearray()
    seen: list = []
    faults: list = []

    async def sender(ctx):
        for b in b"".join(frames):
            await stream_put(ctx, top.host_rx, b, rng)

    async def receiver(ctx):
        while len(got) < len(want):
            got.append(await stream_get(ctx, top.host_tx, rng))

    async def neuron_watch(ctx):
        an = top.analog
        in_read = False
        while True:
            await ctx.tick()
            if ctx.get(an.neuron.reset):
                seen.append("reset")
            if ctx.get(an.adc.col.start) and ctx.get(an.neuron.read) and not in_read:
                seen.append("read")  # one entry per neuron read (its first conversion)
                in_read = True
            if not ctx.get(an.neuron.read):
                in_read = False
            if ctx.get(an.cmd_done) and (ctx.get(an.neuron.read) or ctx.get(an.neuron.reset)):
                faults.append("neuron line high when a command is answered")

    simulate(top, sender, receiver,
             background=[analog_model(top.analog, cfg, LinearArray(cfg, seed),
                                      random.Random(seed + 1), {}), neuron_watch])
    assert bytes(got) == want
    assert not faults, faults
    return P.ResponseDecoder().feed(bytes(got)), ref, seen


def _forward(cfg, col0=0, ncols=None):
    return P.encode_request(P.Opcode.FORWARD, row0=0, nrows=cfg.rows, col0=col0,
                            ncols=cfg.cols - col0 if ncols is None else ncols)


def _neurons(flags):
    return P.encode_request(P.Opcode.NEURON_CONTROL, flags=flags)


def test_reset_strobe_and_neuron_reads_as_the_reference_predicts():
    cfg = CFG_A
    R, RD = P.NEURON_FLAG_RESET, P.NEURON_FLAG_READ
    frames = [
        P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0, codes=[5, -3, 7, 1]),
        _forward(cfg),                         # plain
        _neurons(R | RD), _forward(cfg), _forward(cfg, 1, 2),  # reset, two neuron reads
        P.encode_request(P.Opcode.TRANSPOSE, row0=0, nrows=cfg.rows, col0=0, ncols=cfg.cols),
        P.encode_request(P.Opcode.READ_DEVICE, row=1, col=2, read_code=9),  # never neurons
        _neurons(0x04),                        # unknown flag: BAD_ARG, mode unchanged
        _forward(cfg),                         # still a neuron read
        _neurons(RD), _forward(cfg),           # no reset, neuron read
        _neurons(R), _forward(cfg),            # reset, neuron reads off: plain
    ]
    responses, ref, seen = neuron_session(cfg, frames)
    assert [r.status for r in responses].count(P.Status.BAD_ARG) == 1
    want = [e if e == "reset" else "read" for e in ref.neuron_log]
    assert want == ["reset", "read", "read", "read", "read", "reset"]
    assert seen == want


def test_the_watch_sees_a_missing_reset():
    """The comparison is a checker: the reference's log of a run with one more reset
    differs from what the port showed (planted: the host's extra reset never sent)."""
    cfg = CFG_A
    frames = [_neurons(P.NEURON_FLAG_READ), _forward(cfg)]
    _, ref, seen = neuron_session(cfg, frames)
    assert seen == ["read"]
    extra = P.ProtocolReference(cfg)
    extra.feed(_neurons(P.NEURON_FLAG_RESET | P.NEURON_FLAG_READ) + _forward(cfg))
    assert [e if e == "reset" else "read" for e in extra.neuron_log] != seen
