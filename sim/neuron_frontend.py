"""The chip's neurons in the co-simulation's analog front-end.

:class:`NeuronFrontEnd` puts a golden :class:`~insitu.golden.neuron_stage.NeuronStage`
between the simulated array's columns and the column converters of
:class:`~insitu.sim.frontend.AnalogFrontEnd` (its ``neurons`` attribute). The
controller commands it through the analog port's neuron lines
(:mod:`insitu.rtl.neuron_control`), as it would a chip:

* ``analog__neuron__reset``: on every strobe the front-end puts every neuron at rest
  (a watcher wakes on its rising edge; :meth:`start`);
* ``analog__neuron__read``: a forward read whose first conversion starts while it is
  high is a neuron read: its conversions must cover one neuron window, whose neurons
  step once with the column currents the latched row DAC levels drive, and every
  conversion event answers the readout words (membrane code and spike flag) of its
  lines. A read with the line low is an ordinary conversion.

The neuron state persists from one read to the next, as on the chip; nothing in the
host reaches it. The stage's arithmetic and random draws are the golden model's own
(this module only maps conversion events to lines), so a co-simulated spiking run
answers every read exactly as ``GoldenBackend`` with the same stage attached. A
read's window is known from its predicted conversion events, so the session must
predict reads (``predict_reads``): the whole read is answered at its first event.
"""

from __future__ import annotations

import numpy as np


class NeuronFrontEnd:
    """Parameters
    ----------
    stage : the golden NeuronStage (instances 1) of the simulated chip.
    physics : the GoldenBackend behind the analog port (conductances, periphery, generator).
    dut : the harness, whose ``analog__neuron__*`` ports carry the controller's neuron lines.
    reset_wired : False plants a board fault (the reset line not connected to the neurons):
        the co-simulation must then differ from the golden run.
    """

    def __init__(self, stage, physics, dut, *, reset_wired: bool = True):
        if stage.instances != 1 or stage.config != physics.config:
            raise ValueError("the neuron stage must be built for the co-simulated array "
                             "(its config, one instance)")
        self.stage = stage
        self.physics = physics
        self.dut = dut
        self.reset_wired = bool(reset_wired)
        self.reads = 0
        self.resets = 0
        self._task = None

    def start(self) -> None:
        """Start the watcher of the reset line (inside a cocotb test)."""
        import cocotb

        self._task = cocotb.start_soon(self._reset_watch())

    async def _reset_watch(self):
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self.dut.analog__neuron__reset)
        while True:
            await edge
            self.resets += 1
            if self.reset_wired:
                self.stage.reset()

    def answer(self, levels, events) -> list | None:
        """The samples (adcs,) of every conversion event (mux positions ``events``) of a forward
        read with row levels ``levels`` (1, rows); None when the controller's ``neuron.read``
        line is low (an ordinary conversion then answers it)."""
        if not int(self.dut.analog__neuron__read.value):
            return None
        cfg = self.stage.config
        a = cfg.adcs
        pos = sorted(set(events))
        if pos != list(range(pos[0], pos[-1] + 1)):
            raise AssertionError(f"neuron read: conversion events {events} are not one window")
        o0 = pos[0] * a
        n = min(cfg.cols, (pos[-1] + 1) * a) - o0
        try:
            k = self.stage.neuron_window(o0, n)
        except ValueError as e:
            raise AssertionError(f"neuron read: {e} (the session must predict reads)") from None
        words = self.stage.sense(self.physics, levels, k)[0]
        self.reads += 1
        c0 = self.stage.windows[k].col0
        answers = []
        for p in events:
            out = np.zeros(a, dtype=np.int64)
            lines = np.arange(p * a, min(cfg.cols, (p + 1) * a))
            out[:len(lines)] = words[lines - c0]
            answers.append(out)
        return answers
