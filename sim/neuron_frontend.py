"""The chip's neurons in the co-simulation's analog front-end.

:class:`NeuronFrontEnd` puts a golden :class:`~insitu.golden.neuron_stage.NeuronStage`
between the simulated array's columns and the column converters of
:class:`~insitu.sim.frontend.AnalogFrontEnd` (its ``neurons`` attribute). A
forward read (column converters, array TIA range) whose conversions cover one
neuron window steps that window's neurons once with the column currents the
latched row DAC levels drive, and every conversion event of the read answers
the readout words (membrane code and spike flag) of its lines. The neuron
state persists from one read to the next, as on the chip; the host resets it
directly (:meth:`NeuronStage.reset`, not a controller command).

The stage's arithmetic and random draws are the golden model's own (this
module only maps conversion events to lines), so a co-simulated spiking run
answers every read exactly as ``GoldenBackend`` with the same stage attached.
A read's window is known from its predicted conversion events, so the session
must predict reads (``predict_reads``): the whole read is answered at its first
event.
"""

from __future__ import annotations

import numpy as np


class NeuronFrontEnd:
    """Parameters
    ----------
    stage : the golden NeuronStage (instances 1) of the simulated chip.
    physics : the GoldenBackend behind the analog port (conductances, periphery, generator).
    """

    def __init__(self, stage, physics):
        if stage.instances != 1 or stage.config != physics.config:
            raise ValueError("the neuron stage must be built for the co-simulated array "
                             "(its config, one instance)")
        self.stage = stage
        self.physics = physics
        self.reads = 0

    def answer(self, levels, events) -> list | None:
        """The samples (adcs,) of every conversion event (mux positions ``events``) of a forward
        read with row levels ``levels`` (1, rows); None when the read converts no neuron's
        column (an ordinary conversion then answers it)."""
        cfg = self.stage.config
        a = cfg.adcs
        pos = sorted(set(events))
        if pos != list(range(pos[0], pos[-1] + 1)):
            raise AssertionError(f"neuron read: conversion events {events} are not one window")
        o0 = pos[0] * a
        n = min(cfg.cols, (pos[-1] + 1) * a) - o0
        try:
            k = self.stage.window_of(o0, n)
        except ValueError as e:
            raise AssertionError(f"neuron read: {e} (the session must predict reads)") from None
        if k is None:
            return None
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
