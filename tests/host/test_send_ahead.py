"""Updates sent ahead of the next command (HostInterface.send_ahead, LinkBackend updates_ahead):
one write for both, the same answers and array as one by one, an error answer raised from the
call that sent them."""

from __future__ import annotations

import numpy as np
import pytest
from insitu.golden import protocol as P
from insitu.golden.presets import get_device
from insitu.host import CommandError, HostInterface, LinkBackend
from test_interface import CFG, Recording

X, D = np.array([[30, -20, 10, 25]]), np.array([[-31, 20, 15]])


def _run(ahead: bool):
    t = Recording()
    be = LinkBackend(HostInterface(t, config=CFG), get_device("ecram_organic"),
                     updates_ahead=ahead)
    slots = be._update(X, D, "deterministic", CFG.count_max, CFG.count_max, True, 0, 0)
    slots2 = be._update(X[:, :2], D[:, 1:], "stochastic", CFG.prob_max, CFG.prob_max, False, 1, 1)
    out = be.forward(np.array([1, 2, 0, -1]), 0, 0)
    return t, be, (slots, slots2), out


def test_updates_ahead_go_out_with_the_next_read_and_answer_the_same():
    t1, be1, slots, out1 = _run(False)
    t2, be2, held, out2 = _run(True)
    assert len(t1.writes) == 3 and len(t2.writes) == 1  # two updates and a read in one write
    assert t2.writes[0] == b"".join(t1.writes)  # the same frames, in the same order
    assert held == (None, None) and list(out2) == list(out1)
    np.testing.assert_array_equal(t2.fake.reference.analog.w, t1.fake.reference.analog.w)
    assert be2.stats.updates == be1.stats.updates == 2
    assert be2.stats.update_slots == be1.stats.update_slots == sum(slots) > 0


def test_flush_sends_what_is_held():
    t = Recording()
    be = LinkBackend(HostInterface(t, config=CFG), get_device("ecram_organic"),
                     updates_ahead=True)
    be._update(X, D, "deterministic", CFG.count_max, CFG.count_max, False, 0, 0)
    assert t.writes == [] and be.stats.update_slots == 0
    be.flush()
    assert len(t.writes) == 1 and be.stats.update_slots > 0
    be.flush()  # nothing held: nothing sent
    assert len(t.writes) == 1


def test_a_held_update_answered_with_an_error_raises_at_the_next_call():
    t = Recording()
    link = HostInterface(t, config=CFG)
    # a gain above the stochastic maximum: the controller answers BAD_ARG
    bad = link.update_requests("stochastic", CFG.prob_max + 1, 1, x=[1, 2, 3, 4], d=[1, 1, 1])
    seen = []
    link.send_ahead(bad, seen.append)
    with pytest.raises(CommandError) as e:
        link.forward(0, load=[1, 0, 0, 0])
    assert e.value.opcode == P.Opcode.UPDATE and e.value.status == P.Status.BAD_ARG
    assert seen == [] and len(t.writes) == 1
    # a direct command flushes what is held first, in a write of its own
    link.send_ahead(link.update_requests("deterministic", 1, 1), seen.append)
    link.status()
    assert len(t.writes) == 3 and seen and seen[0].opcode == P.Opcode.UPDATE
