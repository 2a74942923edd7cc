"""Counter-based cycle-to-cycle noise: a standard normal per (burst, device), no stream.

The cycle-to-cycle draw of a device in a pulse burst is a pure function of a
key (``GoldenBackend`` draws it from its ``numpy.random.Generator`` at
construction, the last draw of the fixed pattern), the burst number and the
device's flat index
``((k * pairs + p) * rows + r) * cols + c``:

1. ``key_b = mix(base + b * GOLDEN)`` with ``base = mix(key ^ C2C_SALT)``, where
   ``mix`` is the splitmix64 finaliser (64-bit, wrapping) and ``b`` counts the
   bursts that moved at least one device;
2. ``u = ((mix(key_b + index * GOLDEN) >> 11) + 0.5) / 2**53``, a uniform in (0, 1);
3. ``xi = Phi^-1(u)`` by P. J. Acklam's rational approximation (relative error
   below 1.2e-9 over the whole range).

Why not a ``numpy.random.Generator`` stream: a stream must be consumed in one
order, so the per-burst draws were made in Python before the compiled kernel
ran (about 8 ns a draw, 40 % of a Monte-Carlo run) and the instances could not
be spread over threads. A counter-based draw is computed where it is used, by
any thread, in any order, with the same value; the numpy engine computes the
same function vectorised. A burst that moves nothing does not advance ``b``, so
a co-simulation that skips empty update commands stays in step.

The numba and numpy versions agree bit for bit in the central region (pure
arithmetic); in the tails (``u < 0.02425``, about 5 % of draws) ``log`` may
differ in the last bit between numpy and libm. Reads' noise and the fixed
pattern still come from the backend's ``numpy.random.Generator``.
"""

from __future__ import annotations

import math

import numpy as np

from .jit import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
C2C_SALT = np.uint64(0xC2C0_5EED_1234_ABCD)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
_TWO_M53 = 1.0 / 9007199254740992.0
P_LOW = 0.02425

# Acklam's coefficients: central region (a / b), tails (c / d)
A1, A2, A3 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
A4, A5, A6 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
B1, B2, B3 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
B4, B5 = 6.680131188771972e01, -1.328068155288572e01
C1, C2, C3 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
C4, C5, C6 = -2.549671010405520e00, 4.374664141464968e00, 2.938163982698783e00
D1, D2, D3, D4 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00


@njit(inline="always")
def mix(z):
    """splitmix64 finaliser on a uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always")
def normal_at(key, index):
    """The standard normal of device ``index`` (uint64) in the burst with ``key``."""
    h = mix(key + index * GOLDEN)
    u = (np.float64(h >> _S11) + 0.5) * _TWO_M53
    if u < P_LOW:
        q = math.sqrt(-2.0 * math.log(u))
        return (((((C1 * q + C2) * q + C3) * q + C4) * q + C5) * q + C6) / (
            (((D1 * q + D2) * q + D3) * q + D4) * q + 1.0)
    if u > 1.0 - P_LOW:
        q = math.sqrt(-2.0 * math.log(1.0 - u))
        return -(((((C1 * q + C2) * q + C3) * q + C4) * q + C5) * q + C6) / (
            (((D1 * q + D2) * q + D3) * q + D4) * q + 1.0)
    q = u - 0.5
    r = q * q
    return (((((A1 * r + A2) * r + A3) * r + A4) * r + A5) * r + A6) * q / (
        ((((B1 * r + B2) * r + B3) * r + B4) * r + B5) * r + 1.0)


@njit(error_model="numpy")
def normals_into(key, index, n, out, uniforms):
    """:func:`normal_at` of ``index[:n]`` into ``out[:n]``, the same values bit for bit,
    at about half the cost per draw: the hash and the central region's rational function
    for all draws in one loop that LLVM vectorises (numpy's error model: numba's default
    division checks for a zero divisor, which keeps a loop scalar; the central
    denominator is never zero), then the tails (about 5 % of the draws, told by the
    uniforms kept in ``uniforms[:n]``) redone by :func:`normal_at`. ``h >> 11 < 2**53``
    converts to the same float as a signed or an unsigned integer."""
    for i in range(n):
        h = mix(key + index[i] * GOLDEN)
        u = (np.float64(np.int64(h >> _S11)) + 0.5) * _TWO_M53
        q = u - 0.5
        r = q * q
        out[i] = (((((A1 * r + A2) * r + A3) * r + A4) * r + A5) * r + A6) * q / (
            ((((B1 * r + B2) * r + B3) * r + B4) * r + B5) * r + 1.0)
        uniforms[i] = u
    for i in range(n):
        u = uniforms[i]
        if u < P_LOW or u > 1.0 - P_LOW:
            out[i] = normal_at(key, index[i])


_MASK64 = (1 << 64) - 1


def _mix_int(z: int) -> int:
    """:func:`mix` on a Python int (exact 64-bit wrapping; no numpy call on the update path)."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * int(_M1)) & _MASK64
    z = ((z ^ (z >> 27)) * int(_M2)) & _MASK64
    return z ^ (z >> 31)


def base_key(seed: int) -> np.uint64:
    """The per-backend key from its seed."""
    return np.uint64(_mix_int(int(seed) ^ int(C2C_SALT)))


def burst_key(base: np.uint64, burst: int) -> np.uint64:
    """The key of burst number ``burst``."""
    return np.uint64(_mix_int(int(base) + int(burst) * int(GOLDEN)))


def _mix_np(z):
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def normals(key, index) -> np.ndarray:
    """numpy version of :func:`normal_at` over an array of flat device indices."""
    index = np.asarray(index, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = _mix_np(np.uint64(key) + index * GOLDEN)
    u = ((h >> _S11).astype(np.float64) + 0.5) * _TWO_M53
    q = u - 0.5
    r = q * q
    out = (((((A1 * r + A2) * r + A3) * r + A4) * r + A5) * r + A6) * q / (
        ((((B1 * r + B2) * r + B3) * r + B4) * r + B5) * r + 1.0)
    for tail, sign in ((u < P_LOW, 1.0), (u > 1.0 - P_LOW, -1.0)):
        if tail.any():
            ut = u[tail] if sign > 0 else 1.0 - u[tail]
            qt = np.sqrt(-2.0 * np.log(ut))
            out[tail] = sign * (((((C1 * qt + C2) * qt + C3) * qt + C4) * qt + C5) * qt + C6) / (
                (((D1 * qt + D2) * qt + D3) * qt + D4) * qt + 1.0)
    return out


@njit
def normals_numba(key, index, out):
    """Compiled :func:`normals` (tests compare the two)."""
    for i in range(index.size):
        out[i] = normal_at(key, np.uint64(index[i]))
