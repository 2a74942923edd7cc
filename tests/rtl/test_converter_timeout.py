"""A converter whose busy never falls: the controller gives up after ``adc_timeout`` ticks.

ControllerTop (byte-stream host port) behind a chip model that holds ``busy`` high on
planted conversions, against ``ProtocolReference`` whose analog raises
``ConverterTimeout`` on the same conversions: every response byte must match (the error
status, or the ``no_code`` tail of a read whose header had already left), the port must
be at the safe idle state (levels 0, enables off) when the timed-out command is
answered, and the commands after it must be answered normally.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference
from insitu.rtl.top import ControllerTop
from rtl_harness import LinearArray, analog_model, simulate, stream_get, stream_put

CFG = ControllerConfig(rows=4, cols=5, dac_bits=6, adc_bits=8, count_bits=2, bl=5, prob_bits=4,
                       adcs=2, pulse_width=2, pulse_gap=1, settle_ticks=1, convert_ticks=2,
                       max_program_iters=3, seed=5, adc_timeout=40)


class HangingArray(LinearArray):
    """LinearArray for the reference: the conversions in ``hang`` (global start indices,
    as counted by the chip model) time out."""

    def __init__(self, config, seed, hang):
        super().__init__(config, seed)
        self.hang, self.starts = sorted(hang), 0
        self.positions = ControllerReference(config).adc_positions

    def read(self, drive_side, levels, sense_side, l0, l1):
        codes = super().read(drive_side, levels, sense_side, l0, l1)
        n = len(self.positions(l0, l1)) * self.config.adc_average
        hit = [h for h in self.hang if self.starts <= h < self.starts + n]
        if hit:
            k = hit[0] - self.starts
            self.starts += k + 1  # the controller starts no conversion after the hung one
            raise P.ConverterTimeout(k // self.config.adc_average, codes)
        self.starts += n
        return codes


def run(cfg, frames, hang, seed=3):
    """Send ``frames``; return (responses, the port state at every answer, expected)."""
    rng = random.Random(seed)
    top = ControllerTop(cfg, host="stream", timeout_cycles=60)
    ref = P.ProtocolReference(cfg, analog=HangingArray(cfg, seed, hang))
    chip = LinearArray(cfg, seed)
    expected = b"".join(b"".join(ref.feed(f)) for f in frames)
    got, idle_at_answer, log = bytearray(), [], {}

    async def sender(ctx):
        for f in frames:
            for b in f:
                await stream_put(ctx, top.host_rx, b, rng, 0.2)

    async def receiver(ctx):
        while len(got) < len(expected):
            got.append(await stream_get(ctx, top.host_tx, rng, 0.2, timeout=20000))
        for _ in range(200):
            assert not ctx.get(top.host_tx.valid), "a response nobody asked for"
            await ctx.tick()

    async def safe_idle_watch(ctx):
        an = top.analog
        async for _, _, done, row, col, en_r, en_c in ctx.tick().sample(
                an.cmd_done, an.dac.row.as_value(), an.dac.col.as_value(), an.pulse.row,
                an.pulse.col):
            if done:
                idle_at_answer.append(row == 0 and col == 0 and en_r == 0 and en_c == 0)

    simulate(top, sender, receiver, background=[
        analog_model(top.analog, cfg, chip, random.Random(seed + 1), log, hang=hang),
        safe_idle_watch])
    assert bytes(got) == expected, "responses differ from ProtocolReference"
    assert (chip.w == ref.analog.w).all()
    return P.ResponseDecoder().feed(bytes(got)), idle_at_answer, ref


def loads(cfg, rng):
    m = cfg.dac_max
    return [P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0,
                             codes=[rng.randint(-m, m) for _ in range(cfg.rows)]),
            P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0,
                             codes=[rng.randint(-m, m) for _ in range(cfg.cols)])]


def forward_codes(ref):
    """What a full FORWARD of the reference's buffers converts (no timeout)."""
    return LinearArray.read(ref.analog, 0, ref.x, 1, 0, ref.config.cols)


FULL_FORWARD = P.encode_request(P.Opcode.FORWARD, row0=0, nrows=CFG.rows, col0=0, ncols=CFG.cols)


def test_busy_stuck_on_first_conversion_answers_adc_timeout_then_serves():
    rng = random.Random(1)
    frames = loads(CFG, rng) + [FULL_FORWARD, FULL_FORWARD, P.encode_request(P.Opcode.STATUS)]
    responses, idle, ref = run(CFG, frames, hang={0})
    assert [r.status for r in responses] == [P.Status.OK, P.Status.OK, P.Status.ADC_TIMEOUT,
                                             P.Status.OK, P.Status.OK]
    assert responses[2].payload == b""
    assert list(responses[3].codes()) == list(forward_codes(ref))  # the next read is right
    assert responses[4].fields()["frame_errors"] == 1
    assert all(idle), "not at the safe idle state when a command was answered"


def test_busy_stuck_mid_read_ends_the_body_with_no_code():
    # mux positions of a 5-column read with 2 converters: 0, 1, 2; the second one hangs
    frames = loads(CFG, random.Random(2)) + [FULL_FORWARD, FULL_FORWARD]
    responses, idle, ref = run(CFG, frames, hang={1})
    codes = responses[2].codes()
    assert responses[2].ok and list(codes[2:]) == [P.no_code(CFG)] * 3
    assert list(codes[:2]) == list(forward_codes(ref)[:2])
    assert responses[3].ok and list(responses[3].codes()) == list(forward_codes(ref))
    assert all(idle)


def test_write_verify_and_device_reads_time_out():
    m = CFG.dac_max
    frames = [
        P.encode_request(P.Opcode.READ_DEVICE, row=1, col=2, read_code=m),
        # PROGRAM: read (start 1), pulse, read (start 2: hangs) -> ADC_TIMEOUT after one step
        P.encode_request(P.Opcode.PROGRAM, row=0, col=1, target=30, tolerance=0, shift=0,
                         read_code=m),
        P.encode_request(P.Opcode.TRANSPOSE, row0=0, nrows=CFG.rows, col0=0, ncols=CFG.cols),
    ]
    responses, idle, ref = run(CFG, frames, hang={0, 2})
    assert [r.status for r in responses] == [P.Status.ADC_TIMEOUT, P.Status.ADC_TIMEOUT,
                                             P.Status.OK]
    assert all(idle)


def test_unplanted_run_is_unchanged_by_the_timeout():
    rng = random.Random(4)
    frames = loads(CFG, rng) + [FULL_FORWARD,
                                P.encode_request(P.Opcode.READ_DEVICE, row=0, col=0, read_code=9)]
    responses, idle, _ = run(CFG, frames, hang=())
    assert all(r.ok for r in responses) and all(idle)


def test_adc_timeout_is_checked():
    with pytest.raises(ValueError, match="adc_timeout"):
        ControllerConfig(adc_timeout=0)
    with pytest.raises(ValueError, match="adc_timeout"):
        ControllerConfig(adc_timeout=65536)


def test_reference_timeout_semantics():
    """ProtocolReference alone: position 0 -> ADC_TIMEOUT and no effect on the buffers;
    a later position -> no_code for the lines of that position and after."""
    cfg = CFG
    ref = P.ProtocolReference(cfg, analog=HangingArray(cfg, 0, hang={3}))
    ref.feed(loads(cfg, random.Random(5))[0])
    first = P.decode_response(ref.feed(FULL_FORWARD)[0])  # starts 0, 1, 2
    second = P.decode_response(ref.feed(FULL_FORWARD)[0])  # start 3 is its position 0
    third = P.decode_response(ref.feed(FULL_FORWARD)[0])
    assert first.ok and third.ok and np.array_equal(first.codes(), third.codes())
    assert second.status == P.Status.ADC_TIMEOUT and ref.frame_errors == 1
