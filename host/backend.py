"""The crossbar backend over a host interface: one mapping of backend calls onto commands.

:class:`LinkBackend` implements :class:`insitu.golden.backends.Backend` (the
calls :class:`~insitu.golden.nn.CrossbarMLP` makes) on a controller reached
through a :class:`~insitu.host.interface.HostInterface`: a read is
``LOAD_VECTOR`` + ``FORWARD``/``TRANSPOSE`` in one batch, an update
``LOAD_VECTOR`` x2 + ``UPDATE``, a programmed device one ``PROGRAM``
(write-verify), with the target quantised to a single-device read code. The
co-simulation's ``RtlBackend`` and the boards' ``BoardBackend`` are this class
with another transport underneath.
"""

from __future__ import annotations

import numpy as np

from ..golden.backends import Backend, BackendStats
from ..golden.config import ControllerConfig
from ..golden.controller import ControllerReference
from ..golden.devices import DeviceParams
from ..golden.periphery import PeripheryParams
from ..golden.validate import check_choice
from .interface import HostInterface


class LinkBackend(Backend):
    """The crossbar backend of one array behind a controller (one instance, K = 1).

    Parameters
    ----------
    link : HostInterface
    device, periphery :
        What the array is made of, for the weight units (``pulse_dw``, read
        scaling, ``program_bound``), exactly as for :class:`GoldenBackend`.
    config : ControllerConfig, optional
        Default: the link's (the controller's STATUS).
    updates_ahead : bool
        Send each update ahead of the next command, in its batch (:meth:`HostInterface.send_ahead`):
        a training step's updates then cost no round trip of their own. ``update`` returns
        None (the slots go into ``stats`` when the answer comes); :meth:`flush` sends what is
        held. Default False: every update is answered before ``update`` returns.
    """

    def __init__(self, link: HostInterface, device: DeviceParams,
                 periphery: PeripheryParams | None = None, *, config: ControllerConfig | None = None,
                 mapping: str = "differential", updates_ahead: bool = False):
        super().__init__(config or link.config, device, periphery, instances=1, mapping=mapping)
        self.link = link
        self.updates_ahead = bool(updates_ahead)
        self._reference = ControllerReference(self.config)

    # -- the two calls CrossbarMLP makes -----------------------------------------
    def _read(self, x, l0, o0, n, transpose):
        codes = np.asarray(x, dtype=np.int64).reshape(-1).tolist()
        if transpose:
            out = self.link.transpose(o0, n, l0, load=codes)
            self.stats.backward_reads += 1
        else:
            out = self.link.forward(l0, col0=o0, ncols=n, load=codes)
            self.stats.forward_reads += 1
        self.stats.conversions += (len(self._reference.adc_positions(o0, o0 + n))
                                   * self.config.adc_average)
        return np.asarray(out, dtype=np.int64).reshape(1, -1)

    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        x = np.asarray(x, dtype=np.int64).reshape(-1).tolist()
        d = np.asarray(d, dtype=np.int64).reshape(-1).tolist()
        args = (mode, int(row_gain), int(col_gain))
        kw = {"dither": bool(dither), "row0": int(row0), "col0": int(col0), "x": x, "d": d}
        self.stats.updates += 1
        if self.updates_ahead:
            self.link.send_ahead(self.link.update_requests(*args, **kw), self._updated)
            return None
        r = self.link.update(*args, **kw)
        self.stats.update_slots += r["slots"]
        return r["slots"]

    def _updated(self, response) -> None:
        """The answer of an update sent ahead."""
        self.stats.update_slots += response.fields()["slots"]

    def flush(self) -> None:
        """Send the updates held (``updates_ahead``) now."""
        self.link.flush()

    def neuron_control(self, *, reset: bool = False, read: bool = False) -> None:
        """The chip's neurons through the controller's NEURON_CONTROL (never the host's own
        copy of the stage, ``neurons``, which only describes them)."""
        self.link.neuron_control(reset=reset, read=read)

    # -- write-verify and direct readout -----------------------------------------------
    def program(self, target, row0: int = 0, col0: int = 0, *, tolerance: int | None = None,
                shift: int = 3, order: str = "sequential") -> dict:
        """Write-verify through the controller's PROGRAM command, one device after the other.

        Only ``order="sequential"`` exists in hardware (the golden model's
        ``program(..., order="sequential")`` is its exact reference).
        """
        check_choice("order", order, ("sequential",))
        return super().program(target, row0, col0, tolerance=tolerance, shift=shift,
                               order="sequential")

    def program_target(self, weight: float) -> int:
        """A weight (weight units) as the single-device read code write-verify aims at."""
        pp = self.periphery
        return int(np.clip(np.floor(weight / pp.program_bound * self.adc_max + 0.5),
                           -self.adc_max, self.adc_max))

    def _program(self, t, row0, col0, tolerance, shift):
        reads = pulses = unconverged = iters = 0
        for i in range(t.shape[1]):
            for j in range(t.shape[2]):
                r = self.link.program(int(row0) + i, int(col0) + j, self.program_target(t[0, i, j]),
                                      read_code=self.dac_max, tolerance=int(tolerance),
                                      shift=int(shift))
                reads += int(r["reads"])
                pulses += int(r["pulses"])
                unconverged += 0 if r["converged"] else 1
                iters = max(iters, int(r["reads"]))
        self.stats.program_reads += reads
        self.stats.program_pulses += pulses
        return {"reads": reads, "pulses": pulses, "iterations": iters, "unconverged": unconverged}

    def read_codes(self) -> np.ndarray:
        """Single-device read codes (rows, cols) at full read level."""
        c = self.config
        return np.array([[self.link.read_device(i, j, read_code=self.dac_max)
                          for j in range(c.cols)] for i in range(c.rows)], dtype=np.int64)

    def read_weights(self) -> np.ndarray:
        """Weights (1, rows, cols) in weight units from single-device reads (program_bound scale)."""
        return (self.read_codes() * (self.periphery.program_bound / self.adc_max))[None]

    def state_dict(self) -> dict:
        return {"stats": self.stats.to_dict()}

    def load_state_dict(self, d: dict) -> None:
        self.stats = BackendStats(**d["stats"])
