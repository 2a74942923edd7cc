"""Fit a device family to a measured conductance-vs-pulse curve by least squares.

A curve is a sequence of pulses (polarity +1 potentiation, -1 depression) and
the conductance measured after each (CSV: ``pulse, polarity, conductance_us``;
an optional first row with polarity 0 gives the starting conductance).
:func:`fit_curve` simulates the family's noiseless response to the same pulse
sequence and minimises the squared error over its parameters (scipy's
trust-region least squares), then reports the RMS residual.

``set_reset`` fits the SET step and the bounds (a RESET pulse lands on the
lower bound). ``exp_step`` fits the step sizes, ``exp_A_up``, ``exp_A_down``, both rates
and the bounds with the shape ``exp_a = exp_b = -0.5`` held at the leading
simulator's ReRAM fit (Gong et al. 2018); ``linear_step`` fits both slopes.

The ``table`` family is fitted non-parametrically: the measured steps are
binned by state and averaged (up and down separately).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .devices import DeviceParams, read_curve_csv, simulate_curve, write_curve_csv
from .validate import check_choice, check_int

FIT_FAMILIES = ("constant", "soft_bounds", "power", "linear_step", "exp_step", "set_reset",
                "table")
DATA_DIR = Path(__file__).parent / "data"


@dataclass
class FitResult:
    params: DeviceParams
    residual_rms: float  # uS
    residual_relative: float  # RMS residual / conductance range
    pulses: int

    def to_dict(self) -> dict:
        return {"params": self.params.to_dict(), "residual_rms_us": self.residual_rms,
                "residual_relative": self.residual_relative, "pulses": self.pulses}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def _simulate(family, up, down, gu, gd, lo, hi, pols, g0, au=0.0, ad=0.0, ea=-0.5, eb=-0.5):
    """Scalar pulse-by-pulse response: the same step laws as DeviceArray.step_size."""
    g = min(max(g0, lo), hi)
    r = hi - lo
    out = np.empty(len(pols))
    for k, p in enumerate(pols):
        if family == "constant":
            s = up if p > 0 else down
        elif family == "soft_bounds":
            s = up * (hi - g) / r if p > 0 else down * (g - lo) / r
        elif family == "set_reset":  # gradual SET, abrupt RESET to lo
            s = up * (hi - g) / r if p > 0 else g - lo
        elif family in ("linear_step", "exp_step"):
            u = min(max(2.0 * (g - lo) / r - 1.0, -1.0), 1.0)
            if family == "linear_step":
                f = 1.0 - gu * u if p > 0 else 1.0 + gd * u
            else:
                z = ea * u + eb
                f = 1.0 - au * np.exp(gu * z) if p > 0 else 1.0 - ad * np.exp(-gd * z)
            s = (up if p > 0 else down) * max(f, 0.0)
        else:
            om = min(max((hi - g) / r, 0.0), 1.0)
            s = up * om**gu if p > 0 else down * (1.0 - om) ** gd
        g = min(max(g + (s if p > 0 else -s), lo), hi)
        out[k] = g
    return out


def fit_curve(polarities, conductances, family: str, g0: float | None = None) -> FitResult:
    """Fit ``family`` to a curve; returns the fitted parameters and the residual."""
    from scipy.optimize import least_squares

    check_choice("family", family, FIT_FAMILIES)
    pols = np.asarray(polarities, dtype=int)
    g = np.asarray(conductances, dtype=float)
    if pols.shape != g.shape or pols.ndim != 1:
        raise ValueError("polarities and conductances must be 1-D arrays of equal length")
    check_int("number of pulses", len(pols), 4, 10**6)
    if not np.all(np.isin(pols, (-1, 1))):
        raise ValueError("polarities must be -1 or +1")
    if not np.all(np.isfinite(g)):
        raise ValueError("conductances must be finite")
    if g0 is None:
        g0 = float(g[0] - (g[1] - g[0])) if len(g) > 1 else float(g[0])
    prev = np.concatenate([[g0], g[:-1]])
    steps = g - prev
    span = float(g.max() - g.min()) or 1.0
    up0 = float(np.median(steps[pols > 0])) if np.any(pols > 0) else span / 100
    down0 = float(-np.median(steps[pols < 0])) if np.any(pols < 0) else span / 100
    up0 = max(up0, span * 1e-4)
    down0 = max(down0, span * 1e-4)
    lo0, hi0 = float(g.min()), float(g.max())

    if family == "table":
        params = _fit_table(pols, g, prev, steps, lo0, hi0)
        sim = simulate_curve(params, pols, g0)
        return _result(params, g, sim, len(pols))

    if family == "set_reset":  # the SET steps and the bounds; a RESET lands on lo
        x0 = [2 * up0, lo0 - 0.01 * span, hi0 + 0.01 * span]

        def unpack(v):
            return v[0], v[0], 1.0, 1.0, v[1], v[2], 0.0, 0.0
    elif family in ("constant", "soft_bounds"):
        if family == "soft_bounds":
            up0, down0 = 2 * up0, 2 * down0  # the median state sees about half the full step
        x0 = [up0, down0, lo0 - 0.01 * span, hi0 + 0.01 * span]

        def unpack(v):
            return v[0], v[1], 1.0, 1.0, v[2], v[3], 0.0, 0.0
    elif family == "exp_step":
        x0 = [up0, down0, 1.0, 1.0, -0.5, -0.5, lo0 - 0.01 * span, hi0 + 0.01 * span]

        def unpack(v):
            return v[0], v[1], v[2], v[3], v[6], v[7], v[4], v[5]
    else:
        g1 = 0.5 if family == "linear_step" else 1.0
        x0 = [2 * up0 if family == "power" else up0, 2 * down0 if family == "power" else down0,
              g1, g1, lo0 - 0.01 * span, hi0 + 0.01 * span]

        def unpack(v):
            return v[0], v[1], v[2], v[3], v[4], v[5], 0.0, 0.0

    def residual(v):
        up, down, gu, gd, lo, hi, au, ad = unpack(v)
        if hi <= lo + 1e-9:
            return np.full(len(g), 1e3 * span)
        return _simulate(family, up, down, gu, gd, lo, hi, pols, g0, au, ad) - g

    shape = family in ("power", "linear_step", "exp_step")
    n_steps = 1 if family == "set_reset" else 2
    lower = [1e-9] * n_steps + ([0.0, 0.0] if shape else []) + (
        [-10.0, -10.0] if family == "exp_step" else []) + [0.0, -np.inf]  # g_min >= 0
    upper = [span] * n_steps + ([10.0, 10.0] if shape else []) + (
        [10.0, 10.0] if family == "exp_step" else []) + [np.inf, np.inf]
    starts = [x0]
    if family in ("linear_step", "exp_step"):
        # a curve that runs into its bounds has flat stretches where the shape is not
        # seen: a few starting shapes, the best fit kept (same bounds, same residual)
        for g1 in (0.1, 1.0):
            starts.append(list(x0[:2]) + [g1, g1] + list(x0[4:]))
    sol = None
    for x in starts:
        x = np.clip(x, np.array(lower) + 1e-12, np.array(upper) - 1e-12)
        got = least_squares(residual, x, bounds=(lower, upper), x_scale="jac", max_nfev=4000)
        if sol is None or got.cost < sol.cost:
            sol = got
    up, down, gu, gd, lo, hi, au, ad = unpack(sol.x)
    lo = max(lo, 0.0)
    dw = 0.5 * (up + down)
    extra = {"exp_A_up": au, "exp_A_down": ad} if family == "exp_step" else {}
    params = DeviceParams(family=family, g_min=lo, g_max=hi, dw_min=dw,
                          up_down=(up - down) / (up + down), gamma_up=gu, gamma_down=gd,
                          name="fitted", source=f"least-squares fit of a {family} device",
                          **extra)
    sim = _simulate(family, up, down, gu, gd, lo, hi, pols, g0, au, ad)
    return _result(params, g, sim, len(pols))


def _fit_table(pols, g, prev, steps, lo, hi, bins: int = 16) -> DeviceParams:
    edges = np.linspace(lo, hi, bins + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    tu, td = np.zeros(bins), np.zeros(bins)
    for arr, sel, sign in ((tu, pols > 0, 1.0), (td, pols < 0, -1.0)):
        idx = np.clip(np.digitize(prev[sel], edges) - 1, 0, bins - 1)
        s = sign * steps[sel]
        for b in range(bins):
            m = idx == b
            arr[b] = max(float(np.mean(s[m])), 0.0) if m.any() else np.nan
        # fill empty bins from their neighbours
        ok = ~np.isnan(arr)
        arr[:] = np.interp(centres, centres[ok], arr[ok]) if ok.any() else 0.0
    dw = float(np.mean(np.concatenate([tu, td]))) or (hi - lo) / 100
    return DeviceParams(family="table", g_min=lo, g_max=hi, dw_min=min(dw, 0.5 * (hi - lo)),
                        table_g=tuple(centres), table_up=tuple(tu), table_down=tuple(td),
                        name="fitted", source="binned step-vs-state table from a measured curve")


def _result(params, g, sim, n) -> FitResult:
    rms = float(np.sqrt(np.mean((sim - g) ** 2)))
    return FitResult(params, rms, rms / max(float(g.max() - g.min()), 1e-12), n)


def fit_csv(path, family: str) -> FitResult:
    pols, g, g0 = read_curve_csv(path)
    return fit_curve(pols, g, family, g0)


#: families whose step laws have a symmetry point (up step = down step at one state)
SYMMETRY_FAMILIES = ("soft_bounds", "power", "linear_step", "exp_step", "table")


def symmetry_point(params: DeviceParams, points: int = 4001) -> float:
    """The state (uS) of a nominal device where its up and down steps are equal
    (the state plain SGD drifts to); the bound whose step is smaller if they never cross."""
    check_choice("family", params.family, SYMMETRY_FAMILIES)
    from .devices import DeviceArray

    g = np.linspace(params.g_min, params.g_max, points)
    dev = DeviceArray.create(params.with_(d2d=0.0, up_down_d2d=0.0, bounds_d2d=0.0, c2c=0.0,
                                          stuck_low=0.0, stuck_high=0.0), (points,),
                             np.random.default_rng(0), g0=g)
    f = dev.step_size(g, np.ones(points, bool)) - dev.step_size(g, np.zeros(points, bool))
    cross = np.flatnonzero(np.sign(f[:-1]) != np.sign(f[1:]))
    if cross.size == 0:
        return float(g[int(np.argmin(np.abs(f)))])
    i = int(cross[0])
    return float(g[i] - f[i] * (g[i + 1] - g[i]) / (f[i + 1] - f[i]))


def fit_devices(curves, family: str, *, reference: bool = False) -> FitResult:
    """Fit ``family`` to the curves of several devices of one array.

    ``curves``: a list of ``(polarities, conductances, g0)`` (one per device, e.g.
    from :func:`~insitu.golden.devices.read_curve_csv`). The nominal parameters are
    the medians of the per-device fits; the device-to-device spreads are their
    relative standard deviations: ``d2d`` of the step, ``up_down_d2d`` of the
    asymmetry, ``bounds_d2d`` of both bounds (relative to the median range).

    ``reference=True`` fits the *reference-device variant*: each weight is one
    device against a reference conductance programmed to the devices' nominal
    symmetry point (the mid-range reference of the backend's ``reference``
    mapping); the reference's error against each device's own symmetry point
    (:func:`symmetry_point`) is ``ref_d2d``: the standard deviation of the
    symmetry points relative to the median range. Every spread is capped at its
    parameter's bound.
    """
    check_int("number of curves", len(curves), 2, 10**5)
    if reference:
        check_choice("family (reference-device variant)", family, SYMMETRY_FAMILIES)
    check_choice("family", family, tuple(f for f in FIT_FAMILIES if f != "table"))
    fits = [fit_curve(p, g, family, g0) for p, g, g0 in curves]
    ps = [f.params for f in fits]

    def med(k):
        return float(np.median([getattr(p, k) for p in ps]))

    r = med("g_max") - med("g_min")
    dw = np.array([p.dw_min for p in ps])
    lo = np.array([p.g_min for p in ps])
    hi = np.array([p.g_max for p in ps])
    spread = {
        "d2d": min(float(np.std(dw) / np.median(dw)), 1.0),
        "up_down_d2d": min(float(np.std([p.up_down for p in ps])), 1.0),
        "bounds_d2d": min(float(0.5 * (np.std(lo) + np.std(hi)) / r), 0.3),
    }
    if reference:
        sym = np.array([symmetry_point(p) for p in ps])
        spread["ref_d2d"] = min(float(np.std(sym) / r), 0.5)
    shape = {k: med(k) for k in ("gamma_up", "gamma_down", "exp_a", "exp_b", "exp_A_up",
                                 "exp_A_down")}
    kind = "reference-device variant of a " if reference else ""
    params = DeviceParams(family=family, g_min=max(med("g_min"), 0.0), g_max=med("g_max"),
                          dw_min=float(np.median(dw)), up_down=med("up_down"), **shape,
                          **spread, name="fitted",
                          source=f"least-squares fits of {len(ps)} devices: {kind}{family} "
                          f"device, medians and spreads over the devices")
    rms = float(np.sqrt(np.mean([f.residual_rms ** 2 for f in fits])))
    rel = float(np.sqrt(np.mean([f.residual_relative ** 2 for f in fits])))
    return FitResult(params, rms, rel, sum(f.pulses for f in fits))


# ---------------------------------------------------------------- example curves
EXAMPLES = {
    "ecram_like.csv": DeviceParams(family="soft_bounds", g_min=5.0, g_max=95.0, dw_min=0.6,
                                   up_down=0.05, name="example ecram-like",
                                   source="generated example for the fit test"),
    "rram_like.csv": DeviceParams(family="power", g_min=2.0, g_max=80.0, dw_min=3.0,
                                  up_down=0.2, gamma_up=2.0, gamma_down=1.2,
                                  name="example rram-like",
                                  source="generated example for the fit test"),
}


def example_pulse_train(cycles: int = 3, per_phase: int = 150) -> np.ndarray:
    """Potentiation then depression phases, repeated: the usual measurement protocol."""
    return np.tile(np.concatenate([np.ones(per_phase, int), -np.ones(per_phase, int)]), cycles)


def write_examples(directory=DATA_DIR, noise: float = 0.05, seed: int = 0) -> list:
    """Regenerate the shipped example curves (known parameters + small read noise)."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, p in EXAMPLES.items():
        pols = example_pulse_train()
        g = simulate_curve(p, pols, p.g_min)
        g = g + noise * rng.standard_normal(g.shape)
        path = Path(directory) / name
        write_curve_csv(path, np.concatenate([[0], pols]), np.concatenate([[p.g_min], g]))
        paths.append(path)
    return paths
