"""``host.cocotb.read_unsigned``: the simulator's bit string parsed in one go, and the public
``to_unsigned`` where a handle has no simulator object with that call (a cocotb release
without the internal)."""

from __future__ import annotations

import pytest
from insitu.host.cocotb import read_unsigned


class _SimObject:
    def __init__(self, bits: str):
        self.bits = bits

    def get_signal_val_binstr(self) -> str:
        return self.bits


class _Value:
    def __init__(self, n: int):
        self.n = n

    def to_unsigned(self) -> int:
        return self.n


class _Handle:
    def __init__(self, bits: str | None, public: int):
        if bits is not None:
            self._handle = _SimObject(bits)
        self.value = _Value(public)


def test_the_bit_string_is_parsed():
    assert read_unsigned(_Handle("1010", public=-1)) == 10
    assert read_unsigned(_Handle("0" * 4000 + "1", public=-1)) == 1


def test_without_the_internal_the_public_value_answers():
    assert read_unsigned(_Handle(None, public=7)) == 7


def test_an_unknown_bit_is_an_error():
    with pytest.raises(ValueError):
        read_unsigned(_Handle("10x1", public=-1))
