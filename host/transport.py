"""Transports: how request bytes reach a controller and its response bytes come back.

A transport knows nothing of commands; :class:`~insitu.host.interface.HostInterface`
frames them. It has one call, :meth:`Transport.exchange`: send some request
frames, return the bytes that came back while waiting for a number of response
frames. Three live here; the simulated controller's two are in
:mod:`insitu.host.cocotb`.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..golden import protocol as proto
from ..golden.config import ControllerConfig


class Transport(Protocol):
    """A byte pipe to one controller.

    A transport may say ``flow_control = True`` (the controller holds the sender off when
    busy: a stream port, a fake); without it the host runs ahead of the responses only as
    far as the controller buffers.
    """

    def exchange(self, data: bytes, responses: int, timeout: float) -> bytes:
        """Send ``data`` and return the bytes received until ``responses`` well-formed response
        frames are complete, or whatever arrived when ``timeout`` seconds have passed (wall
        seconds on a port, simulated seconds in a simulation). Bytes left over from an
        earlier exchange are dropped first."""
        ...


def count_responses(raw: bytes) -> int:
    """Complete well-formed response frames in ``raw``."""
    return len(proto.ResponseDecoder().feed(raw))


class SerialTransport:
    """A serial port (pyserial). ``port`` is e.g. ``/dev/ttyUSB0`` or ``COM3``."""

    def __init__(self, port: str, baud: int = 115200):
        import serial

        try:
            self.serial = serial.Serial(port, baud, timeout=0.05)
        except (serial.SerialException, OSError) as e:
            raise ValueError(f"cannot open serial port {port}: {e}") from None

    def exchange(self, data: bytes, responses: int, timeout: float) -> bytes:
        self.serial.reset_input_buffer()
        self.serial.write(data)
        self.serial.flush()
        deadline = time.monotonic() + timeout
        decoder = proto.ResponseDecoder()
        raw = bytearray()
        got = 0
        while got < responses:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.serial.timeout = min(left, 0.2)
            chunk = self.serial.read(256)
            raw += chunk
            got += len(decoder.feed(chunk))
        return bytes(raw)

    def close(self) -> None:
        self.serial.close()


class ReferenceTransport:
    """An in-process fake controller: :class:`~insitu.golden.protocol.ProtocolReference`
    answers (``analog`` as for it: None reads zeros). A frame left unfinished is timed out,
    as the controller's inter-byte timeout would."""

    flow_control = True

    def __init__(self, config: ControllerConfig, analog=None, trainer=None):
        self.reference = proto.ProtocolReference(config, analog, trainer)

    def exchange(self, data: bytes, responses: int, timeout: float) -> bytes:
        out = self.reference.feed(data)
        if not self.reference.idle:
            out += self.reference.timeout()
        return b"".join(out)
