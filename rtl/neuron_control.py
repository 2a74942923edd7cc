"""The neuron control engine: the chip's neuron reset and the neuron-read selection.

On a chip with neurons between the array's columns and the column converters
(BrainScaleS-2's position; :mod:`insitu.golden.neuron_stage` is their model) the
controller commands them, the host does not reach past it: ``NEURON_CONTROL``
(:data:`insitu.golden.protocol.NEURON_FLAG_RESET`, ``NEURON_FLAG_READ``) strobes the
reset line and sets the read mode. :class:`NeuronControl` drives the analog port's
``neuron`` lines (:class:`~insitu.rtl.analog.NeuronPortSignature`):

* ``reset``: high for one tick, the tick after a NEURON_CONTROL with the reset flag is
  accepted (before its response completes): every neuron to rest;
* ``read``: high while a FORWARD read runs (from its first level write to its release)
  in neuron-read mode: its conversions sample the neurons, stepped once by the read's
  column currents, instead of the plain column currents.

Both are 0 at reset and whenever no command runs (the port's safe idle).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from .analog import NeuronPortSignature


class NeuronControl(wiring.Component):
    """Ports
    -----
    start : In(1)
        Strobe: an accepted NEURON_CONTROL with ``flags`` (checked by the decoder).
    flags : In(8)
    reading : In(1)
        A FORWARD read is running (the controller's READ state of a FORWARD, until its
        release, or until a converter timeout drops its levels).
    port : Out(NeuronPortSignature)
        The analog port's ``neuron`` lines.
    """

    def __init__(self):
        super().__init__({"start": In(1), "flags": In(8), "reading": In(1),
                          "port": Out(NeuronPortSignature())})

    def elaborate(self, platform):
        m = Module()
        mode = Signal()  # neuron-read mode, until the next NEURON_CONTROL
        with m.If(self.start):
            m.d.sync += mode.eq((self.flags & proto.NEURON_FLAG_READ) != 0)
        m.d.sync += self.port.reset.eq(self.start & ((self.flags & proto.NEURON_FLAG_RESET) != 0))
        m.d.comb += self.port.read.eq(mode & self.reading)
        return m
