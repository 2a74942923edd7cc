"""Every mutant of ``benchmarks/mutants.py`` still applies to the RTL source: its original
text occurs exactly once (or at least k + 1 times for a k-th occurrence), so an RTL edit
that moves a mutated line fails here instead of as a "not applied" benchmark row."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_mutants():
    spec = importlib.util.spec_from_file_location("insitu_mutants", ROOT / "benchmarks" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def applies(text: str, old) -> bool:
    old, k = old if isinstance(old, tuple) else (old, None)
    n = text.count(old)
    return n == 1 if k is None else k < n


@pytest.mark.parametrize("mutant", load_mutants().MUTANTS, ids=lambda m: m[0])
def test_mutant_applies(mutant):
    name, file, old, new, _ = mutant
    text = (ROOT / "rtl" / file).read_text()
    assert applies(text, old), f"{name}: {file} no longer holds its original text {old!r}"
    assert new != (old[0] if isinstance(old, tuple) else old)


def test_a_moved_line_is_seen():
    """The check fails on a text that has lost the mutated line (planted)."""
    assert not applies("with m.If(tick == cfg.pulse_width):", "with m.If(tick == cfg.pulse_width - 1):")
    assert not applies("a a", "a")
