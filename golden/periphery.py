"""DAC, TIA and ADC periphery: what turns codes into voltages and currents into codes.

Units: volts, microsiemens, microamperes. A DAC code ``c`` in
``[-dac_max, dac_max]`` drives ``v = c / dac_max * v_read * (1 + gain_err) + offset``.
A TIA + ADC pair converts a line current ``I`` into
``round(I / i_fs * adc_max * (1 + gain_err) + offset_lsb + noise_lsb)``, clipped to
``[-adc_max, adc_max]`` (saturation is counted). The full-scale current is
``i_fs = out_bound * v_read * (g_max - g_min)``: ``out_bound`` is the largest
weighted sum (in weight units, a weight of 1 being a full conductance range)
the converter resolves at full-scale input. Single-device reads (write-verify,
``read_device``) switch the TIA to ``program_bound`` instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .validate import check_float


@dataclass(frozen=True)
class PeripheryParams:
    """Periphery parameters; every mismatch defaults to off.

    Parameters
    ----------
    v_read: read voltage at full-scale DAC code (V), (0, 5].
    out_bound: ADC full scale in weight units for array reads, (0, 1000].
    program_bound: ADC full scale for single-device reads, (0, 1000].
    dac_gain_mismatch: per-channel DAC gain error sigma (relative), [0, 0.5].
    dac_offset_mismatch: per-channel DAC offset sigma (fraction of v_read), [0, 0.5].
    adc_gain_mismatch: per-channel TIA/ADC gain error sigma (relative), [0, 0.5].
    adc_offset_mismatch: per-channel ADC offset sigma (LSB), [0, 1000].
    adc_noise: ADC input-referred noise per conversion (LSB sigma), [0, 1000].
    """

    v_read: float = 0.2
    out_bound: float = 12.0
    program_bound: float = 1.0
    dac_gain_mismatch: float = 0.0
    dac_offset_mismatch: float = 0.0
    adc_gain_mismatch: float = 0.0
    adc_offset_mismatch: float = 0.0
    adc_noise: float = 0.0

    def __post_init__(self):
        check_float("v_read", self.v_read, 0.0, 5.0, lo_open=True)
        check_float("out_bound", self.out_bound, 0.0, 1000.0, lo_open=True)
        check_float("program_bound", self.program_bound, 0.0, 1000.0, lo_open=True)
        check_float("dac_gain_mismatch", self.dac_gain_mismatch, 0.0, 0.5)
        check_float("dac_offset_mismatch", self.dac_offset_mismatch, 0.0, 0.5)
        check_float("adc_gain_mismatch", self.adc_gain_mismatch, 0.0, 0.5)
        check_float("adc_offset_mismatch", self.adc_offset_mismatch, 0.0, 1000.0)
        check_float("adc_noise", self.adc_noise, 0.0, 1000.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def has_mismatch(self) -> bool:
        return bool(
            self.dac_gain_mismatch
            or self.dac_offset_mismatch
            or self.adc_gain_mismatch
            or self.adc_offset_mismatch
        )


@dataclass
class ChannelMismatch:
    """Fixed-pattern errors of one bank of channels, shape (instances, lines)."""

    gain: np.ndarray  # multiplicative factor, 1 + error
    offset: np.ndarray  # DAC: volts; ADC: LSB

    @classmethod
    def draw(cls, shape, gain_sigma, offset_sigma, offset_unit, rng):
        """Draw gain then offset (each only when its sigma is nonzero)."""
        gain = np.ones(shape)
        offset = np.zeros(shape)
        if gain_sigma:
            gain = 1.0 + gain_sigma * rng.standard_normal(shape)
        if offset_sigma:
            offset = offset_sigma * offset_unit * rng.standard_normal(shape)
        return cls(gain, offset)

    @property
    def ideal(self) -> bool:
        return bool(np.all(self.gain == 1.0) and np.all(self.offset == 0.0))
