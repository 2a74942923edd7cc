"""The boundary requests appended to the whole-run contract, seen failing: a reference whose
window check accepts one line too many (the decoder mutant) differs at the first one-past
request, with its name; a correct one never differs."""

from __future__ import annotations

from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig
from insitu.sim.edges import difference, edge_requests

CFG = ControllerConfig(rows=9, cols=11)


class OneLineTooMany(P.ProtocolReference):
    @staticmethod
    def _window_ok(l0, n, lines):
        return n >= 1 and l0 < lines and l0 + n <= lines + 1


def answers(ref):
    return [(name, frame, b"".join(ref.feed(frame))) for name, frame in edge_requests(CFG)]


def test_edges_are_accepted_and_one_past_rejected():
    for name, frame, resp in answers(P.ProtocolReference(CFG)):
        status = P.decode_response(resp).status
        past = "past" in name or "too many" in name
        assert (status == P.Status.BAD_ARG) == past, (name, status)


def test_a_correct_controller_shows_no_difference():
    got = answers(P.ProtocolReference(CFG))
    want = answers(P.ProtocolReference(CFG))
    assert [difference(n, f, w, g) for (n, f, w), (_, _, g) in zip(want, got)] == [None] * len(got)


def test_a_window_check_off_by_one_is_named():
    want = answers(P.ProtocolReference(CFG))
    got = answers(OneLineTooMany(CFG))
    diffs = [d for (n, f, w), (_, _, g) in zip(want, got) if (d := difference(n, f, w, g))]
    assert diffs[0].startswith("edge request 'READ_VECTOR rows one past the last line': "
                               "expected BAD_ARG with 0 payload bytes, got OK with ")


def test_a_missing_response_is_named():
    name, frame, want = answers(P.ProtocolReference(CFG))[0]
    assert difference(name, frame, want, b"") == (
        f"edge request {name!r}: expected OK with 2 payload bytes, got 0 bytes (nothing)")
