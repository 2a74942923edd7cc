"""The analog port: the narrow chip-facing side of the controller.

Directions are from the controller's point of view (``Out`` = to the chip).
The port is composed of one signature per part of the periphery, each with
its per-side members, so the line drivers, the ADC readouts and the boards'
converter adapters each own one member and ``wiring.connect`` joins them
(Verilog names ``analog__<part>__<member>``).
``docs/analog-port.md`` gives the timing; in short:

* ``dac`` (:class:`DacPortSignature`), read levels: ``row`` / ``col`` hold one
  signed DAC code per line; they are valid (latched) from the tick ``strobe``
  is high. With ``levels="memory"`` (the board builds: a serial DAC chain reads
  one line at a time) they are a synchronous read port instead: ``addr`` (In,
  a line, rows then columns) selects, ``code`` has that line's code one tick
  later;
* ``pulse`` (:class:`PulsePortSignature`): while ``slot`` strobes, a new pulse
  slot begins: device (i, j) gets one pulse of polarity ``pol`` (0 = positive,
  1 = negative) iff ``row[i] & col[j]``; enables stay high ``pulse_width`` ticks;
* ``adc.row`` / ``adc.col`` (:class:`~insitu.rtl.adc.AdcPortSignature`), conversions:
  ``mux`` selects the mux position, ``start`` strobes, each converter k answers
  on ``data[k]`` and may hold ``busy[k]`` high while converting;
* ``neuron`` (:class:`NeuronPortSignature`), the chip's neurons between the columns and the
  column converters: ``reset`` strobes (one tick: every neuron to rest), ``read`` is high
  while a FORWARD read samples the neurons instead of the plain column currents
  (:mod:`insitu.rtl.neuron_control`); both idle at 0;
* events: ``update_done`` strobes after the last pulse of every pulse burst
  (an update command or one write-verify step), ``cmd_done`` after every
  command; ``update_active`` is high from an update's start to its
  ``update_done``.
"""

from __future__ import annotations

from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from .adc import AdcPortSignature
from .layouts import dac_shape

LEVELS = ("registers", "memory")


def check_levels(levels: str) -> None:
    if levels not in LEVELS:
        raise ValueError(f"levels must be one of {', '.join(LEVELS)}; got {levels!r}")


class DacPortSignature(wiring.Signature):
    """Read levels and their strobe: one register per line (``row``, ``col``), or a
    synchronous read port over rows then columns (``addr`` In, ``code``)."""

    def __init__(self, config: ControllerConfig, levels: str = "registers"):
        check_levels(levels)
        if levels == "registers":
            members = {
                "row": Out(data.ArrayLayout(dac_shape(config), config.rows)),
                "col": Out(data.ArrayLayout(dac_shape(config), config.cols)),
            }
        else:
            members = {
                "addr": In(range(config.rows + config.cols)),
                "code": Out(dac_shape(config)),
            }
        members["strobe"] = Out(1)
        super().__init__(members)


class PulsePortSignature(wiring.Signature):
    """Pulse enables per side (``row``, ``col``), polarity ``pol`` and the slot strobe ``slot``."""

    def __init__(self, config: ControllerConfig):
        super().__init__({
            "row": Out(config.rows),
            "col": Out(config.cols),
            "pol": Out(1),
            "slot": Out(1),
        })


class AdcSidesSignature(wiring.Signature):
    """The converters of both sides: ``row`` and ``col``, each an :class:`AdcPortSignature`."""

    def __init__(self, config: ControllerConfig):
        super().__init__({
            "row": Out(AdcPortSignature(config, config.rows)),
            "col": Out(AdcPortSignature(config, config.cols)),
        })


class NeuronPortSignature(wiring.Signature):
    """The neuron lines: ``reset`` (a one-tick strobe) and ``read`` (neuron read running)."""

    def __init__(self):
        super().__init__({"reset": Out(1), "read": Out(1)})


class AnalogPortSignature(wiring.Signature):
    """Signature of the chip-facing port for one ControllerConfig: ``dac``, ``pulse``,
    ``adc``, ``neuron`` and the events ``update_active``, ``update_done``, ``cmd_done``."""

    def __init__(self, config: ControllerConfig, levels: str = "registers"):
        self.config = config
        self.levels = levels
        super().__init__({
            "dac": Out(DacPortSignature(config, levels)),
            "pulse": Out(PulsePortSignature(config)),
            "adc": Out(AdcSidesSignature(config)),
            "neuron": Out(NeuronPortSignature()),
            "update_active": Out(1),
            "update_done": Out(1),
            "cmd_done": Out(1),
        })
