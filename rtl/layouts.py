"""Shapes shared by the controller's components, all derived from one ControllerConfig."""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum

from ..golden.config import ControllerConfig


class UpdateMode(enum.Enum, shape=1):
    DETERMINISTIC = 0
    STOCHASTIC = 1


class LineSide(enum.Enum, shape=1):
    ROWS = 0
    COLS = 1


def lines(config: ControllerConfig) -> int:
    """Lines on the longer side: the size of index fields shared by both sides."""
    return max(config.rows, config.cols)


def gain_bits(config: ControllerConfig) -> int:
    """Width of an update gain: counts (deterministic) or probabilities (stochastic, up to 2**prob_bits)."""
    return max(config.count_bits, config.prob_bits + 1)


def level_bits(config: ControllerConfig) -> int:
    """Width of a per-line update level (pulse count or firing code)."""
    return max(config.count_bits, config.prob_bits + 1)


def dac_shape(config: ControllerConfig):
    return signed(config.dac_bits)


def adc_shape(config: ControllerConfig):
    return signed(config.adc_bits)


def slot_layout(config: ControllerConfig) -> data.StructLayout:
    """One pulse slot: polarity (1 = negative) and the firing mask of every row and column."""
    return data.StructLayout({
        "negative": 1,
        "rows": config.rows,
        "cols": config.cols,
    })


def update_args_layout(config: ControllerConfig) -> data.StructLayout:
    """Arguments of one rank-1 update command (window already range-checked)."""
    return data.StructLayout({
        "mode": UpdateMode,
        "dither": 1,
        "row_gain": gain_bits(config),
        "col_gain": gain_bits(config),
        "row0": range(config.rows),
        "nrows": range(config.rows + 1),
        "col0": range(config.cols),
        "ncols": range(config.cols + 1),
    })


def device_pulse_layout(config: ControllerConfig) -> data.StructLayout:
    """Arguments of a single-device pulse burst (one write-verify step)."""
    return data.StructLayout({
        "row": range(config.rows),
        "col": range(config.cols),
        "count": unsigned(config.count_bits),
        "negative": 1,
    })


def readout_layout(config: ControllerConfig) -> data.StructLayout:
    """One averaged ADC result: the line it belongs to and its code."""
    return data.StructLayout({
        "channel": range(lines(config)),
        "code": adc_shape(config),
    })
