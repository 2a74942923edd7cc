"""ProtocolReference's frame parser: whole frames cut out of a batch at once answer exactly
what the byte-by-byte parser answers, on valid, corrupted, over-long and cut-off frames."""

from __future__ import annotations

import random

import numpy as np
import pytest
from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig

CFG = ControllerConfig(rows=5, cols=4, dac_bits=6, adc_bits=8)


def stream(rng: random.Random) -> bytes:
    m = CFG.dac_max
    out = bytearray()
    for _ in range(40):
        kind = rng.random()
        if kind < 0.4:
            f = P.encode_request(P.Opcode.LOAD_VECTOR, side=rng.randint(0, 1), offset=0,
                                 codes=[rng.randint(-m, m) for _ in range(rng.randint(1, 4))])
        elif kind < 0.6:
            f = P.encode_request(P.Opcode.UPDATE, mode=1, flags=0, row_gain=rng.randint(0, 15),
                                 col_gain=rng.randint(0, 15), row0=0, nrows=5, col0=0, ncols=4)
        elif kind < 0.7:
            f = P.encode_request(P.Opcode.STATUS)
        elif kind < 0.8:  # a bit flipped (bad CRC, or a wrong length)
            b = bytearray(P.encode_request(P.Opcode.READ_VECTOR, side=0, offset=0, count=3))
            b[rng.randrange(1, len(b))] ^= 1 << rng.randrange(8)
            f = bytes(b)
        elif kind < 0.9:  # a header whose length is past the largest payload
            f = bytes([P.SYNC, int(P.Opcode.LOAD_VECTOR), 0xFF, 0x7F])
        else:
            f = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        out += f
    return bytes(out)


@pytest.mark.parametrize("seed", range(6))
def test_whole_frames_answer_like_the_byte_parser(seed):
    rng = random.Random(seed)
    data = stream(rng)
    whole, byte = P.ProtocolReference(CFG), P.ProtocolReference(CFG)
    # the batch in random chunks (frames cut at any point) against one byte per call
    got, pos = [], 0
    while pos < len(data):
        n = rng.randint(1, 60)
        got += whole.feed(data[pos:pos + n])
        pos += n
    want = [r for b in data for r in byte.feed(bytes([b]))]
    assert got == want and len(want) > 20
    assert whole.frame_errors == byte.frame_errors and whole.idle == byte.idle
    assert np.array_equal(whole.x, byte.x) and np.array_equal(whole.d, byte.d)
    assert whole.controller.lfsr.draws == byte.controller.lfsr.draws


def test_fields_pack_like_the_table_says():
    f = P.REQUEST_FIELDS[P.Opcode.PROGRAM]
    v = dict(row=3, col=2, target=-70000, tolerance=9, shift=2, read_code=-5)
    raw = P.pack_fields(f, v)
    assert raw == b"".join(int(v[n]).to_bytes(k, "little", signed=s) for n, k, s in f)
    assert P.unpack_fields(f, raw) == v
    with pytest.raises(OverflowError):
        P.pack_fields(P.REQUEST_FIELDS[P.Opcode.FORWARD], dict(row0=70000, nrows=1, col0=0,
                                                               ncols=1))


def byte_decoder(data: bytes):
    """The response parser byte by byte: drop bytes up to a SYNC, take a frame whose CRC is
    good, else drop the SYNC."""
    buf, out, dropped = bytearray(data), [], 0
    while True:
        while buf and buf[0] != P.SYNC:
            buf.pop(0)
            dropped += 1
        if len(buf) < P.RESPONSE_PAYLOAD_AT:
            return out, dropped, len(buf)
        n = int.from_bytes(buf[P.RESPONSE_LENGTH_AT:P.RESPONSE_LENGTH_AT + 2], "little")
        if len(buf) < P.RESPONSE_OVERHEAD + n:
            return out, dropped, len(buf)
        frame = bytes(buf[:P.RESPONSE_OVERHEAD + n])
        if P.crc16(frame[1:]) != 0:
            buf.pop(0)
            dropped += 1
            continue
        del buf[:len(frame)]
        out.append((frame[1], frame[2], frame[P.RESPONSE_PAYLOAD_AT:-P.CRC_BYTES]))


@pytest.mark.parametrize("seed", range(4))
def test_response_decoder_in_chunks_like_byte_by_byte(seed):
    rng = random.Random(seed)
    data = bytearray()
    for _ in range(40):
        f = bytearray(P.encode_response(rng.choice(list(P.Opcode)), rng.choice([0, 2, 4, 16]),
                                        bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))))
        if rng.random() < 0.2:  # a bit flipped, not in the length (which would swallow the rest)
            k = rng.choice([0, 1, 2] + list(range(P.RESPONSE_PAYLOAD_AT, len(f))))
            f[k] ^= 1 << rng.randrange(8)
        if rng.random() < 0.2:
            f = bytes(rng.randrange(256) for _ in range(3)) + f
        data += f
    dec, got, pos = P.ResponseDecoder(), [], 0
    while pos < len(data):
        n = rng.randint(1, 50)
        got += [(r.opcode, int(r.status), r.payload) for r in dec.feed(data[pos:pos + n])]
        pos += n
    want, dropped, pending = byte_decoder(bytes(data))
    assert got == want
    assert len(want) > 25
    assert (dec.dropped, dec.pending) == (dropped, pending)
