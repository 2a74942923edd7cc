"""``RtlBackend``: the crossbar backend on the simulated controller RTL.

It is :class:`insitu.host.backend.LinkBackend`, the backend a board uses, on the
session's host interface: every read is a ``LOAD_VECTOR`` + ``FORWARD``/``TRANSPOSE``
batch over the harness's host port, every update ``LOAD_VECTOR`` x2 + ``UPDATE``,
every programmed device one ``PROGRAM``; the array behind the analog port is the
golden physics (:class:`~insitu.sim.frontend.AnalogFrontEnd`).

The training code is blocking, the simulator is not: the training loop runs in a
thread started with ``await cocotb.task.bridge(fn)()``, and the transport's
``exchange`` hands each batch back to the simulator with ``cocotb.task.resume``
(see ``docs/cosim.md``). So it only works inside a cocotb test, i.e. through
:func:`insitu.sim.runner.run`.
"""

from __future__ import annotations

import numpy as np
from insitu.host.backend import LinkBackend


class RtlBackend(LinkBackend):
    """The link backend on a running :class:`~insitu.sim.session.Session` (its config, device
    and periphery are the backend's).

    Beyond :class:`LinkBackend`: the pulse count of each update from the front-end, and
    :meth:`read_weights` straight from the simulated array. ``engine`` reads ``"numba"`` so
    that :class:`CrossbarMLP` uses the same compiled code-conversion path as a
    ``GoldenBackend(engine="numba")`` it is compared with.
    """

    engine = "numba"

    def __init__(self, session, *, mapping: str = "differential", updates_ahead: bool = False):
        phys = session.physics
        super().__init__(session.link, phys.device, phys.periphery, config=session.config,
                         mapping=mapping, updates_ahead=updates_ahead)
        self.session = session
        self.physics = phys
        self.log = None  # set to a list to record (kind, data) per call
        self._pulses_seen = session.monitor.update_pulses

    def _read(self, x, l0, o0, n, transpose):
        out = super()._read(x, l0, o0, n, transpose)
        if self.log is not None:
            self.log.append(("read", out[0].tolist()))
        return out

    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        slots = super()._update(x, d, mode, row_gain, col_gain, dither, row0, col0)
        if not self.updates_ahead:
            self._count_pulses()
        return slots

    def _updated(self, response) -> None:
        super()._updated(response)
        self._count_pulses()

    def _count_pulses(self) -> None:
        """The pulses of the update bursts the front-end applied since the last count."""
        total = self.session.monitor.update_pulses
        self.stats.pulses += (total - self._pulses_seen) * self.pairs
        self._pulses_seen = total

    def read_weights(self) -> np.ndarray:
        """The simulated chip's weights (K=1, rows, cols), read directly from the model."""
        self.flush()
        return self.physics.read_weights()

    @property
    def conductances(self) -> np.ndarray:
        self.flush()
        return self.physics.conductances

    def state_dict(self) -> dict:
        raise NotImplementedError("an RTL co-simulation cannot be saved and resumed")

    def load_state_dict(self, d: dict) -> None:
        raise NotImplementedError("an RTL co-simulation cannot be saved and resumed")
