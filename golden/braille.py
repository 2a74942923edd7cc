"""Braille words for the activity-difference reconstruction experiment.

Six-dot Braille cells from their Unicode code points: letter cell = U+2800 +
dot bits, dot ``k`` (1..6) being bit ``k-1`` (dots 1-2-3 down the left column,
4-5-6 down the right). The 26 letters a-z of Grade-1 English Braille are
listed below as their dot numbers and turned into code points, so the table
can be checked against ``unicodedata`` names (``BRAILLE PATTERN DOTS-145`` is
``d``).

A word is ``cells`` cells (blank-padded on the right) of 6 bits each, laid out
cell after cell with dots in order 1..6. The experiment's nine words are
surnames of famous computer scientists. Distortion flips each bit
independently with probability ``p``.

Assumed (Yi et al., Nat. Electron. 2023 reconstruct distorted Braille words on
a memristor crossbar; their exact word list, network sizes and distortion
model were not read here): the names, 8-cell words, independent bit flips.
"""

from __future__ import annotations

import numpy as np

from .datasets import Dataset
from .validate import check_float, check_int

# Grade-1 English Braille, letters a-z as dot numbers
LETTER_DOTS = {
    "a": "1", "b": "12", "c": "14", "d": "145", "e": "15", "f": "124", "g": "1245",
    "h": "125", "i": "24", "j": "245", "k": "13", "l": "123", "m": "134", "n": "1345",
    "o": "135", "p": "1234", "q": "12345", "r": "1235", "s": "234", "t": "2345",
    "u": "136", "v": "1236", "w": "2456", "x": "1346", "y": "13456", "z": "1356",
}

NAMES = ("TURING", "HOPPER", "LOVELACE", "KNUTH", "DIJKSTRA", "SHANNON", "LAMPORT",
         "LISKOV", "HAMMING")

CELLS = 8
DOTS = 6


def code_point(letter: str) -> int:
    """Unicode code point of a letter's Braille cell (U+2800 + dot bits)."""
    dots = LETTER_DOTS[letter.lower()]
    return 0x2800 + sum(1 << (int(d) - 1) for d in dots)


def cell_bits(letter: str) -> np.ndarray:
    """The 6 dots (dot 1 first) of a letter's cell, or a blank cell for ``" "``."""
    if letter == " ":
        return np.zeros(DOTS, dtype=np.int64)
    c = code_point(letter) - 0x2800
    return np.array([(c >> k) & 1 for k in range(DOTS)], dtype=np.int64)


def encode(word: str, cells: int = CELLS) -> np.ndarray:
    """A word as ``cells * 6`` bits (blank-padded)."""
    if len(word) > cells:
        raise ValueError(f"word {word!r} longer than {cells} cells")
    return np.concatenate([cell_bits(ch) for ch in word.ljust(cells)])


def decode(bits) -> str:
    """Inverse of :func:`encode` (unknown cells become ``?``), trailing blanks removed."""
    bits = np.asarray(bits).reshape(-1, DOTS)
    inv = {tuple(cell_bits(ch)): ch.upper() for ch in LETTER_DOTS}
    inv[(0,) * DOTS] = " "
    return "".join(inv.get(tuple(int(b) for b in c), "?") for c in bits).rstrip()


def patterns(names=NAMES, cells: int = CELLS) -> np.ndarray:
    """(len(names), cells * 6) clean patterns, float 0/1."""
    return np.stack([encode(n, cells) for n in names]).astype(float)


def distort(p, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Flip every bit of the patterns ``p`` independently with probability ``rate``."""
    rate = check_float("rate", rate, 0.0, 1.0)
    flip = rng.random(np.shape(p)) < rate
    return np.where(flip, 1.0 - np.asarray(p), np.asarray(p))


def dataset(copies: int = 40, max_rate: float = 0.15, test_rate: float = 0.10,
            test_copies: int = 10, seed: int = 0, names=NAMES) -> Dataset:
    """Training set of ``copies`` distorted versions per name (flip rates uniform
    in ``[0, max_rate]``); test set of ``test_copies`` per name at ``test_rate``.
    Labels are name indices; the clean patterns are :func:`patterns`."""
    copies = check_int("copies", copies, 1, 10**5)
    test_copies = check_int("test_copies", test_copies, 1, 10**5)
    rng = np.random.default_rng(check_int("seed", seed, 0, 2**63 - 1))
    p = patterns(names)
    n = len(names)
    y_tr = np.repeat(np.arange(n), copies)
    rates = rng.uniform(0.0, max_rate, size=(len(y_tr), 1))
    x_tr = np.where(rng.random((len(y_tr), p.shape[1])) < rates, 1.0 - p[y_tr], p[y_tr])
    y_te = np.repeat(np.arange(n), test_copies)
    x_te = distort(p[y_te], test_rate, rng)
    return Dataset("braille", x_tr, y_tr, x_te, y_te, n)


def exact_matches(recon, y, names=NAMES) -> np.ndarray:
    """(K, n) bool: reconstruction (K, n, bits), thresholded at 0.5, equals the clean word."""
    p = patterns(names)
    return np.all((np.asarray(recon) > 0.5) == (p[np.asarray(y)] > 0.5)[None], axis=-1)
