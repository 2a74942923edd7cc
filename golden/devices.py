"""Pulsed analog devices: conductance states that move by one step per programming pulse.

A device family is described by :class:`DeviceParams` (a small dataclass of
named physical parameters, in microsiemens); :class:`DeviceArray` holds the
conductances of many devices of one family, their fixed-pattern variation
(drawn once from a ``numpy.random.Generator``) and applies pulses to all of
them at once.

Families (``d = +1`` potentiation, ``-1`` depression; ``r = g_max - g_min``)
---------------------------------------------------------------------------
``constant``     step ``up`` / ``down`` independent of state (ideal, ECRAM-like)
``soft_bounds``  up: ``up * (g_max - g) / r``; down: ``down * (g - g_min) / r``
``power``        ``omega = (g_max - g) / r``; up: ``up * omega**gamma_up``;
                 down: ``down * (1 - omega)**gamma_down`` (nonlinear, asymmetric)
``linear_step``  ``u = 2 (g - g_min) / r - 1`` in [-1, 1]; up: ``up * max(1 - gamma_up u, 0)``;
                 down: ``down * max(1 + gamma_down u, 0)`` (the leading simulator's
                 LinearStep with its slopes referred to mid-range)
``exp_step``     ``z = exp_a u + exp_b``; up: ``up * max(1 - exp_A_up exp(gamma_up z), 0)``;
                 down: ``down * max(1 - exp_A_down exp(-gamma_down z), 0)`` (its ExpStep,
                 ``u`` in place of its weight on ``[-1, 1]``)
``set_reset``    unidirectional (PCM-like): gradual SET only, up: ``up * (g_max - g) / r``
                 (saturating); any depression pulse is an abrupt RESET to ``g_min`` (exact:
                 the spread of the RESET state is not modelled, and RESET takes no
                 cycle-to-cycle noise). A fresh device starts RESET, at ``g_min``. Such a
                 device is only usable in a differential pair driven SET-only (the backend's
                 *unidirectional drive*) with the controller's refresh
                 (:mod:`insitu.golden.refresh`)
``table``        step vs state interpolated from a measured curve
                 (``table_g``, ``table_up``, ``table_down``), scaled per device

Every pulse ends with a clip to the device's own ``[g_min, g_max]``.

n pulses at once
----------------
Within one update command a device receives ``n`` pulses of one polarity and
nothing reads it meanwhile (the *unit of physics* of DESIGN.md). Without noise,
:meth:`DeviceArray.apply_pulses` gives exactly what ``n`` calls of
:meth:`DeviceArray.apply_pulse` give: in closed form for ``constant`` (clip at
the end is the same as clip per pulse, the motion is monotone), ``soft_bounds``
and the SET of ``set_reset`` (geometric series; its RESET lands on ``g_min``),
by a vectorised loop over ``max |n|`` for
``power``, ``linear_step``, ``exp_step`` and ``table``. (The compiled engine,
``fastpath.FAMILY_CODES``, has no kernel for ``set_reset``: it runs the numpy
reference in either engine; ``table`` has one, with ``numpy.interp``'s arithmetic.)

Cycle-to-cycle noise composition (documented, canonical)
--------------------------------------------------------
Per pulse the field's model multiplies the step by ``1 + c2c * xi``. For ``n``
pulses we draw **one** standard normal per device that received pulses
(devices in C order of the flattened array, only those with ``n != 0``) and add
``c2c * step(g_before) * sqrt(|n|) * xi`` to the noiseless n-pulse result, then
clip. For the constant-step family this is exact in distribution (a sum of
``n`` independent Gaussian step errors); for the state-dependent families it
is a first-order approximation that keeps one draw per device per update.
``GoldenBackend`` supplies these draws from :mod:`insitu.golden.noise` (one
normal per burst and device index, no stream); ``apply_pulses(rng=...)``
draws them from a ``Generator`` in the C order of the devices with ``n != 0``.

Pulse width
-----------
A pulse is also its width: ``dw_min`` (and every family's step) is the step of a pulse of
the controller's nominal width, ``pulse_width`` ticks, the unit of width. A pulse of
``w`` units (``w = ticks / pulse_width``, as driven on the pins) moves a device by the step
times ``w ** width_exponent`` (``scale`` of :meth:`DeviceArray.apply_pulses`): with the
default exponent 1 the step is proportional to the width, as for a device that integrates
the charge of the pulse. At the nominal width (``w = 1``) the factor is exactly 1, so the
physics of a nominal pulse is unchanged bit for bit.

Stuck devices are drawn once (``stuck_low`` fraction at ``g_min``,
``stuck_high`` at ``g_max``) and never move.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .validate import check_choice, check_float

FAMILIES = ("constant", "soft_bounds", "power", "linear_step", "exp_step", "set_reset", "table")
#: families whose devices only move gradually up: a pair of them is driven SET-only
UNIDIRECTIONAL = ("set_reset",)


@dataclass(frozen=True)
class DeviceParams:
    """Physical parameters of one device family (conductances in microsiemens).

    Parameters
    ----------
    family: one of :data:`FAMILIES`.
    g_min, g_max: conductance bounds, ``g_min >= 0``, ``g_min < g_max``.
    dw_min: nominal step per pulse (uS), ``0 < dw_min < g_max - g_min``.
    up_down: up/down asymmetry in ``(-1, 1)``: up step ``dw_min*(1+up_down)``,
        down step ``dw_min*(1-up_down)`` (``set_reset``: the down step is unused).
    gamma_up, gamma_down: ``power`` family exponents, ``linear_step`` slopes,
        ``exp_step`` rates; ``[0, 10]``.
    exp_a, exp_b, exp_A_up, exp_A_down: ``exp_step`` shape, each ``[-10, 10]``.
    d2d: device-to-device spread of the step (relative sigma), ``[0, 1]``.
    up_down_d2d: device-to-device spread of the asymmetry, ``[0, 1]``.
    bounds_d2d: device-to-device spread of the bounds (relative to the range), ``[0, 0.3]``.
    c2c: cycle-to-cycle step noise (relative sigma per pulse), ``[0, 2]``.
    ref_d2d: reference-device variant: with the backend's ``reference`` mapping, the
        spread of each weight's reference conductance around mid-range (relative to the
        range, drawn once), ``[0, 0.5]``; an imprecise symmetry-point reference.
    read_noise: read noise of one device (sigma, relative to the range), ``[0, 1]``.
    stuck_low, stuck_high: fractions of devices stuck at g_min / g_max, ``[0, 1]``.
    width_exponent: how the step scales with the pulse width (see *Pulse width* in the
        module docstring): a pulse of ``w`` nominal widths moves by the step times
        ``w ** width_exponent``; ``[0, 4]`` (0: the width does not matter).
    table_g, table_up, table_down: ``table`` family: ascending states (uS) and
        the up / down step magnitudes (uS) measured there.
    name, source: preset name and a citation of where the numbers come from.
    """

    family: str = "constant"
    g_min: float = 0.0
    g_max: float = 100.0
    dw_min: float = 0.2
    up_down: float = 0.0
    gamma_up: float = 1.0
    gamma_down: float = 1.0
    exp_a: float = -0.5
    exp_b: float = -0.5
    exp_A_up: float = 0.0
    exp_A_down: float = 0.0
    d2d: float = 0.0
    up_down_d2d: float = 0.0
    bounds_d2d: float = 0.0
    c2c: float = 0.0
    ref_d2d: float = 0.0
    read_noise: float = 0.0
    stuck_low: float = 0.0
    stuck_high: float = 0.0
    width_exponent: float = 1.0
    table_g: tuple = ()
    table_up: tuple = ()
    table_down: tuple = ()
    name: str = "custom"
    source: str = ""

    def __post_init__(self):
        check_choice("family", self.family, FAMILIES)
        check_float("g_min", self.g_min, 0.0)
        check_float("g_max", self.g_max, 0.0)
        if not self.g_min < self.g_max:
            raise ValueError(
                f"g_min must be < g_max (got g_min={self.g_min}, g_max={self.g_max})"
            )
        r = self.g_max - self.g_min
        check_float("dw_min", self.dw_min, 0.0, r, lo_open=True, hi_open=True)
        check_float("up_down", self.up_down, -1.0, 1.0, lo_open=True, hi_open=True)
        check_float("gamma_up", self.gamma_up, 0.0, 10.0)
        check_float("gamma_down", self.gamma_down, 0.0, 10.0)
        for k in ("exp_a", "exp_b", "exp_A_up", "exp_A_down"):
            check_float(k, getattr(self, k), -10.0, 10.0)
        check_float("d2d", self.d2d, 0.0, 1.0)
        check_float("up_down_d2d", self.up_down_d2d, 0.0, 1.0)
        check_float("bounds_d2d", self.bounds_d2d, 0.0, 0.3)
        check_float("c2c", self.c2c, 0.0, 2.0)
        check_float("ref_d2d", self.ref_d2d, 0.0, 0.5)
        check_float("read_noise", self.read_noise, 0.0, 1.0)
        check_float("stuck_low", self.stuck_low, 0.0, 1.0)
        check_float("stuck_high", self.stuck_high, 0.0, 1.0)
        check_float("width_exponent", self.width_exponent, 0.0, 4.0)
        if self.stuck_low + self.stuck_high > 1.0:
            raise ValueError("stuck_low + stuck_high must be in [0, 1]")
        if self.family in ("soft_bounds", "set_reset") and \
                self.dw_min * (1 + abs(self.up_down)) >= r:
            raise ValueError(f"dw_min*(1+|up_down|) must be < g_max - g_min for {self.family}")
        if self.family == "table":
            tg = np.asarray(self.table_g, dtype=float)
            tu = np.asarray(self.table_up, dtype=float)
            td = np.asarray(self.table_down, dtype=float)
            if tg.ndim != 1 or tg.size < 2 or tu.shape != tg.shape or td.shape != tg.shape:
                raise ValueError("table_g, table_up, table_down must be 1-D of equal length >= 2")
            if not (np.all(np.isfinite(tg)) and np.all(np.isfinite(tu)) and np.all(np.isfinite(td))):
                raise ValueError("table_g, table_up, table_down must be finite")
            if np.any(np.diff(tg) <= 0):
                raise ValueError("table_g must be strictly ascending")
            if np.any(tu < 0) or np.any(td < 0):
                raise ValueError("table_up and table_down must be >= 0 (step magnitudes)")

    @property
    def states(self) -> float:
        """Nominal number of distinguishable states, (g_max - g_min) / dw_min."""
        return (self.g_max - self.g_min) / self.dw_min

    def width_scale(self, width: float) -> float:
        """The step factor of a pulse ``width`` nominal widths long (exactly 1.0 at 1)."""
        if width == 1.0:
            return 1.0
        return float(width) ** self.width_exponent

    def with_(self, **changes) -> "DeviceParams":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("table_g", "table_up", "table_down"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceParams":
        d = dict(d)
        for k in ("table_g", "table_up", "table_down"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown device parameter(s): {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class DeviceArray:
    """Conductances of many devices of one family, with their fixed pattern.

    Construct with :meth:`create`. Attributes are arrays of ``shape``:
    ``g`` (state), ``up``/``down`` (step magnitudes), ``g_lo``/``g_hi`` (own
    bounds), ``stuck`` (bool) and ``stuck_value``.
    """

    params: DeviceParams
    shape: tuple
    g: np.ndarray
    up: np.ndarray
    down: np.ndarray
    g_lo: np.ndarray
    g_hi: np.ndarray
    stuck: np.ndarray | None = None
    stuck_value: np.ndarray | None = None
    _range: np.ndarray = field(default=None, repr=False)

    @classmethod
    def create(cls, params: DeviceParams, shape, rng: np.random.Generator, g0=None):
        """Draw the fixed pattern from ``rng`` in this canonical order:
        step spread, asymmetry spread, lower-bound spread, upper-bound spread,
        stuck uniform draws (each one full array of ``shape``, drawn only when
        its parameter is nonzero). ``g0`` defaults to mid-range (``set_reset``:
        to the RESET state ``g_min`` of each device)."""
        shape = tuple(int(s) for s in np.atleast_1d(shape)) if np.ndim(shape) else (int(shape),)
        p = params
        base = np.full(shape, p.dw_min)
        if p.d2d:
            base = base * np.clip(1.0 + p.d2d * rng.standard_normal(shape), 0.0, None)
        asym = np.full(shape, p.up_down)
        if p.up_down_d2d:
            asym = np.clip(asym + p.up_down_d2d * rng.standard_normal(shape), -0.95, 0.95)
        up = base * (1.0 + asym)
        down = base * (1.0 - asym)
        r = p.g_max - p.g_min
        g_lo = np.full(shape, p.g_min)
        g_hi = np.full(shape, p.g_max)
        if p.bounds_d2d:
            g_lo = np.clip(g_lo + p.bounds_d2d * r * rng.standard_normal(shape), 0.0, None)
            g_hi = g_hi + p.bounds_d2d * r * rng.standard_normal(shape)
            g_hi = np.maximum(g_hi, g_lo + 0.1 * r)
        if p.family in ("soft_bounds", "set_reset"):
            # a step must stay below the device's own range for the geometric form
            lim = 0.999 * (g_hi - g_lo)
            up, down = np.minimum(up, lim), np.minimum(down, lim)
        stuck = stuck_value = None
        if p.stuck_low or p.stuck_high:
            u = rng.random(shape)
            lo = u < p.stuck_low
            hi = (u >= p.stuck_low) & (u < p.stuck_low + p.stuck_high)
            stuck = lo | hi
            stuck_value = np.where(lo, g_lo, g_hi)
        if g0 is None:
            g = g_lo.copy() if p.family in UNIDIRECTIONAL else 0.5 * (g_lo + g_hi)
        else:
            g = np.clip(np.broadcast_to(np.asarray(g0, dtype=float), shape), g_lo, g_hi).copy()
        dev = cls(p, shape, g, up, down, g_lo, g_hi, stuck, stuck_value)
        dev._range = g_hi - g_lo
        dev._pin_stuck()
        return dev

    # ------------------------------------------------------------------ physics
    def _params_at(self, window):
        """Per-device parameter views of a window (tuple of slices) or of all devices."""
        if window is None:
            return self.up, self.down, self.g_lo, self.g_hi, self._range
        return (self.up[window], self.down[window], self.g_lo[window], self.g_hi[window],
                self._range[window])

    def step_size(self, g: np.ndarray, up: np.ndarray, window=None, params=None) -> np.ndarray:
        """Magnitude of one pulse's step at state ``g``; ``up`` is a bool mask of polarity.
        ``params`` (``up, down, g_lo, g_hi, range`` arrays shaped like ``g``) replaces
        the per-device parameters of ``window``."""
        p = self.params
        fam = p.family
        s_up, s_down, lo, hi, rng_ = self._params_at(window) if params is None else params
        if fam == "constant":
            return np.where(up, s_up, s_down)
        if fam == "soft_bounds":
            return np.where(up, s_up * (hi - g), s_down * (g - lo)) / rng_
        if fam == "set_reset":  # a RESET pulse goes all the way down to the device's g_min
            return np.where(up, s_up * (hi - g) / rng_, g - lo)
        if fam == "power":
            omega = np.clip((hi - g) / rng_, 0.0, 1.0)
            return np.where(up, s_up * omega**p.gamma_up, s_down * (1.0 - omega) ** p.gamma_down)
        if fam in ("linear_step", "exp_step"):
            u = np.clip(2.0 * (g - lo) / rng_ - 1.0, -1.0, 1.0)
            if fam == "linear_step":
                fu, fd = 1.0 - p.gamma_up * u, 1.0 + p.gamma_down * u
            else:
                z = p.exp_a * u + p.exp_b
                fu = 1.0 - p.exp_A_up * np.exp(p.gamma_up * z)
                fd = 1.0 - p.exp_A_down * np.exp(-p.gamma_down * z)
            return np.where(up, s_up * np.maximum(fu, 0.0), s_down * np.maximum(fd, 0.0))
        # table: nominal curve mapped onto each device's own range, scaled by its step spread
        tg = np.asarray(p.table_g)
        pos = p.g_min + (g - lo) / rng_ * (p.g_max - p.g_min)
        su = np.interp(pos, tg, np.asarray(p.table_up)) * (s_up / p.dw_min)
        sd = np.interp(pos, tg, np.asarray(p.table_down)) * (s_down / p.dw_min)
        return np.where(up, su, sd)

    def apply_pulse(self, polarity) -> None:
        """Apply one noiseless pulse of the given polarity (+1, -1 or 0 per device)."""
        pol = np.broadcast_to(np.asarray(polarity), self.shape)
        s = self.step_size(self.g, pol > 0)
        self.g = np.clip(self.g + np.sign(pol) * s, self.g_lo, self.g_hi)
        self._pin_stuck()

    def apply_pulses(
        self, n, rng: np.random.Generator | None = None, scale: float = 1.0, window=None,
        xi: np.ndarray | None = None,
    ) -> None:
        """Apply ``n`` (signed int array) pulses per device.

        ``window`` (a tuple of slices) restricts the command to a sub-array;
        ``n`` then has the window's shape. ``rng`` draws the cycle-to-cycle noise
        (see the module docstring for the composition); without it, or with
        ``c2c == 0``, the result is exactly what ``|n|`` single pulses give.
        ``scale`` multiplies every step (pulse amplitude/width scaling).
        ``xi``, instead of ``rng``: the standard normals of the devices with
        ``n != 0`` in C order (a backend's counter-based draws).
        """
        p = self.params
        n = np.asarray(n)
        s_up, s_down, lo, hi, rng_ = self._params_at(window)
        g0 = self.g if window is None else self.g[window]
        if n.shape != g0.shape:
            raise ValueError(f"pulse counts must have shape {g0.shape}, got {n.shape}")
        up = n > 0
        fam = p.family
        step = None
        if fam == "constant":
            step = np.where(up, s_up, s_down)
            if scale != 1.0:
                step = step * scale
            g = g0 + n * step
            np.clip(g, lo, hi, out=g)
        elif fam == "soft_bounds":
            a = np.where(up, s_up, s_down) * scale / rng_
            shrink = (1.0 - a) ** np.abs(n)
            g = np.where(up, hi - (hi - g0) * shrink, lo + (g0 - lo) * shrink)
            g = np.where(n == 0, g0, np.clip(g, lo, hi))
        elif fam == "set_reset":
            a = s_up * scale / rng_
            g = np.where(up, hi - (hi - g0) * (1.0 - a) ** np.abs(n), lo)
            g = np.where(n == 0, g0, np.clip(g, lo, hi))
            # the c2c noise scales with the SET step; a RESET is exact (no noise)
            step = np.where(up, a * (hi - g0), 0.0)
        else:
            # pulse by pulse, on the devices that still have pulses to take (the same
            # element-wise arithmetic as over the whole window, without the idle devices)
            g = g0.copy()
            an = np.abs(n).ravel()
            idx = np.flatnonzero(an)
            if idx.size:
                shape = g0.shape
                pars = tuple(np.broadcast_to(a, shape).ravel()[idx]
                             for a in (s_up, s_down, lo, hi, rng_))
                gi = g.reshape(-1)[idx]
                ui, si, ai = up.ravel()[idx], np.sign(n).ravel()[idx], an[idx]
                live = np.arange(idx.size)
                for k in range(int(ai.max())):
                    if k:
                        live = live[ai[live] > k]
                    pl = tuple(a[live] for a in pars)
                    st = self.step_size(gi[live], ui[live], params=pl) * scale
                    gi[live] = np.clip(gi[live] + si[live] * st, pl[2], pl[3])
                g.reshape(-1)[idx] = gi
        if (rng is not None or xi is not None) and p.c2c:
            idx = np.flatnonzero(n)
            if idx.size:
                if xi is None:
                    xi = rng.standard_normal(idx.size)
                elif len(xi) != idx.size:
                    raise ValueError(f"xi must hold one draw per device with pulses "
                                     f"({idx.size}), got {len(xi)}")
                if step is None:
                    step = self.step_size(g0, up, window) * scale
                nf = n.ravel()[idx]
                gf = g.reshape(-1)
                gf[idx] = np.clip(
                    gf[idx] + p.c2c * step.ravel()[idx] * np.sqrt(np.abs(nf)) * xi,
                    lo.ravel()[idx],
                    hi.ravel()[idx],
                )
        if window is None:
            self.g = g
        else:
            self.g[window] = g
        self._pin_stuck(window)

    def _pin_stuck(self, window=None) -> None:
        if self.stuck is None:
            return
        if window is None:
            self.g = np.where(self.stuck, self.stuck_value, self.g)
        else:
            self.g[window] = np.where(self.stuck[window], self.stuck_value[window], self.g[window])

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"g": self.g.copy()}

    def load_state_dict(self, d: dict) -> None:
        g = np.asarray(d["g"], dtype=float)
        if g.shape != self.shape:
            raise ValueError(f"saved conductances have shape {g.shape}, expected {self.shape}")
        self.g = g.copy()


# ---------------------------------------------------------------------- curves
def simulate_curve(params: DeviceParams, polarities, g0: float | None = None) -> np.ndarray:
    """Noiseless conductance after each pulse of a sequence on one nominal device."""
    nominal = params.with_(d2d=0.0, up_down_d2d=0.0, bounds_d2d=0.0, c2c=0.0,
                           stuck_low=0.0, stuck_high=0.0)
    dev = DeviceArray.create(nominal, (1,), np.random.default_rng(0), g0=g0)
    out = np.empty(len(polarities))
    for k, pol in enumerate(polarities):
        dev.apply_pulse(np.array([pol]))
        out[k] = dev.g[0]
    return out


def write_curve_csv(path, polarities, conductances) -> None:
    """Write a measured-curve CSV: columns pulse, polarity, conductance_us."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pulse", "polarity", "conductance_us"])
        for k, (p, g) in enumerate(zip(polarities, conductances)):
            w.writerow([k, int(p), f"{g:.6f}"])


def read_curve_csv(path) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Read a curve CSV (pulse, polarity, conductance). A row with polarity 0 gives g0."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"curve file {path} does not exist")
    pols, gs, g0 = [], [], None
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or len(header) < 3:
            raise ValueError(f"{path}: expected a header 'pulse,polarity,conductance_us'")
        for line_no, row in enumerate(reader, start=2):
            try:
                pol, g = int(float(row[1])), float(row[2])
            except (IndexError, ValueError):
                raise ValueError(f"{path}:{line_no}: expected pulse,polarity,conductance") from None
            if pol not in (-1, 0, 1):
                raise ValueError(f"{path}:{line_no}: polarity must be -1, 0 or +1, got {pol}")
            if not np.isfinite(g):
                raise ValueError(f"{path}:{line_no}: conductance must be finite")
            if pol == 0:
                g0 = g
                continue
            pols.append(pol)
            gs.append(g)
    if len(pols) < 4:
        raise ValueError(f"{path}: need at least 4 pulses, got {len(pols)}")
    return np.array(pols), np.array(gs), g0
