"""The analog port: the narrow chip-facing side of the controller.

Directions are from the controller's point of view (``Out`` = to the chip).
``docs/analog-port.md`` gives the timing; in short:

* read levels: ``row_dac`` / ``col_dac`` hold one signed DAC code per line;
  they are valid (latched) from the tick ``dac_strobe`` is high. With
  ``levels="memory"`` (the board builds: a serial DAC chain reads one line at
  a time) they are a synchronous read port instead: ``dac_addr`` (In, a line,
  rows then columns) selects, ``dac_code`` has that line's code one tick later;
* pulses: while ``slot`` strobes, a new pulse slot begins: device (i, j) gets one
  pulse of polarity ``pulse_pol`` (0 = positive, 1 = negative) iff
  ``row_en[i] & col_en[j]``; enables stay high ``pulse_width`` ticks;
* conversions: per side, ``*_adc_mux`` selects the mux position, ``*_adc_start``
  strobes, each converter k answers on ``*_adc_data[k]`` and may hold
  ``*_adc_busy[k]`` high while converting;
* events: ``update_done`` strobes after the last pulse of every pulse burst
  (an update command or one write-verify step), ``cmd_done`` after every
  command; ``update_active`` is high from an update's start to its
  ``update_done``.
"""

from __future__ import annotations

from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..golden.config import ControllerConfig
from .adc import mux_shape
from .layouts import adc_shape, dac_shape

LEVELS = ("registers", "memory")


def check_levels(levels: str) -> None:
    if levels not in LEVELS:
        raise ValueError(f"levels must be one of {', '.join(LEVELS)}; got {levels!r}")


def level_members(config: ControllerConfig, levels: str) -> dict:
    """The read-level ports of the analog port (and of the line drivers that feed it):
    one register per line, or a synchronous read port over rows then columns."""
    check_levels(levels)
    if levels == "registers":
        return {
            "row_dac": Out(data.ArrayLayout(dac_shape(config), config.rows)),
            "col_dac": Out(data.ArrayLayout(dac_shape(config), config.cols)),
        }
    return {
        "dac_addr": In(range(config.rows + config.cols)),
        "dac_code": Out(dac_shape(config)),
    }


class AnalogPortSignature(wiring.Signature):
    """Signature of the chip-facing port for one ControllerConfig."""

    def __init__(self, config: ControllerConfig, levels: str = "registers"):
        members = level_members(config, levels)
        self.config = config
        self.levels = levels
        members.update({
            "dac_strobe": Out(1),
            "row_en": Out(config.rows),
            "col_en": Out(config.cols),
            "pulse_pol": Out(1),
            "slot": Out(1),
        })
        for side, n in (("row", config.rows), ("col", config.cols)):
            members[f"{side}_adc_start"] = Out(1)
            members[f"{side}_adc_busy"] = In(config.adcs)
            members[f"{side}_adc_data"] = In(data.ArrayLayout(adc_shape(config), config.adcs))
            members[f"{side}_adc_mux"] = Out(mux_shape(n, config.adcs))
        members["update_active"] = Out(1)
        members["update_done"] = Out(1)
        members["cmd_done"] = Out(1)
        super().__init__(members)
