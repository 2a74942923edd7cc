"""``RtlBackend``: the crossbar backend interface implemented on the simulated controller RTL.

The unchanged :class:`~insitu.golden.nn.CrossbarMLP` and
:class:`~insitu.golden.train.Trainer` drive the generated Verilog through it:
every read is a ``LOAD_VECTOR`` + ``FORWARD``/``TRANSPOSE`` exchange over the
host link, every update ``LOAD_VECTOR`` x2 + ``UPDATE``, every programmed
device one ``PROGRAM`` (write-verify) command; the array behind the analog
port is the golden physics (:class:`~insitu.sim.frontend.AnalogFrontEnd`).

The training code is blocking, the simulator is not: the training loop runs
in a thread started with ``await cocotb.task.bridge(fn)()``, and each backend
call hands a coroutine of :class:`~insitu.sim.session.Session` back to the
simulator with ``cocotb.task.resume`` and blocks until it is done (see
``docs/cosim.md``). So it only works inside a cocotb test, i.e. through
:func:`insitu.sim.runner.run`.
"""

from __future__ import annotations

import time

import numpy as np
from cocotb.task import resume
from insitu.golden.backends import Backend, BackendStats
from insitu.golden.validate import check_choice


class RtlBackend(Backend):
    """Backend whose array is read and updated by the simulated controller.

    Parameters
    ----------
    session : the running :class:`~insitu.sim.session.Session` (its config, device and
        periphery are the backend's).

    ``instances`` is 1 (one simulated chip), ``exact`` is False. ``engine`` reads
    ``"numba"`` so that :class:`CrossbarMLP` uses the same compiled code-conversion
    path as a ``GoldenBackend(engine="numba")`` it is compared with.
    """

    exact = False
    engine = "numba"

    def __init__(self, session, *, mapping: str = "differential"):
        phys = session.physics
        super().__init__(session.config, phys.device, phys.periphery, instances=1, mapping=mapping)
        self.session = session
        self.physics = phys
        self.stats = BackendStats()
        self.in_sim_s = 0.0  # wall time the training thread spent waiting for the simulator
        self.calls = 0
        self._read_c = self._timed(resume(session.read))
        self._update_c = self._timed(resume(session.update))
        self._program_c = self._timed(resume(session.program_device))
        self.log = None  # set to a list to record (kind, data) per call

    def _timed(self, fn):
        def call(*args):
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.in_sim_s += time.perf_counter() - t
                self.calls += 1
        return call

    # -- the calls CrossbarMLP makes -------------------------------------------------
    def _read(self, x, l0, o0, n, transpose):
        codes = self._read_c(np.asarray(x)[0], l0, o0, n, transpose)
        if transpose:
            self.stats.backward_reads += 1
        else:
            self.stats.forward_reads += 1
        self.stats.conversions += len(range(o0 // self.config.adcs,
                                            (o0 + n - 1) // self.config.adcs + 1)) * self.config.adc_average
        out = np.asarray(codes, dtype=np.int64)[None, :]
        if self.log is not None:
            self.log.append(("read", out[0].tolist()))
        return out

    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        x = np.asarray(x)
        d = np.asarray(d)
        slots = self._update_c(x[0], d[0], mode, int(row_gain), int(col_gain), bool(dither),
                               int(row0), int(col0))
        self.stats.updates += 1
        self.stats.update_slots += slots
        self.stats.pulses += int(np.abs(self.session.last_counts).sum()) * self.pairs
        return slots

    def program(self, target, row0: int = 0, col0: int = 0, *, tolerance: int | None = None,
                shift: int = 3, order: str = "sequential") -> dict:
        """Write-verify through the controller's PROGRAM command, one device after the other.

        Only ``order="sequential"`` exists in hardware (the golden model's
        ``program(..., order="sequential")`` is its exact reference).
        """
        check_choice("order", order, ("sequential",))
        return super().program(target, row0, col0, tolerance=tolerance, shift=shift,
                               order="sequential")

    def _program(self, t, row0, col0, tolerance, shift):
        pp = self.periphery
        target = int(np.clip(np.floor(t[0, 0, 0] / pp.program_bound * self.adc_max + 0.5),
                             -self.adc_max, self.adc_max))
        f = self._program_c(int(row0), int(col0), target, int(tolerance), int(shift), self.dac_max)
        pulses = int(f["pulses"])
        self.stats.program_reads += int(f["reads"])
        self.stats.program_pulses += pulses
        return {"reads": int(f["reads"]), "pulses": pulses, "iterations": int(f["reads"]),
                "unconverged": 1 - int(f["converged"])}

    def read_weights(self) -> np.ndarray:
        """The simulated chip's weights (K=1, rows, cols), read directly from the model."""
        return self.physics.read_weights()

    @property
    def conductances(self) -> np.ndarray:
        return self.physics.conductances

    def state_dict(self) -> dict:
        raise NotImplementedError("an RTL co-simulation cannot be saved and resumed")

    def load_state_dict(self, d: dict) -> None:
        raise NotImplementedError("an RTL co-simulation cannot be saved and resumed")
