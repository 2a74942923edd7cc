"""ControllerTop through its byte-stream host port against golden.protocol.ProtocolReference.

A simulated chip (``LinearArray`` behind the analog port) and a second copy of it
inside the reference must stay equal: every response byte is compared.
"""

from __future__ import annotations

import random

import pytest

from insitu.golden import protocol as P
from insitu.rtl.top import ControllerTop
from rtl_harness import LinearArray, host_session, small_config

TIMEOUT = 60


def run_session(cfg, chunks, seed, p_pause=0.3):
    """Send ``chunks`` = [(bytes, idle ticks after)] and compare every response byte."""
    top = ControllerTop(cfg, host="stream", timeout_cycles=TIMEOUT)
    ref = P.ProtocolReference(cfg, analog=LinearArray(cfg, seed))
    responses, log = host_session(top, ref, LinearArray(cfg, seed), cfg, chunks, seed,
                                  p_pause=p_pause, timeout_cycles=TIMEOUT, quiet_ticks=3 * TIMEOUT)
    return responses, log, ref


def rand_codes(rng, n, m):
    return [rng.choice([0, m, -m, rng.randint(-m, m)]) for _ in range(n)]


def command_mix(cfg, rng, n):
    out = []
    m = cfg.dac_max
    out.append(P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0, codes=rand_codes(rng, cfg.rows, m)))
    out.append(P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0, codes=rand_codes(rng, cfg.cols, m)))
    full = dict(row0=0, nrows=cfg.rows, col0=0, ncols=cfg.cols)
    out.append(P.encode_request(P.Opcode.UPDATE, mode=0, flags=0, row_gain=cfg.count_max,
                                col_gain=cfg.count_max, **full))
    out.append(P.encode_request(P.Opcode.UPDATE, mode=1, flags=0, row_gain=cfg.prob_max,
                                col_gain=cfg.prob_max, **full))
    out.append(P.encode_request(P.Opcode.PROGRAM, row=0, col=cfg.cols - 1, target=25, tolerance=1,
                                shift=1, read_code=m))
    for _ in range(n):
        kind = rng.choice(["load", "rv", "fwd", "tr", "upd", "upd", "dev", "prog", "status"])
        r0 = rng.randrange(cfg.rows); nr = rng.randint(1, cfg.rows - r0)
        c0 = rng.randrange(cfg.cols); nc = rng.randint(1, cfg.cols - c0)
        if kind == "load":
            side = rng.randint(0, 1)
            lines = cfg.rows if side == 0 else cfg.cols
            off = rng.randrange(lines)
            out.append(P.encode_request(P.Opcode.LOAD_VECTOR, side=side, offset=off,
                                        codes=rand_codes(rng, rng.randint(1, lines - off), m)))
        elif kind == "rv":
            side = rng.randint(0, 1)
            lines = cfg.rows if side == 0 else cfg.cols
            off = rng.randrange(lines)
            out.append(P.encode_request(P.Opcode.READ_VECTOR, side=side, offset=off,
                                        count=rng.randint(1, lines - off)))
        elif kind in ("fwd", "tr"):
            op = P.Opcode.FORWARD if kind == "fwd" else P.Opcode.TRANSPOSE
            out.append(P.encode_request(op, row0=r0, nrows=nr, col0=c0, ncols=nc))
        elif kind == "upd":
            mode = rng.randint(0, 1)
            gmax = cfg.count_max if mode == 0 else cfg.prob_max
            out.append(P.encode_request(
                P.Opcode.UPDATE, mode=mode, flags=rng.randint(0, 1),
                row_gain=rng.randint(0, gmax), col_gain=rng.randint(0, gmax),
                row0=r0, nrows=nr, col0=c0, ncols=nc))
        elif kind == "dev":
            out.append(P.encode_request(P.Opcode.READ_DEVICE, row=rng.randrange(cfg.rows),
                                        col=rng.randrange(cfg.cols), read_code=rng.randint(-m, m)))
        elif kind == "prog":
            out.append(P.encode_request(
                P.Opcode.PROGRAM, row=rng.randrange(cfg.rows), col=rng.randrange(cfg.cols),
                target=rng.randint(-30, 30), tolerance=rng.randint(0, 2), shift=rng.randint(0, 2),
                read_code=rng.choice([m, 16, -m])))
        else:
            out.append(P.encode_request(P.Opcode.STATUS))
    return out


CFG_A = small_config(4, 3, dac_bits=6, adc_bits=8, count_bits=2, bl=5, prob_bits=4, adcs=2,
                     pulse_width=2, pulse_gap=1, settle_ticks=1, convert_ticks=2,
                     max_program_iters=6, seed=5)
CFG_B = small_config(3, 5, dac_bits=8, adc_bits=10, count_bits=3, bl=4, prob_bits=6, adcs=1, seed=9)


@pytest.mark.parametrize("cfg", [CFG_A, CFG_B], ids=["A", "B"])
def test_commands_match_reference(cfg):
    rng = random.Random(cfg.seed)
    frames = command_mix(cfg, rng, 14)
    responses, log, ref = run_session(cfg, [(f, 0) for f in frames], seed=cfg.seed)
    assert all(r.ok for r in responses)
    assert log["slots"] > 0


def test_status_reports_config():
    cfg = CFG_A
    responses, _, _ = run_session(cfg, [(P.encode_request(P.Opcode.STATUS), 0)], seed=1)
    f = responses[0].fields()
    assert (f["rows"], f["cols"], f["adcs"], f["version"]) == (cfg.rows, cfg.cols, cfg.adcs, P.VERSION)


def malformed_frames(cfg, rng):
    m = cfg.dac_max
    good = P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=1, codes=[1, 2])
    bad = []
    bad.append(good[:-1] + bytes([good[-1] ^ 0x10]))                      # bad CRC
    bad.append(P.encode_frame(0x7E, b"\x00\x01"))                         # unknown opcode
    bad.append(P.encode_frame(P.Opcode.FORWARD, b"\x00" * 7))             # wrong length
    bad.append(P.encode_frame(P.Opcode.LOAD_VECTOR, b"\x00\x00\x00\x01"))  # even length
    bad.append(P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=cfg.rows - 1, codes=[1, 1]))
    bad.append(P.encode_request(P.Opcode.LOAD_VECTOR, side=2, offset=0, codes=[1]))
    bad.append(P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0, codes=[0, m + 1]))
    bad.append(P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0, codes=[-m - 1]))
    bad.append(P.encode_request(P.Opcode.READ_VECTOR, side=0, offset=0, count=0))
    bad.append(P.encode_request(P.Opcode.FORWARD, row0=0, nrows=cfg.rows + 1, col0=0, ncols=1))
    bad.append(P.encode_request(P.Opcode.TRANSPOSE, row0=0, nrows=1, col0=cfg.cols, ncols=1))
    bad.append(P.encode_request(P.Opcode.UPDATE, mode=0, flags=0, row_gain=cfg.count_max + 1,
                                col_gain=1, row0=0, nrows=1, col0=0, ncols=1))
    bad.append(P.encode_request(P.Opcode.UPDATE, mode=2, flags=0, row_gain=1,
                                col_gain=1, row0=0, nrows=1, col0=0, ncols=1))
    bad.append(P.encode_request(P.Opcode.UPDATE, mode=1, flags=2, row_gain=1,
                                col_gain=1, row0=0, nrows=1, col0=0, ncols=1))
    bad.append(P.encode_request(P.Opcode.PROGRAM, row=cfg.rows, col=0, target=0, tolerance=0,
                                shift=0, read_code=1))
    bad.append(P.encode_request(P.Opcode.READ_DEVICE, row=0, col=0, read_code=m + 1))
    bad.append(bytes([P.SYNC, P.Opcode.STATUS, 0xFF, 0xFF]))               # length above the buffer
    return bad


def test_malformed_frames_answered_and_harmless():
    cfg = CFG_A
    rng = random.Random(3)
    m = cfg.dac_max
    x = rand_codes(rng, cfg.rows, m)
    d = rand_codes(rng, cfg.cols, m)
    chunks = [
        (P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0, codes=x), 0),
        (P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0, codes=d), 0),
    ]
    bad = malformed_frames(cfg, rng)
    for f in bad:
        chunks.append((f, 0))
    # truncated frames, each followed by an idle gap longer than the timeout
    good = P.encode_request(P.Opcode.UPDATE, mode=0, flags=0, row_gain=1, col_gain=1,
                            row0=0, nrows=cfg.rows, col0=0, ncols=cfg.cols)
    for cut in (1, 2, 4, 7, len(good) - 1):
        chunks.append((good[:cut], TIMEOUT + 30))
    read_back = [
        P.encode_request(P.Opcode.READ_VECTOR, side=0, offset=0, count=cfg.rows),
        P.encode_request(P.Opcode.READ_VECTOR, side=1, offset=0, count=cfg.cols),
        P.encode_request(P.Opcode.STATUS),
    ]
    chunks += [(f, 0) for f in read_back]
    responses, log, ref = run_session(cfg, chunks, seed=4)
    n_bad = len(bad) + 5
    assert [r.status != P.Status.OK for r in responses[2:2 + n_bad]] == [True] * n_bad
    assert list(responses[-3].codes()) == x
    assert list(responses[-2].codes()) == d
    assert responses[-1].fields()["lfsr_draws"] == 0
    assert responses[-1].fields()["frame_errors"] == n_bad
    assert log["slots"] == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_garbage_never_hangs(seed):
    cfg = CFG_A
    rng = random.Random(seed)
    m = cfg.dac_max
    x = rand_codes(rng, cfg.rows, m)
    chunks = [(P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0, codes=x), 0)]
    for _ in range(4):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        if rng.random() < 0.5:  # a corrupted copy of a real frame
            f = bytearray(P.encode_request(P.Opcode.UPDATE, mode=1, flags=0, row_gain=3,
                                           col_gain=3, row0=0, nrows=2, col0=0, ncols=2))
            f[rng.randrange(1, len(f))] ^= 1 << rng.randrange(8)
            garbage += bytes(f)
        chunks.append((garbage, TIMEOUT + 30))
    chunks.append((P.encode_request(P.Opcode.READ_VECTOR, side=0, offset=0, count=cfg.rows), 0))
    responses, log, ref = run_session(cfg, chunks, seed=seed)
    assert responses[-1].ok and list(responses[-1].codes()) == x


def test_write_verify_extreme_arguments():
    """PROGRAM's bit-serial arithmetic at the field limits: i32 targets, u16 tolerance, large shifts."""
    cfg = CFG_B
    m = cfg.dac_max
    cases = [
        (2**31 - 1, 0, 0), (-2**31, 0, 0), (2**31 - 1, 65535, 3), (-2**31, 65535, 31),
        (-70000, 9, 2), (70000, 65535, 1), (65536 + 5, 65535, 0), (-65541, 65535, 16),
        (40, 0, 255), (-40, 3, 33), (2**31 - 1, 1, 32), (-2**31, 1, 30), (0, 0, 0), (5, 65535, 0),
    ]
    frames = [P.encode_request(P.Opcode.PROGRAM, row=k % cfg.rows, col=(2 * k) % cfg.cols, target=t,
                               tolerance=tol, shift=sh, read_code=m if k % 2 else -m)
              for k, (t, tol, sh) in enumerate(cases)]
    responses, _, _ = run_session(cfg, [(f, 0) for f in frames], seed=11)
    assert all(r.ok for r in responses)
