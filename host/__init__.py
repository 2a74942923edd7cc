"""The one host link: the controller's host API over interchangeable transports.

* :mod:`.errors` - the exception hierarchy (:class:`~.errors.HostError`,
  :class:`~.errors.LinkError`, :class:`~.errors.CommandError`);
* :mod:`.transport` - the :class:`~.transport.Transport` protocol, the serial
  port (:class:`~.transport.SerialTransport`) and the in-process fake device
  (:class:`~.transport.ReferenceTransport`, :class:`~insitu.golden.protocol.ProtocolReference`
  answering);
* :mod:`.cocotb` - the simulated controller's byte-stream port and UART pins as
  transports (inside a cocotb test);
* :mod:`.interface` - :class:`~.interface.HostInterface`: framing, batches,
  timeouts and retries, one method per command;
* :mod:`.backend` - :class:`~.backend.LinkBackend`: the crossbar backend
  (forward, backward, update, program) over a host interface, the base of the
  co-simulation's ``RtlBackend`` and of ``BoardBackend``.

The frames come from :mod:`insitu.golden.protocol` (defined once); this package
imports nothing else of ours but the golden model, so the co-simulation and the
boards run the same host code. ``docs/protocol.md`` describes the link.
"""

from .backend import LinkBackend
from .errors import CommandError, HostError, LinkError
from .interface import HostInterface
from .transport import ReferenceTransport, SerialTransport, Transport

__all__ = [
    "CommandError",
    "HostError",
    "HostInterface",
    "LinkBackend",
    "LinkError",
    "ReferenceTransport",
    "SerialTransport",
    "Transport",
]
