"""The one host interface against the in-process fake device (ProtocolReference): commands,
batches, run-ahead splitting, retries and the exception hierarchy."""

from __future__ import annotations

import numpy as np
import pytest
from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig
from insitu.host import (
    CommandError,
    HostError,
    HostInterface,
    LinkBackend,
    LinkError,
    ReferenceTransport,
)

CFG = ControllerConfig(rows=4, cols=3, dac_bits=6)


class Crossbar:
    """Integer weights behind the fake (reads: levels @ w)."""

    def __init__(self):
        self.w = np.arange(12).reshape(4, 3) - 6

    def read(self, drive_side, levels, sense_side, l0, l1):
        out = levels @ self.w if drive_side == P.Side.ROWS else self.w @ levels
        return out[l0:l1]

    def pulse(self, counts):
        self.w = self.w + counts


class Recording:
    """A transport around the fake that records writes and can damage them."""

    def __init__(self, flow_control=True):
        self.fake = ReferenceTransport(CFG, Crossbar())
        self.flow_control = flow_control
        self.writes: list[bytes] = []
        self.damage = []  # per upcoming write: None, or frame index whose CRC to break

    def exchange(self, data, responses, timeout):
        self.writes.append(data)
        hit = self.damage.pop(0) if self.damage else None
        if hit is not None:
            frames, pos = [], 0
            while pos < len(data):  # split the well-formed frames the interface sends
                at = pos + P.REQUEST_LENGTH_AT
                n = P.FRAME_OVERHEAD + int.from_bytes(data[at:at + 2], "little")
                frames.append(bytearray(data[pos:pos + n]))
                pos += n
            frames[hit][-1] ^= 1
            data = b"".join(frames)
        return self.fake.exchange(data, responses, timeout)


def test_commands_against_the_reference():
    t = Recording()
    link = HostInterface(t)
    assert (link.config.rows, link.config.cols) == (4, 3)
    link.load_vector(P.Side.ROWS, [1, 2, 3, 4])
    link.load_vector(P.Side.COLS, [-5, 6], offset=1)
    assert list(link.read_vector(P.Side.ROWS)) == [1, 2, 3, 4]
    assert list(link.read_vector(P.Side.COLS)) == [0, -5, 6]
    assert list(link.forward()) == list(np.array([1, 2, 3, 4]) @ t.fake.reference.analog.w)
    u = link.update("stochastic", 16, 16)
    assert u["lfsr_draws"] == t.fake.reference.controller.lfsr.draws
    with pytest.raises(CommandError) as e:
        link.load_vector(P.Side.COLS, [1, 2, 3, 4])
    assert e.value.status == P.Status.BAD_ARG and isinstance(e.value, HostError)
    assert issubclass(LinkError, HostError)


def test_loads_go_in_one_batch_with_their_command():
    t = Recording()
    link = HostInterface(t, config=CFG)
    got = link.transpose(0, 4, 1, load=[3, -3])
    assert len(t.writes) == 1 and [r.opcode for r in P.ResponseDecoder().feed(
        b"".join(t.fake.reference.feed(t.writes[0])))] == [P.Opcode.LOAD_VECTOR, P.Opcode.TRANSPOSE]
    assert list(got) == list(t.fake.reference.analog.w[:, 1:3] @ np.array([3, -3]))


def test_batches_without_flow_control_stay_within_the_run_ahead():
    t = Recording(flow_control=False)
    link = HostInterface(t, config=CFG)
    link.update("deterministic", 1, 1, x=[1, 2, 3, 4], d=[1, 1, 1])
    limit = P.run_ahead_bytes(CFG)
    assert len(t.writes) == 2 and all(len(w) <= limit for w in t.writes)
    assert sum(len(w) for w in t.writes) > limit  # one write would have run too far ahead


def test_a_damaged_read_batch_is_sent_again():
    t = Recording()
    link = HostInterface(t, config=CFG, retries=2)
    t.damage = [0]  # the LOAD of the first attempt arrives with a bad CRC
    got = link.forward(0, load=[1, 0, 0, 0])
    assert link.retried == 1 and len(t.writes) == 2
    assert list(got) == list(t.fake.reference.analog.w[0])


def test_an_update_after_a_damaged_load_is_not_repeated():
    t = Recording()
    link = HostInterface(t, config=CFG, retries=2)
    t.damage = [1]  # LOAD d damaged: UPDATE ran on the old d, the array may have moved
    with pytest.raises(LinkError, match="may have changed"):
        link.update("deterministic", 1, 1, x=[1, 2, 3, 4], d=[1, 1, 1])
    assert link.retried == 0


def test_a_damaged_update_alone_is_sent_again():
    t = Recording()
    link = HostInterface(t, config=CFG, retries=2)
    t.damage = [2]  # the UPDATE itself rejected (BAD_CRC): nothing happened, repeat
    link.update("deterministic", 1, 1, x=[1, 2, 3, 4], d=[1, 1, 1])
    assert link.retried == 1


def test_link_backend_maps_onto_commands():
    from insitu.golden.presets import get_device

    t = Recording()
    be = LinkBackend(HostInterface(t), get_device("ecram_organic"))
    out = be.forward(np.array([1, 0, 0, 0]), 0, 1)
    assert list(out) == list(t.fake.reference.analog.w[0, 1:])
    assert be.stats.forward_reads == 1 and be.stats.conversions == 2
    r = be.program(np.zeros((1, 1)), 2, 2, tolerance=1)
    assert r["reads"] >= 1 and be.stats.program_reads == r["reads"]
    with pytest.raises(ValueError, match="order"):
        be.program(np.zeros((1, 1)), order="parallel")


def test_one_backend_class_for_simulation_and_boards():
    from insitu.boards.host import BoardBackend
    from insitu.sim.backend import RtlBackend

    for cls in (RtlBackend, BoardBackend):
        assert issubclass(cls, LinkBackend)
        for name in ("_read", "_update", "_program", "program"):
            assert getattr(cls, name) is getattr(LinkBackend, name) or name in cls.__dict__ and \
                name in ("_read", "_update")


class Neurons:
    """The fake's chip neurons: what NEURON_CONTROL told them."""

    def __init__(self):
        self.calls = []

    def neuron_control(self, reset, read):
        self.calls.append((reset, read))


def test_neuron_control_and_no_repeat_of_a_neuron_read():
    """NEURON_CONTROL reaches the chip's neurons; a FORWARD in neuron-read mode steps them, so
    its lost answer raises instead of reading again (a plain FORWARD is repeated)."""
    t = Recording()
    chip = Crossbar()
    chip.neuron_control = Neurons().neuron_control
    t.fake = ReferenceTransport(CFG, chip)
    calls = chip.neuron_control.__self__.calls
    link = HostInterface(t, config=CFG, retries=2)
    link.neuron_control(reset=True, read=True)
    assert calls == [(True, True)] and link.neuron_reads
    lose = t.exchange

    def lose_first(data, responses, timeout):  # the answer of the first attempt is lost
        t.exchange = lose
        lose(data, responses, timeout)
        return b""

    t.exchange = lose_first
    with pytest.raises(LinkError, match="may have changed"):
        link.forward(0, load=[1, 0, 0, 0])
    link.neuron_control(read=False)
    assert calls[-1] == (False, False) and not link.neuron_reads
    t.exchange = lose_first
    link.forward(0, load=[1, 0, 0, 0])
    assert link.retried == 1
    with pytest.raises(CommandError) as e:
        link.command(P.Opcode.NEURON_CONTROL, flags=0x80)
    assert e.value.status == P.Status.BAD_ARG and len(calls) == 2
