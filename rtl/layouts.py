"""Shapes shared by the controller's components, all derived from one ControllerConfig."""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum
from amaranth.lib.wiring import In, Out

from ..golden import protocol as proto
from ..golden.config import ControllerConfig


class Opcode(enum.Enum, shape=8):
    """Command opcodes; the values are ``insitu.golden.protocol.Opcode``'s."""

    STATUS = proto.Opcode.STATUS.value
    LOAD_VECTOR = proto.Opcode.LOAD_VECTOR.value
    READ_VECTOR = proto.Opcode.READ_VECTOR.value
    FORWARD = proto.Opcode.FORWARD.value
    TRANSPOSE = proto.Opcode.TRANSPOSE.value
    UPDATE = proto.Opcode.UPDATE.value
    PROGRAM = proto.Opcode.PROGRAM.value
    READ_DEVICE = proto.Opcode.READ_DEVICE.value
    CONFIGURE = proto.Opcode.CONFIGURE.value
    CONFIGURE_LAYER = proto.Opcode.CONFIGURE_LAYER.value
    TRAIN = proto.Opcode.TRAIN.value
    INFER = proto.Opcode.INFER.value
    NEURON_CONTROL = proto.Opcode.NEURON_CONTROL.value

    @property
    def protocol(self) -> proto.Opcode:
        return proto.Opcode(self.value)


class Status(enum.Enum, shape=8):
    """Response status; the values are ``insitu.golden.protocol.Status``'s."""

    OK = proto.Status.OK.value
    BAD_CRC = proto.Status.BAD_CRC.value
    BAD_OPCODE = proto.Status.BAD_OPCODE.value
    BAD_LENGTH = proto.Status.BAD_LENGTH.value
    BAD_ARG = proto.Status.BAD_ARG.value
    TIMEOUT = proto.Status.TIMEOUT.value
    ADC_TIMEOUT = proto.Status.ADC_TIMEOUT.value


# the protocol is defined once: a new opcode or status there must show up here
assert {m.name: m.value for m in Opcode} == {m.name: m.value for m in proto.Opcode}
assert {m.name: m.value for m in Status} == {m.name: m.value for m in proto.Status}


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


def line_read_members(config: ControllerConfig, *, reader: bool) -> dict:
    """Signature members of the synchronous x / d line-buffer reads an update takes:
    ``x_addr``, ``x_data`` (rows), ``d_addr``, ``d_data`` (columns). ``reader``: the engine's
    view (addresses out, codes in); otherwise the buffer's (addresses in, codes out)."""
    addr, code = (Out, In) if reader else (In, Out)
    return {"x_addr": addr(range(config.rows)), "x_data": code(dac_shape(config)),
            "d_addr": addr(range(config.cols)), "d_data": code(dac_shape(config))}


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
