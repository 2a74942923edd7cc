"""The stream port's run-ahead (Amaranth simulator): the host link takes the next frame into
its second payload bank while a TRAIN trains, the answers stay in order, and every answer and
the array are what ProtocolReference predicts for the bytes in order, bad frames included.

The observer counts the request bytes the port has taken each time the trainer finishes a
sample: the frame after it, and not a byte more (``ProtocolReference.queued_frame_bytes``)."""

from __future__ import annotations

import random

import pytest
from insitu.golden import protocol as P
from insitu.rtl.hostlink import HostLink
from insitu.rtl.top import ControllerTop
from rtl_harness import LinearArray, host_session
from test_trainer import CFG, ONCHIP, SIZES, network_frames, samples


def taken_at_sample_ends(top, ends: list):
    """Background testbench: at every falling edge of ``trainer_busy``, the number of request
    bytes the port has taken so far (appended to ``ends``)."""

    async def watch(ctx):
        taken, busy_before = 0, 0
        async for _, _, valid, ready, busy in ctx.tick().sample(
                top.host_rx.valid, top.host_rx.ready, top.trainer_busy):
            taken += int(valid and ready)
            if busy_before and not busy:
                ends.append(taken)
            busy_before = busy

    return watch


def session(frames, seed, *, run_ahead=True, p_pause=0.0):
    """Frames back to back into ControllerTop; (responses, taken-at-sample-end, reference)."""
    top = ControllerTop(CFG, host="stream", timeout_cycles=200, trainer=ONCHIP,
                        run_ahead=run_ahead)
    ref = P.ProtocolReference(CFG, analog=LinearArray(CFG, seed), trainer=ONCHIP)
    chip = LinearArray(CFG, seed)
    ends = []
    got, _ = host_session(top, ref, chip, CFG, [(f, 0) for f in frames], seed, p_pause=p_pause,
                          get_timeout=200000, watchers=[taken_at_sample_ends(top, ends)])
    return got, ends, ref


def predicted_ends(frames, trainer_runs, *, run_ahead=True):
    """Bytes taken when the trainer finishes each command of ``trainer_runs`` (indices of the
    frames the trainer engine runs): the end of that frame plus its run-ahead."""
    stream = b"".join(frames)
    ref = P.ProtocolReference(CFG, trainer=ONCHIP)
    out = []
    for i in trainer_runs:
        end = sum(len(f) for f in frames[:i + 1])
        out.append(end + (ref.queued_frame_bytes(stream[end:]) if run_ahead else 0))
    return out


def status_frame():
    return P.encode_request(P.Opcode.STATUS)


def test_the_next_sample_arrives_while_one_trains():
    """TRAIN and INFER back to back: each next frame is in before the current one is answered,
    in the other bank (the answers and the array are the reference's), and nothing beyond it."""
    rng = random.Random(3)
    frames = network_frames() + samples(rng, 8, CFG.dac_max) + [status_frame()]
    got, ends, ref = session(frames, seed=3)
    assert all(r.ok for r in got) and len(got) == len(frames)
    runs = [i for i, f in enumerate(frames) if f[1] in P.TRAINER_OPCODES]
    assert ends == predicted_ends(frames, runs)
    # the STATUS after them counts the LFSR draws of every update, as the reference does
    assert got[-1].fields()["lfsr_draws"] == ref.controller.lfsr.draws > 0


def test_without_run_ahead_the_port_waits():
    """The UART top's mode (its FIFO buffers instead): not one byte is taken while a sample
    trains; the same answers."""
    rng = random.Random(4)
    frames = network_frames() + samples(rng, 4, CFG.dac_max)
    got, ends, _ = session(frames, seed=4, run_ahead=False)
    assert all(r.ok for r in got)
    runs = [i for i, f in enumerate(frames) if f[1] in P.TRAINER_OPCODES]
    assert ends == predicted_ends(frames, runs, run_ahead=False)


def _bad_crc(frame: bytes) -> bytes:
    f = bytearray(frame)
    f[-1] ^= 0x5A
    return bytes(f)


@pytest.mark.parametrize("seed", [5, 6])
def test_bad_frames_while_a_sample_trains(seed):
    """Each bad frame arrives while a TRAIN trains: it is answered after that TRAIN, in order,
    with the reference's status, and changes nothing (the next TRAIN, the array, the STATUS
    counts of frame errors and LFSR draws are the reference's). With random pauses both ways."""
    rng = random.Random(seed)
    D = CFG.dac_max

    def train():
        return samples_train(rng, D)

    too_long = bytes([P.SYNC, P.Opcode.TRAIN, 0xFF, 0x7F])  # answered at its length
    frames = network_frames() + [
        train(), _bad_crc(train()),  # BAD_CRC
        status_frame(),  # waits on the wire while the bad frame is queued; then counts it
        train(), too_long,  # BAD_LENGTH (above max_payload)
        train(), P.encode_frame(0x55, b"\x01"),  # BAD_OPCODE
        train(), P.encode_frame(P.Opcode.TRAIN, bytes([SIZES[-1], 1, 2, 3])),  # label: BAD_ARG
        train(), P.encode_frame(P.Opcode.TRAIN, bytes([0, 1, D + 1, 3])),  # code: BAD_ARG
        train(), P.encode_frame(P.Opcode.INFER, b""),  # BAD_LENGTH (no codes)
        train(), status_frame(),  # a command queued behind a TRAIN: its state after it
        train(), P.encode_frame(P.Opcode.INFER, bytes([1, 2, 3])), status_frame(),
    ]
    got, ends, ref = session(frames, seed=seed, p_pause=0.25)
    statuses = [r.status for r in got]
    assert statuses.count(P.Status.BAD_CRC) == 1 and statuses.count(P.Status.BAD_OPCODE) == 1
    assert statuses.count(P.Status.BAD_LENGTH) == 2 and statuses.count(P.Status.BAD_ARG) == 2
    counts = [r.fields()["frame_errors"] for r in got if r.opcode == P.Opcode.STATUS]
    assert counts == [1, 6, 6] and ref.frame_errors == 6
    # the trainer runs every trainer frame the link and the decoder pass (BAD_ARG briefly);
    # each good TRAIN / INFER ran with the frame after it (good or bad) already taken
    runs = [i for i, f in enumerate(frames) if f[1] in P.TRAINER_OPCODES
            and got[i].status in (P.Status.OK, P.Status.BAD_ARG)]
    assert len(ends) == len(runs)
    want = predicted_ends(frames, runs)
    checked = [(i, g, w) for i, g, w in zip(runs, ends, want)
               if frames[i][1] in (P.Opcode.TRAIN, P.Opcode.INFER) and got[i].ok]
    assert len(checked) == 9 and all(g == w for _, g, w in checked), checked


def samples_train(rng, D) -> bytes:
    codes = bytes(rng.choice([0, D, rng.randint(0, D)]) for _ in range(SIZES[0]))
    return P.encode_frame(P.Opcode.TRAIN, bytes([rng.randrange(SIZES[-1])]) + codes)


def test_planted_fault_one_bank_is_caught(monkeypatch):
    """Planted: the receiver never swaps banks, so the next sample overwrites the one training
    (its codes are read after the next frame's have landed): the answers differ."""
    monkeypatch.setattr(HostLink, "swap_banks", False)
    rng = random.Random(3)
    frames = network_frames() + samples(rng, 8, CFG.dac_max)
    with pytest.raises(AssertionError):
        session(frames, seed=3)


def test_queued_frame_bytes():
    ref = P.ProtocolReference(CFG)
    frame = P.encode_request(P.Opcode.STATUS)
    assert ref.queued_frame_bytes(frame + frame) == len(frame)
    assert ref.queued_frame_bytes(b"\x00\x01" + frame + frame) == 2 + len(frame)
    assert ref.queued_frame_bytes(frame[:3]) == 3
    assert ref.queued_frame_bytes(b"\x07\x08") == 2
    assert ref.queued_frame_bytes(bytes([P.SYNC, 1, 0xFF, 0x7F, 9, 9]) + frame) == 4
