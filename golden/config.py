"""The one configuration object shared by the golden model, the RTL and the co-simulation.

:class:`ControllerConfig` fixes everything the digital controller and the golden
controller reference must agree on bit for bit: array size, converter widths,
pulse timing in clock ticks, update-rule widths and LFSR seeds. The RTL is
elaborated from it (``insitu.rtl``) and the golden model computes its pulse
schedules from it (:mod:`insitu.golden.controller`).

Code conventions (what a controller sees):

* DAC codes are signed, symmetric: ``[-dac_max, dac_max]`` with
  ``dac_max = 2**(dac_bits-1) - 1``.
* ADC codes are signed, symmetric: ``[-adc_max, adc_max]`` with
  ``adc_max = 2**(adc_bits-1) - 1``; a saturated conversion returns the bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .validate import check_choice, check_int

UPDATE_MODES = ("deterministic", "stochastic")


@dataclass(frozen=True)
class ControllerConfig:
    """Controller parameters.

    Parameters
    ----------
    rows, cols:
        Array lines (rows are driven in a forward read, columns in a transpose read).
        1..256 each.
    dac_bits:
        Width of the signed DAC codes, 2..16.
    adc_bits:
        Width of the signed ADC codes, 2..24.
    count_bits:
        Deterministic update: width of the per-line pulse count. Row ``i`` fires
        ``a_i <= 2**count_bits - 1`` times per column slot group, so a device gets
        ``a_i * b_j`` pulses (at most ``(2**count_bits - 1)**2``). 1..8.
    bl:
        Stochastic update: bit-stream length (slots per polarity phase), 1..255.
    prob_bits:
        Stochastic update: width of the firing-probability code and of the LFSR
        sample it is compared with, 1..16.
    pulse_width, pulse_gap:
        Pulse slot timing in clock ticks (width 1..255, gap 0..65535: a board's enable
        chains may need several hundred ticks between slots to shift a wide array's masks).
    settle_ticks, convert_ticks:
        ADC timing: ticks from driving the DACs to starting a conversion, and the
        ticks a conversion takes (the converter raises ``busy`` for that long).
    adcs:
        Number of ADCs shared over the lines through a multiplexer, 1..lines.
    adc_average:
        Conversions averaged per channel (1 = no averaging), 1..16, power of two.
    max_program_iters:
        Write-verify: pulse/read iterations allowed per device, 1..1023.
    adc_timeout:
        Ticks a converter may keep ``busy`` high after ``convert_ticks`` have passed before
        the controller gives up on the conversion (answers ``ADC_TIMEOUT``, releases the
        levels and serves the next frame), 1..65535. Board builds raise it to what their
        converter adapters need (:func:`insitu.boards.core.board_config`).
    seed:
        Seeds the LFSRs (one per row and column), 0..2**32-1.
    """

    rows: int = 16
    cols: int = 16
    dac_bits: int = 8
    adc_bits: int = 10
    count_bits: int = 3
    bl: int = 31
    prob_bits: int = 8
    pulse_width: int = 2
    pulse_gap: int = 1
    settle_ticks: int = 2
    convert_ticks: int = 4
    adcs: int = 1
    adc_average: int = 1
    max_program_iters: int = 64
    seed: int = 1
    adc_timeout: int = 1023

    def __post_init__(self):
        check_int("rows", self.rows, 1, 256)
        check_int("cols", self.cols, 1, 256)
        check_int("dac_bits", self.dac_bits, 2, 16)
        check_int("adc_bits", self.adc_bits, 2, 24)
        check_int("count_bits", self.count_bits, 1, 8)
        check_int("bl", self.bl, 1, 255)
        check_int("prob_bits", self.prob_bits, 1, 16)
        check_int("pulse_width", self.pulse_width, 1, 255)
        check_int("pulse_gap", self.pulse_gap, 0, 65535)
        check_int("settle_ticks", self.settle_ticks, 0, 255)
        check_int("convert_ticks", self.convert_ticks, 1, 255)
        check_int("adcs", self.adcs, 1, max(self.rows, self.cols))
        check_int("adc_average", self.adc_average, 1, 16)
        if self.adc_average & (self.adc_average - 1):
            raise ValueError(f"adc_average must be a power of two in [1, 16], got {self.adc_average}")
        check_int("max_program_iters", self.max_program_iters, 1, 1023)
        check_int("seed", self.seed, 0, 2**32 - 1)
        check_int("adc_timeout", self.adc_timeout, 1, 65535)

    @property
    def dac_max(self) -> int:
        return (1 << (self.dac_bits - 1)) - 1

    @property
    def adc_max(self) -> int:
        return (1 << (self.adc_bits - 1)) - 1

    @property
    def count_max(self) -> int:
        return (1 << self.count_bits) - 1

    @property
    def prob_max(self) -> int:
        return 1 << self.prob_bits

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ControllerConfig":
        return cls(**d)


def check_mode(mode: str) -> str:
    return check_choice("update mode", mode, UPDATE_MODES)
