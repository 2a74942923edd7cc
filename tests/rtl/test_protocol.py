"""golden.protocol on its own: CRC, packing, frame round trips, the reference's error rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig

CFG = ControllerConfig(rows=4, cols=3, dac_bits=6)


def test_crc_check_value_and_residue():
    assert P.crc16(b"123456789") == 0x29B1
    frame = P.encode_request(P.Opcode.STATUS)
    assert P.crc16(frame[1:]) == 0


@given(st.sampled_from(list(P.Opcode)), st.binary(max_size=40))
def test_response_round_trip(op, payload):
    frame = P.encode_response(op, P.Status.OK, payload)
    r = P.decode_response(frame)
    assert (r.opcode, r.status, r.payload) == (op, P.Status.OK, payload)


@given(st.binary(max_size=60), st.integers(0, 255))
def test_decoder_skips_garbage(garbage, status):
    good = P.encode_response(P.Opcode.UPDATE, status % 6, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    dec = P.ResponseDecoder()
    got = dec.feed(garbage.replace(bytes([P.SYNC]), b"") + good)
    assert len(got) == 1 and got[0].payload == good[5:-2]


def test_fields_pack_unpack():
    f = {"row": 3, "col": 2, "target": -70000, "tolerance": 9, "shift": 2, "read_code": -31}
    raw = P.pack_fields(P.REQUEST_FIELDS[P.Opcode.PROGRAM], f)
    assert len(raw) == 13
    assert P.unpack_fields(P.REQUEST_FIELDS[P.Opcode.PROGRAM], raw) == f


def test_max_payload_covers_every_fixed_request():
    small = ControllerConfig(rows=1, cols=1)
    for op, fields in P.REQUEST_FIELDS.items():
        assert P.fields_size(fields) <= P.max_payload(small)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=30), st.booleans()), max_size=6))
def test_reference_answers_every_frame_and_keeps_buffers(chunks):
    """Any byte soup: at most one answer per SYNC, error answers change nothing."""
    ref = P.ProtocolReference(CFG)
    ref.feed(P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0, codes=[1, -2, 3, -4]))
    out = []
    for data, pause in chunks:
        out += ref.feed(data)
        if pause:
            out += ref.timeout()
    out += ref.timeout()
    syncs = sum(d.count(bytes([P.SYNC])) for d, _ in chunks)
    assert len(out) <= syncs
    for frame in out:
        r = P.decode_response(frame)
        if r.opcode == P.Opcode.LOAD_VECTOR and r.ok:
            return  # a random valid LOAD_VECTOR may legitimately change the buffer
    assert list(ref.x) == [1, -2, 3, -4]


def test_reference_error_order():
    ref = P.ProtocolReference(CFG)
    # bad CRC wins over unknown opcode, unknown opcode over length
    f = bytearray(P.encode_frame(0x55, b"\x00"))
    f[-1] ^= 1
    assert P.decode_response(ref.feed(bytes(f))[0]).status == P.Status.BAD_CRC
    assert P.decode_response(ref.feed(P.encode_frame(0x55, b"\x00"))[0]).status == P.Status.BAD_OPCODE
    assert P.decode_response(ref.feed(P.encode_frame(P.Opcode.STATUS, b"\x00"))[0]).status == P.Status.BAD_LENGTH
    # a length above the buffer is answered as soon as it is known
    r = P.decode_response(ref.feed(bytes([P.SYNC, 1, 0xFF, 0xFF]))[0])
    assert r.status == P.Status.BAD_LENGTH
    assert ref.feed(bytes([P.SYNC, 1])) == []
    assert P.decode_response(ref.timeout()[0]).status == P.Status.TIMEOUT
