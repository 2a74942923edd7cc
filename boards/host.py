"""The boards' host side: the one host link of :mod:`insitu.host` on a serial port.

A board is driven by :class:`insitu.host.interface.HostInterface` over
:class:`insitu.host.transport.SerialTransport` (``HostInterface("/dev/ttyUSB0")``),
and trained through :class:`BoardBackend`, the link backend the co-simulation's
``RtlBackend`` is too. The errors are :mod:`insitu.host.errors`'.
"""

from __future__ import annotations

from ..golden.config import ControllerConfig
from ..golden.devices import DeviceParams
from ..golden.periphery import PeripheryParams
from ..host.backend import LinkBackend
from ..host.errors import CommandError, HostError, LinkError
from ..host.interface import HostInterface
from ..host.transport import SerialTransport


class BoardBackend(LinkBackend):
    """The crossbar backend of a real array behind a board (one instance, K = 1).

    Parameters
    ----------
    link : HostInterface or str
        The board's host interface, or a serial port name to open one on.
    device, periphery, config, mapping :
        As for :class:`~insitu.host.backend.LinkBackend`.
    baud : int
        Serial rate when ``link`` is a port name.
    """

    def __init__(self, link: HostInterface | str, device: DeviceParams,
                 periphery: PeripheryParams | None = None, *, config: ControllerConfig | None = None,
                 mapping: str = "differential", baud: int = 115200):
        if isinstance(link, str):
            link = HostInterface(link, baud=baud)
        super().__init__(link, device, periphery, config=config, mapping=mapping)


__all__ = ["BoardBackend", "CommandError", "HostError", "HostInterface", "LinkError",
           "SerialTransport"]
