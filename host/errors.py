"""The host link's exceptions: one hierarchy for every transport."""

from __future__ import annotations

from ..golden import protocol as proto


class HostError(RuntimeError):
    """Base of every host-link failure."""


class LinkError(HostError):
    """No (complete, well-formed, matching) response arrived in time, or the
    controller speaks another protocol version."""


class CommandError(HostError):
    """The controller answered a request with an error status (``status``); the command
    had no effect."""

    def __init__(self, opcode: int, status: proto.Status):
        self.opcode = int(opcode)
        self.status = proto.Status(status)
        super().__init__(f"controller answered {self.status.name} to {opcode_name(opcode)}")


def opcode_name(opcode: int) -> str:
    try:
        return proto.Opcode(opcode).name
    except ValueError:
        return f"opcode {int(opcode):#04x}"
