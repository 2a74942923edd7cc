"""The response writer: the controller's answer bytes, a few at a time, to the host link.

An engine loads up to ``OBUF_BYTES`` bytes (a header, an ADC code, a vector
code or one byte of a fixed body) when the writer is ``empty``; the writer hands
them to the host link's framer LSB first, ``last`` on the response's final byte.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto

#: response header: opcode, status, payload length
HEADER_BYTES = proto.fields_size(proto.RESPONSE_HEADER)
# The buffer holds a header, an ADC code or a vector code; the fixed response bodies
# (STATUS, UPDATE, PROGRAM) go out one byte at a time behind their header, each byte picked
# from the live registers (area: a byte mux instead of a wide flip-flop buffer loaded from
# every body).
OBUF_BYTES = max(HEADER_BYTES, proto.ADC_CODE_BYTES, proto.VECTOR_CODE_BYTES)


def response_byte_layout() -> data.StructLayout:
    return data.StructLayout({"data": 8, "last": 1})


class ResponseWriterSignature(wiring.Signature):
    """Ports of the response writer (its view).

    Members
    -------
    o : Out(stream.Signature(response_byte_layout))
        Response bytes to the host link, ``last`` on the final byte of a response.
    load : In(1)
        Strobe (only while ``empty``): take ``nbytes`` bytes of ``word``, LSB first; ``last``:
        they end the response.
    word : In(8 * OBUF_BYTES); nbytes : In(range(OBUF_BYTES + 1)); last : In(1)
    empty : Out(1)
        Every loaded byte has been handed over.
    hold : In(1)
        Keep the loaded bytes (a read's header waits until its first conversion is done:
        a converter timeout before then replaces it with an error header).
    """

    def __init__(self):
        super().__init__({
            "o": Out(stream.Signature(response_byte_layout())),
            "load": In(1),
            "word": In(8 * OBUF_BYTES),
            "nbytes": In(range(OBUF_BYTES + 1)),
            "last": In(1),
            "empty": Out(1),
            "hold": In(1),
        })


class ResponseWriter(wiring.Component):
    def __init__(self):
        super().__init__(ResponseWriterSignature())

    def elaborate(self, platform):
        m = Module()
        buf = Signal(8 * OBUF_BYTES)
        count = Signal(range(OBUF_BYTES + 1))
        last = Signal()
        m.d.comb += [
            self.empty.eq(count == 0),
            self.o.valid.eq((count != 0) & ~self.hold),
            self.o.payload.data.eq(buf[:8]),
            self.o.payload.last.eq(last & (count == 1)),
        ]
        with m.If(self.load):
            m.d.sync += [buf.eq(self.word), count.eq(self.nbytes), last.eq(self.last)]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += [buf.eq(buf >> 8), count.eq(count - 1)]
        return m
