"""The host-link monitor skips decoding a batch's responses only where every checked one is
the reference's answer byte for byte (no simulator needed: the monitor parses like the
controller)."""

from __future__ import annotations

import types

from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig
from insitu.sim.monitor import CommandMonitor
from insitu.sim.scoreboard import SlotScoreboard

CFG = ControllerConfig(rows=4, cols=3, dac_bits=6)


def _monitor_after_a_batch():
    mon = CommandMonitor(CFG, types.SimpleNamespace(on_burst=[]), SlotScoreboard(CFG))
    mon._executed, mon._checks = [], []
    batch = (P.encode_request(P.Opcode.LOAD_VECTOR, [20, -20, 10, 5], side=0, offset=0)
             + P.encode_request(P.Opcode.LOAD_VECTOR, [31, -31, 12], side=1, offset=0)
             + P.encode_request(P.Opcode.UPDATE, mode=int(P.Mode.STOCHASTIC), flags=0,
                                row_gain=CFG.prob_max, col_gain=CFG.prob_max,
                                row0=0, nrows=4, col0=0, ncols=3)
             + P.encode_request(P.Opcode.FORWARD, row0=0, nrows=4, col0=0, ncols=3))
    mon.last_answers = mon.feed(batch)
    return mon


def test_responses_are_decoded_where_a_checked_one_differs():
    mon = _monitor_after_a_batch()
    assert [c is not None for c in mon._checks] == [False, False, True, False]
    answers = mon.last_answers
    raw = b"".join(answers)
    assert mon._as_referenced(raw)
    # the FORWARD's codes are not the reference's (it has no array): not compared
    read = bytearray(answers[3])
    read[P.RESPONSE_PAYLOAD_AT] ^= 0x7F
    assert mon._as_referenced(b"".join(answers[:3]) + bytes(read))
    # one bit of the UPDATE's answer (its slots) differs: decoded, and its check fails
    update = bytearray(answers[2])
    update[P.RESPONSE_PAYLOAD_AT] ^= 1
    wrong = b"".join(answers[:2]) + bytes(update) + answers[3]
    assert not mon._as_referenced(wrong)
    resp = P.Response(P.Opcode.UPDATE, P.Status.OK, bytes(update[P.RESPONSE_PAYLOAD_AT:-2]))
    try:
        mon._checks[2](resp)
    except AssertionError as e:
        assert str(e).startswith("UPDATE answered")
    else:
        raise AssertionError("the UPDATE check passed a wrong answer")
    # a frame of another length (an error answer) shifts the rest: decoded
    assert not mon._as_referenced(raw[:-1])
    short = answers[0] + answers[1] + P.encode_response(P.Opcode.UPDATE, P.Status.BAD_ARG)
    assert not mon._as_referenced(short + answers[3])
