"""Crossbar backends: the one seam every training algorithm is written against.

A backend is an array of ``rows x cols`` weights seen through the controller's
integer interface (DESIGN.md):

=====================================  =============================================
``forward(x_codes, row0, col0, ncols)``  rows ``[row0, row0+len(x))`` driven with DAC
                                         codes, columns ``[col0, col0+ncols)`` read
``backward(d_codes, col0, row0, nrows)`` transpose read: columns driven, rows read
``update(x_codes, d_codes, ...)``        in-situ rank-1 update on a window (pulse trains)
``program(target, row0, col0)``          write-verify programming (the costly baseline)
``read_weights()``                       direct read-out of the weights (diagnostics)
=====================================  =============================================

Code arrays have a leading *instance* axis ``K`` (Monte-Carlo device draws
trained side by side); a 1-D array is accepted when ``K == 1`` and the result
is then 1-D too.

Read model: a line driven with DAC code 0 is left floating (0 V, no DAC offset),
so lines outside a read's window, which the controller sets to code 0, add
nothing; a driven line carries ``code/dac_max * v_read * (1 + gain) + offset``.

Weight units: a weight of 1 is one full nominal conductance range
(``w = (g+ - g-) / (g_max - g_min)`` for differential pairs,
``w = 2 (g - g_ref) / (g_max - g_min)`` against a mid-range reference column).

Canonical random order of :class:`GoldenBackend` (one ``Generator``):

1. at construction: the device fixed pattern (``DeviceArray.create`` over shape
   ``(K, pairs, rows, cols)``), then row-DAC, column-DAC, row-ADC and column-ADC
   mismatch (gain then offset, each ``(K, lines)``, each only when nonzero), then
   one integer in ``[0, 2**63 - 1)``: the key of the cycle-to-cycle draws, then (the
   ``reference`` mapping with ``ref_d2d > 0`` only) the reference conductances'
   spread, ``(K, rows, cols)`` standard normals;
2. per read (only when read noise or ADC noise is nonzero): one standard normal
   per converter per conversion event, shape ``(K, positions, adc_average, adcs)``
   in C order (see :mod:`insitu.golden.controller`, *ADC sequencing*); a
   co-simulation draws the same numbers one conversion event at a time
   (:meth:`GoldenBackend.convert_event`);
3. per write-verify iteration: the reads of the devices still programming
   (each one conversion event, ``adcs`` draws).

Cycle-to-cycle draws are not taken from that stream one by one: a device's
draw in a pulse burst is a pure function of the key drawn in 1, the burst
number (bursts that moved at least one device, counted from 0; saved with the
state) and the device's flat index in ``(K, pairs, rows, cols)``
(:mod:`insitu.golden.noise`), the same in both engines, on any thread and in
any visiting order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import ControllerConfig, check_mode
from .controller import (
    LFSR_STEPS_PER_DRAW, ControllerReference, deterministic_counts, program_steps,
)
from . import fastpath, noise
from .devices import UNIDIRECTIONAL, DeviceArray, DeviceParams
from .periphery import ChannelMismatch, PeripheryParams
from .validate import check_choice, check_codes, check_finite_array, check_int

MAPPINGS = ("differential", "reference")
ENGINES = ("auto", "numba", "numpy")
#: from this many instances on, the compiled kernels run the instances on several
#: threads (``NUMBA_NUM_THREADS``); below it a thread pool costs more than it saves
PARALLEL_MIN_INSTANCES = 4


@dataclass
class BackendStats:
    """Running cost counters of a backend."""

    forward_reads: int = 0
    backward_reads: int = 0
    conversions: int = 0
    saturated: int = 0
    updates: int = 0
    update_slots: int = 0
    pulses: int = 0
    program_reads: int = 0
    program_pulses: int = 0
    reset_pulses: int = 0  # RESET pulses of unidirectional pairs (refresh.py)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Backend:
    """Common interface and input checking of all backends."""

    exact = False  # True: codes are not quantised (the float reference)
    #: the chip's neuron stage between the columns and the converters
    #: (:class:`~insitu.golden.neuron_stage.NeuronStage`, attached by its ``attach``); forward
    #: reads of its windows return readout words (GoldenBackend)
    neurons = None

    def __init__(self, config: ControllerConfig, device: DeviceParams,
                 periphery: PeripheryParams | None = None, *, instances: int = 1,
                 mapping: str = "differential"):
        if not isinstance(config, ControllerConfig):
            raise ValueError("config must be a ControllerConfig")
        self.config = config
        self.device = device
        self.periphery = periphery or PeripheryParams()
        self.instances = check_int("instances", instances, 1, 4096)
        #: lines of the array the interface addresses (a tiled backend's are virtual)
        self.rows, self.cols = config.rows, config.cols
        self.mapping = check_choice("mapping", mapping, MAPPINGS)
        self.pairs = 2 if mapping == "differential" else 1
        r = device.g_max - device.g_min
        self.g_unit = r if mapping == "differential" else r / 2.0
        self.stats = BackendStats()
        # plain attributes: read on every call of the per-sample hot path
        self.dac_max = config.dac_max
        self.adc_max = config.adc_max
        self._codes_to_sum = self.periphery.out_bound / config.adc_max

    # -- derived constants shared by every backend ------------------------------
    @property
    def pulse_dw(self) -> float:
        """Nominal weight change of one coincidence pulse (weight units)."""
        return 2.0 * self.device.dw_min / (self.device.g_max - self.device.g_min)

    def neuron_control(self, *, reset: bool = False, read: bool = False) -> None:
        """The chip's neurons (``neurons``), as the controller's NEURON_CONTROL commands them:
        ``reset`` every neuron to rest; ``read``: the forward reads that follow sample the
        neurons instead of the plain column currents (until the next call)."""
        if self.neurons is None:
            raise ValueError(f"{type(self).__name__} has no chip neurons (attach a NeuronStage)")
        self.neurons.control(reset=reset, read=read)

    # -- argument checks -------------------------------------------------------
    def _codes(self, name, codes, start, length_limit, lo, hi):
        arr = np.asarray(codes)
        squeeze = arr.ndim == 1
        if squeeze:
            if self.instances != 1:
                raise ValueError(f"{name} must have shape (instances={self.instances}, n)")
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[0] != self.instances:
            raise ValueError(f"{name} must have shape ({self.instances}, n), got {arr.shape}")
        n = arr.shape[1]
        if n < 1 or start + n > length_limit:
            raise ValueError(
                f"{name} length {n} at offset {start} must fit in [1, {length_limit - start}]"
            )
        if self.exact:
            return check_finite_array(name, arr), squeeze
        return check_codes(name, arr, arr.shape, lo, hi), squeeze

    def _window(self, row0, col0, nrows, ncols):
        check_int("row0", row0, 0, self.rows - 1)
        check_int("col0", col0, 0, self.cols - 1)
        check_int("nrows", nrows, 1, self.rows - row0)
        check_int("ncols", ncols, 1, self.cols - col0)

    def _update_args(self, mode, row_gain, col_gain):
        check_mode(mode)
        gmax = self.config.count_max if mode == "deterministic" else self.config.prob_max
        if self.exact:
            from .validate import check_float
            check_float("row_gain", row_gain, 0, gmax)
            check_float("col_gain", col_gain, 0, gmax)
        else:
            check_int("row_gain", row_gain, 0, gmax)
            check_int("col_gain", col_gain, 0, gmax)

    # -- public API (validated) -------------------------------------------------
    def forward(self, x_codes, row0: int = 0, col0: int = 0, ncols: int | None = None):
        x, sq = self._codes("x_codes", x_codes, row0, self.rows, -self.dac_max, self.dac_max)
        ncols = self.cols - col0 if ncols is None else ncols
        self._window(row0, col0, x.shape[1], ncols)
        out = self._read(x, row0, col0, ncols, transpose=False)
        return out[0] if sq else out

    def backward(self, d_codes, col0: int = 0, row0: int = 0, nrows: int | None = None):
        d, sq = self._codes("d_codes", d_codes, col0, self.cols, -self.dac_max, self.dac_max)
        nrows = self.rows - row0 if nrows is None else nrows
        self._window(row0, col0, nrows, d.shape[1])
        out = self._read(d, col0, row0, nrows, transpose=True)
        return out[0] if sq else out

    def update(self, x_codes, d_codes, *, mode: str = "deterministic", row_gain, col_gain,
               dither: bool = False, row0: int = 0, col0: int = 0) -> int:
        """In-situ rank-1 update; returns the number of pulse slots (max over instances)."""
        x, _ = self._codes("x_codes", x_codes, row0, self.rows, -self.dac_max, self.dac_max)
        d, _ = self._codes("d_codes", d_codes, col0, self.cols, -self.dac_max, self.dac_max)
        self._update_args(mode, row_gain, col_gain)
        return self._update(x, d, mode, row_gain, col_gain, bool(dither), row0, col0)

    def program(self, target, row0: int = 0, col0: int = 0, *, tolerance: int | None = None,
                shift: int = 3, order: str = "parallel", mask=None) -> dict:
        """Write-verify programming of a window to ``target`` weights (weight units).

        ``tolerance`` is in ADC codes of a single-device read (default ``min(2, adc_max)``);
        each iteration applies ``clamp(|err| >> shift, 1, count_max)`` pulses.
        Returns the reads and pulses spent, iterations, and devices left unconverged.

        ``order="sequential"`` programs one device after the other in row-major
        order, exactly as the controller's program-device command does (use it to
        compare with the RTL); ``parallel`` steps all devices of the window
        together (same per-device algorithm, faster to simulate, another
        interleaving of the random draws).

        ``mask`` (bool, shaped like the instance-broadcast target) programs only the
        weights it selects (parallel order; the others are neither read nor pulsed).
        """
        check_choice("order", order, ("parallel", "sequential"))
        tolerance = min(2, self.adc_max) if tolerance is None else tolerance
        t = check_finite_array("target", target)
        if t.ndim == 2:
            t = np.broadcast_to(t, (self.instances,) + t.shape)
        if t.ndim != 3 or t.shape[0] != self.instances:
            raise ValueError(f"target must have shape (rows, cols) or ({self.instances}, rows, cols)")
        self._window(row0, col0, t.shape[1], t.shape[2])
        check_int("tolerance", tolerance, 0, self.adc_max)
        check_int("shift", shift, 0, 24)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != bool or mask.shape != t.shape:
                raise ValueError(f"mask must be a bool array of shape {t.shape}")
            if order == "sequential":
                raise ValueError("mask programs in order 'parallel' only")
            return self._program_masked(t, row0, col0, tolerance, shift, mask)
        if order == "sequential":
            total = {"reads": 0, "pulses": 0, "iterations": 0, "unconverged": 0}
            for i in range(t.shape[1]):
                for j in range(t.shape[2]):
                    r = self._program(t[:, i:i + 1, j:j + 1], row0 + i, col0 + j, tolerance, shift)
                    for k in ("reads", "pulses", "unconverged"):
                        total[k] += r[k]
                    total["iterations"] = max(total["iterations"], r["iterations"])
            return total
        return self._program(t, row0, col0, tolerance, shift)

    def _program_masked(self, t, row0, col0, tolerance, shift, mask):
        raise ValueError(f"{type(self).__name__} has no masked write-verify (mask)")

    # -- float helpers ---------------------------------------------------------
    def codes_to_weighted_sum(self, codes, scale: float = 1.0, bound: float | None = None):
        """ADC codes -> weighted sum in weight units, given the input's digital scale."""
        if bound is None:
            return codes * self._codes_to_sum * scale
        return np.asarray(codes) * (bound / self.adc_max) * scale

    # -- state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, d: dict) -> None:
        raise NotImplementedError


class IdealBackend(Backend):
    """Float arithmetic, no device, no quantisation: the software reference.

    Codes may be any finite floats; reads return unrounded, unclipped codes;
    updates add the exact expected pulse count times :attr:`pulse_dw`.
    """

    exact = True

    def __init__(self, config: ControllerConfig, device: DeviceParams,
                 periphery: PeripheryParams | None = None, *, instances: int = 1, seed: int = 0,
                 mapping: str = "differential"):
        super().__init__(config, device, periphery, instances=instances, mapping=mapping)
        self.w = np.zeros((self.instances, config.rows, config.cols))

    def _read(self, x, l0, o0, n, transpose):
        w = self.w[:, l0:l0 + x.shape[1], o0:o0 + n] if not transpose else \
            self.w[:, o0:o0 + n, l0:l0 + x.shape[1]].transpose(0, 2, 1)
        s = np.matmul((x / self.dac_max)[:, None, :], w)[:, 0, :]
        if transpose:
            self.stats.backward_reads += 1
        else:
            self.stats.forward_reads += 1
        return s * (self.adc_max / self.periphery.out_bound)

    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        c = self.config
        px = x / self.dac_max * row_gain
        pd = d / self.dac_max * col_gain
        n = px[:, :, None] * pd[:, None, :]
        if mode == "stochastic":
            n = n * (c.bl / float(c.prob_max) ** 2)
        self.w[:, row0:row0 + x.shape[1], col0:col0 + d.shape[1]] += n * self.pulse_dw
        self.stats.updates += 1
        return 0

    def _program(self, t, row0, col0, tolerance, shift):
        self.w[:, row0:row0 + t.shape[1], col0:col0 + t.shape[2]] = t
        return {"reads": 0, "pulses": 0, "iterations": 0, "unconverged": 0}

    def read_weights(self) -> np.ndarray:
        return self.w.copy()

    def state_dict(self) -> dict:
        return {"w": self.w.copy(), "stats": self.stats.to_dict()}

    def load_state_dict(self, d: dict) -> None:
        self.w = np.array(d["w"], dtype=float)
        self.stats = BackendStats(**d["stats"])


class GoldenBackend(Backend):
    """Device physics + DAC/ADC quantisation, noise and mismatch, in the integer domain.

    Parameters
    ----------
    config: the shared :class:`ControllerConfig` (rows, cols, converter widths...).
    device: the device family and its parameters (a preset or a fitted device).
    periphery: DAC/TIA/ADC parameters and mismatch.
    instances: K independent device draws simulated side by side (Monte Carlo).
    seed: seeds the backend's single ``numpy.random.Generator``.
    mapping: ``differential`` (G+ - G-, push-pull pulses) or ``reference``.
    engine: ``numba`` (compiled kernels of :mod:`insitu.golden.fastpath`), ``numpy``
        (the readable reference), or ``auto`` (numba when importable). Both consume
        the same random stream and the same cycle-to-cycle draws.
    threads: run the instances of a Monte-Carlo backend (``instances >= 4``) on
        numba's threads (``NUMBA_NUM_THREADS``); the same result. Worth it on idle
        cores only.
    """

    def __init__(self, config: ControllerConfig, device: DeviceParams,
                 periphery: PeripheryParams | None = None, *, instances: int = 1, seed: int = 0,
                 mapping: str = "differential", engine: str = "auto", threads: bool = False):
        super().__init__(config, device, periphery, instances=instances, mapping=mapping)
        check_choice("engine", engine, ENGINES)
        if engine == "numba" and not fastpath.AVAILABLE:
            raise ValueError("engine 'numba' needs the numba package; use engine='numpy'")
        self.engine = "numba" if engine == "auto" and fastpath.AVAILABLE else engine
        if self.engine == "auto":
            self.engine = "numpy"
        check_int("seed", seed, 0, 2**63 - 1)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        K, R, C = self.instances, config.rows, config.cols
        self.devices = DeviceArray.create(device, (K, self.pairs, R, C), self.rng)
        pp = self.periphery
        self.dac_rows = ChannelMismatch.draw((K, R), pp.dac_gain_mismatch, pp.dac_offset_mismatch,
                                             pp.v_read, self.rng)
        self.dac_cols = ChannelMismatch.draw((K, C), pp.dac_gain_mismatch, pp.dac_offset_mismatch,
                                             pp.v_read, self.rng)
        self.adc_rows = ChannelMismatch.draw((K, R), pp.adc_gain_mismatch, pp.adc_offset_mismatch,
                                             1.0, self.rng)
        self.adc_cols = ChannelMismatch.draw((K, C), pp.adc_gain_mismatch, pp.adc_offset_mismatch,
                                             1.0, self.rng)
        # the key of the counter-based cycle-to-cycle draws (noise.py), from the same stream
        self._c2c_base = noise.base_key(int(self.rng.integers(0, 2**63 - 1)))
        #: SET-only devices (a ``set_reset`` pair): a positive count pulses G+, a
        #: negative one G- (never a push-pull depression, which would RESET a device)
        self.unidirectional = device.family in UNIDIRECTIONAL
        if self.unidirectional and self.pairs != 2:
            raise ValueError(f"device family {device.family!r} (SET only, abrupt RESET) needs "
                             f"mapping 'differential', got {mapping!r}")
        self.g_ref = 0.5 * (device.g_min + device.g_max)
        if self.pairs == 1 and device.ref_d2d:
            # reference-device variant: every weight's reference conductance has its own
            # spread, drawn after the key so that streams without it do not change
            self.g_ref = self.g_ref + device.ref_d2d * (device.g_max - device.g_min) * \
                self.rng.standard_normal((K, R, C))
        self.refs = [ControllerReference(config) for _ in range(K)]
        self._pair_sign = np.array([1, -1])[None, :, None, None] if self.pairs == 2 else None
        self._pair_sign_flat = np.array([1, -1] if self.pairs == 2 else [1], dtype=np.int64)
        self._gdiff = self._conductance_difference()
        self._kernel = None
        d = device
        self._exp_shape = (d.exp_a, d.exp_b, d.exp_A_up, d.exp_A_down)  # exp-step kernel
        self._table = fastpath.table_shape(d)  # table kernel: the measured curve
        if self.engine == "numba":
            self._kernel = fastpath.FAMILY_CODES.get(device.family)
            if np.ndim(self.g_ref):  # the kernels take one reference conductance
                self._kernel = None
        # threads=True spreads the instances of the compiled kernels over numba's threads;
        # instances are independent and a draw depends only on its index, so the result
        # does not change. Off by default: one barrier per kernel call (tens of us of work)
        # makes it slower, not faster, on a machine whose cores are busy with other work.
        threaded = bool(threads) and self.engine == "numba" and K >= PARALLEL_MIN_INSTANCES
        self._apply_rank1 = fastpath.apply_rank1_parallel if threaded else fastpath.apply_rank1
        self._apply_counts = fastpath.apply_counts_parallel if threaded else fastpath.apply_counts
        self._read_convert = fastpath.read_convert_parallel if threaded else fastpath.read_convert
        self._half = np.full(max(R, C), 1 << (config.dac_bits - 2), dtype=np.int64)
        self._dac_mism = bool(pp.dac_gain_mismatch or pp.dac_offset_mismatch)
        self._adc_mism = bool(pp.adc_gain_mismatch or pp.adc_offset_mismatch)
        self._read_lsb = self.adc_max / (pp.out_bound * pp.v_read * self.g_unit)
        self._read_noise_lsb = device.read_noise * (device.g_max - device.g_min) * self._read_lsb
        self._noisy_reads = bool(device.read_noise or pp.adc_noise)
        dv = self.devices
        self._stuck = dv.stuck if dv.stuck is not None else np.zeros((0, 0, 0, 0), dtype=bool)
        self._stuck_value = dv.stuck_value if dv.stuck is not None else np.zeros((0, 0, 0, 0))
        self._no_draws = np.zeros((0, 0, 0, 0))
        self._no_table = np.zeros(0, dtype=np.int64)
        #: pulse bursts that moved at least one device (numbers the cycle-to-cycle draws)
        self.c2c_bursts = 0
        #: called as ``burst_observer(n, row0, col0)`` with the signed counts (K, nr, nc) of
        #: every pulse burst (update command or write-verify step) before it is applied
        self.burst_observer = None

    # -- conductances ------------------------------------------------------------
    def _conductance_difference(self, rs=slice(None), cs=slice(None)) -> np.ndarray:
        g = self.devices.g
        if self.pairs == 2:
            return g[:, 0, rs, cs] - g[:, 1, rs, cs]
        return g[:, 0, rs, cs] - (self.g_ref if np.ndim(self.g_ref) == 0
                                  else self.g_ref[:, rs, cs])

    def read_weights(self) -> np.ndarray:
        """Weights (K, rows, cols) in weight units, read directly without noise."""
        return self._gdiff / self.g_unit

    @property
    def conductances(self) -> np.ndarray:
        """Device conductances (K, pairs, rows, cols) in uS."""
        return self.devices.g

    # -- reads -------------------------------------------------------------------
    def _read(self, x, l0, o0, n, transpose):
        """Drive lines [l0, l0+len) with codes, convert lines [o0, o0+n) on the other side."""
        if self.neurons is not None and not transpose:
            words = self.neurons.read(self, x, l0, o0, n)
            if words is not None:
                self.stats.forward_reads += 1
                self.stats.conversions += (len(self.refs[0].adc_positions(o0, o0 + n))
                                           * self.config.adc_average)
                return words
        pp = self.periphery
        nx = x.shape[1]
        dac = self.dac_cols if transpose else self.dac_rows
        adc = self.adc_rows if transpose else self.adc_cols
        if self.engine == "numba":
            return self._read_numba(x, l0, o0, n, transpose, dac, adc)
        v = x * (pp.v_read / self.dac_max)
        if pp.dac_gain_mismatch or pp.dac_offset_mismatch:
            # a line with code 0 is not driven (floating): no DAC offset reaches the array
            v = np.where(x != 0, v * dac.gain[:, l0:l0 + nx] + dac.offset[:, l0:l0 + nx], 0.0)
        if transpose:
            gw = self._gdiff[:, o0:o0 + n, l0:l0 + nx]
            cur = np.matmul(gw, v[:, :, None])[:, :, 0]
            self.stats.backward_reads += 1
        else:
            gw = self._gdiff[:, l0:l0 + nx, o0:o0 + n]
            cur = np.matmul(v[:, None, :], gw)[:, 0, :]
            self.stats.forward_reads += 1
        i_fs = pp.out_bound * pp.v_read * self.g_unit
        return self._convert(cur, v, o0, adc, i_fs)

    def _read_numba(self, x, l0, o0, n, transpose, dac, adc):
        pp, c = self.periphery, self.config
        if transpose:
            self.stats.backward_reads += 1
        else:
            self.stats.forward_reads += 1
        positions = (o0 + n - 1) // c.adcs - o0 // c.adcs + 1
        self.stats.conversions += positions * c.adc_average
        draws = self._no_draws
        if self._noisy_reads:
            draws = self.rng.standard_normal((self.instances, positions, c.adc_average, c.adcs))
        out = np.empty((self.instances, n), dtype=np.int64)
        self.stats.saturated += self._read_convert(
            x, self._gdiff, l0, o0, n, transpose, pp.v_read / self.dac_max, dac.gain, dac.offset,
            self._dac_mism, adc.gain, adc.offset, self._adc_mism, self._read_lsb, draws,
            self._read_noise_lsb, self.pairs, pp.adc_noise, c.adcs, c.adc_average, self.adc_max,
            out)
        return out

    def _convert(self, cur, v, o0, adc, i_fs):
        """Currents (K, n) of lines [o0, o0+n) -> averaged ADC codes (K, n)."""
        pp, c = self.periphery, self.config
        n = cur.shape[1]
        lsb = self.adc_max / i_fs
        base = cur * lsb
        if pp.adc_gain_mismatch or pp.adc_offset_mismatch:
            base = base * adc.gain[:, o0:o0 + n] + adc.offset[:, o0:o0 + n]
        rn = self.device.read_noise * (self.device.g_max - self.device.g_min)
        positions = self.refs[0].adc_positions(o0, o0 + n)
        self.stats.conversions += len(positions) * c.adc_average
        if rn or pp.adc_noise:
            # per-line current noise from independent per-device read noise
            sig = np.sqrt((rn * lsb) ** 2 * self.pairs * np.sum(v * v, axis=1, keepdims=True)
                          + pp.adc_noise**2)
            draws = self.rng.standard_normal(
                (self.instances, len(positions), c.adc_average, c.adcs))
            if c.adcs == 1:
                noise = draws[:, :, :, 0].transpose(0, 2, 1)  # (K, avg, n): position = line
            else:
                lines = np.arange(o0, o0 + n)
                noise = draws[:, lines // c.adcs - positions.start, :, lines % c.adcs]
                noise = noise.transpose(1, 2, 0)  # (K, avg, n)
            samples = base[:, None, :] + sig[:, :, None] * noise
            q = np.floor(samples + 0.5)
            self.stats.saturated += int(np.count_nonzero(np.abs(q) > self.adc_max))
            q = np.clip(q, -self.adc_max, self.adc_max).astype(np.int64)
            return self.refs[0].average(q.transpose(1, 0, 2))
        q = np.floor(base + 0.5)
        sat = np.abs(q) > self.adc_max
        if sat.any():
            self.stats.saturated += int(np.count_nonzero(sat)) * c.adc_average
            q = np.clip(q, -self.adc_max, self.adc_max)
        return q.astype(np.int64)

    def convert_event(self, codes, transpose: bool, mux_pos: int,
                      single_device: bool = False) -> np.ndarray:
        """One conversion event of a side's ``adcs`` converters, as a co-simulation's
        analog front-end answers it.

        ``codes`` (K, lines) are the DAC codes of *every* line of the driving side
        (rows for a forward read, columns for a transpose read; 0 = floating).
        Returns the raw samples (K, adcs) of lines ``mux_pos*adcs + k`` (0 for a
        converter beyond the last line). ``single_device`` selects the TIA range
        of single-device reads (``program_bound``). Draws ``adcs`` standard
        normals per instance when reads are noisy: exactly the draws that
        :meth:`forward`/:meth:`backward` and write-verify consume for this event.
        Nothing is counted in :attr:`stats`. The arithmetic is the compiled
        engine's, so the co-simulation contract holds for ``engine="numba"`` (the
        default); the numpy engine agrees with it within one LSB.
        """
        # one position of convert_events: the same single draw of (K, 1, 1, adcs) normals
        return self.convert_events(codes, transpose, [mux_pos], single_device)[0]

    def convert_events(self, codes, transpose: bool, positions, single_device: bool = False):
        """:meth:`convert_event` for several mux positions in order, with the same draws.

        Returns a list of (K, adcs) raw samples, one per position. The standard normals of all
        events are drawn in one call, in the order the single events draw them (a read of a
        co-simulation answers all its events at its first one).
        """
        pp, c = self.periphery, self.config
        x = np.ascontiguousarray(codes, dtype=np.int64)
        nlines = c.cols if not transpose else c.rows
        dac = self.dac_cols if transpose else self.dac_rows
        adc = self.adc_rows if transpose else self.adc_cols
        bound = pp.program_bound if single_device else pp.out_bound
        lsb = self.adc_max / (bound * pp.v_read * self.g_unit)
        rn = self.device.read_noise * (self.device.g_max - self.device.g_min)
        noisy = self._noisy_reads
        if noisy:
            every = self.rng.standard_normal((len(positions), self.instances, 1, 1, c.adcs))
        positions = list(positions)
        if len(positions) > 1 and positions == list(range(positions[0],
                                                          positions[0] + len(positions))):
            # consecutive mux positions (a read without averaging): one kernel call converts
            # all their lines; each line's arithmetic and draw are those of its own event
            P, K = len(positions), self.instances
            o0 = positions[0] * c.adcs
            n = max(0, min(P * c.adcs, nlines - o0))
            samples = np.zeros((K, P * c.adcs), dtype=np.int64)
            if n:
                draws = (np.ascontiguousarray(every[:, :, 0].transpose(1, 0, 2, 3)) if noisy
                         else self._no_draws)
                got = np.empty((K, n), dtype=np.int64)
                fastpath.read_convert(
                    x, self._gdiff, 0, o0, n, transpose, pp.v_read / self.dac_max, dac.gain,
                    dac.offset, self._dac_mism, adc.gain, adc.offset, self._adc_mism, lsb,
                    draws, rn * lsb, self.pairs, pp.adc_noise, c.adcs, 1, self.adc_max, got)
                samples[:, :n] = got
            return list(np.ascontiguousarray(samples.reshape(K, P, c.adcs).transpose(1, 0, 2)))
        out = []
        for k, pos in enumerate(positions):
            o0 = pos * c.adcs
            n = max(0, min(c.adcs, nlines - o0))
            samples = np.zeros((self.instances, c.adcs), dtype=np.int64)
            if n:
                got = np.empty((self.instances, n), dtype=np.int64)
                fastpath.read_convert(
                    x, self._gdiff, 0, o0, n, transpose, pp.v_read / self.dac_max, dac.gain,
                    dac.offset, self._dac_mism, adc.gain, adc.offset, self._adc_mism, lsb,
                    every[k] if noisy else self._no_draws, rn * lsb, self.pairs, pp.adc_noise,
                    c.adcs, 1, self.adc_max, got)
                samples[:, :n] = got
            out.append(samples)
        return out

    # -- update --------------------------------------------------------------------
    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        c = self.config
        nr, nc = x.shape[1], d.shape[1]
        if mode == "deterministic":
            shift = c.dac_bits - 1
            bank = self.refs[0].lfsr
            if dither:
                # every instance's LFSRs draw once per dithered update (all registers together)
                step = LFSR_STEPS_PER_DRAW * (bank.draws + 1)
                for ref in self.refs:
                    ref.lfsr.draws += 1
            if self._kernel is not None:
                K = self.instances
                a = np.empty((K, nr), dtype=np.int64)
                b = np.empty((K, nc), dtype=np.int64)
                slot_k = np.empty(K, dtype=np.int64)
                nnz, total = fastpath.deterministic_counts(
                    np.ascontiguousarray(x, dtype=np.int64), np.ascontiguousarray(d, dtype=np.int64),
                    row_gain, col_gain, shift, self._half, self._half, a, b, slot_k,
                    bank.table if dither else self._no_table, bank.positions,
                    step if dither else 0, row0, c.rows + col0)
                if self.burst_observer is not None:
                    self.burst_observer(a[:, :, None] * b[:, None, :], row0, col0)
                dv = self.devices
                key = self._next_burst_key() if nnz else np.uint64(0)
                self._apply_rank1(self._kernel, dv.g, dv.up, dv.down, dv.g_lo, dv.g_hi, a, b,
                                     row0, col0, self._pair_sign_flat, self.device.c2c, key,
                                     self._stuck, self._stuck_value, self._gdiff, self.g_ref, 1.0,
                                     self.device.gamma_up, self.device.gamma_down, *self._exp_shape,
                                     self._table)
                self.stats.pulses += total * self.pairs
                self.stats.updates += 1
                slots = int(slot_k.max())
                self.stats.update_slots += slots
                return slots
            if dither:
                states = bank.states()
                mask = (1 << shift) - 1
                rr = states[row0:row0 + nr] & mask
                rc = states[c.rows + col0:c.rows + col0 + nc] & mask
            else:
                rr, rc = self._half[:nr], self._half[:nc]
            n, slots = deterministic_counts(x, d, row_gain, col_gain, c.dac_bits, rr, rc)
            slots = int(slots.max())
        else:
            plans = [ref.plan_update(x[k], d[k], mode=mode, row_gain=row_gain, col_gain=col_gain,
                                     dither=dither, row0=row0, col0=col0)
                     for k, ref in enumerate(self.refs)]
            n = np.stack([p.counts for p in plans])
            slots = max(p.slots for p in plans)
        self.apply_counts(n, row0, col0)
        self.stats.updates += 1
        self.stats.update_slots += slots
        return slots

    def apply_counts(self, n, row0: int, col0: int, width: float = 1.0) -> None:
        """Apply signed per-weight pulse counts (K, nr, nc) to a window: the unit of physics.

        Differential pairs move push-pull (G+ by +n, G- by -n), unidirectional ones
        (``set_reset``) SET-only (G+ by max(n, 0), G- by max(-n, 0)). This is the call
        the co-simulation's analog front-end makes at the end of an update command.
        ``width``: the pulses' width in nominal widths (``pulse_width`` ticks), as the
        front-end measured it on the pins; every step is scaled by
        ``DeviceParams.width_scale(width)`` (1.0 at the nominal width: unchanged).
        """
        scale = self.device.width_scale(width)
        if self.burst_observer is not None:
            self.burst_observer(n, row0, col0)
        if self._kernel is not None:
            self._apply_kernel(n, row0, col0, int(np.count_nonzero(n)), int(np.abs(n).sum()),
                               scale)
            return
        if self.unidirectional:  # SET-only drive: one device of the pair takes the pulses
            npair = np.stack([np.maximum(n, 0), np.maximum(-n, 0)], axis=1)
        elif self.pairs == 2:
            npair = n[:, None, :, :] * self._pair_sign
        else:
            npair = n[:, None, :, :]
        self._move_devices(npair, row0, col0, scale)
        self.stats.pulses += int(np.abs(n).sum()) * (1 if self.unidirectional else self.pairs)

    def _move_devices(self, npair, row0: int, col0: int, scale: float = 1.0) -> None:
        """Signed pulse counts per device (K, pairs, nr, nc) of a window: one burst."""
        nr, nc = npair.shape[2], npair.shape[3]
        rs, cs = slice(row0, row0 + nr), slice(col0, col0 + nc)
        xi = None
        if np.any(npair):  # a burst that moves nothing is not counted (as in the kernels)
            key = self._next_burst_key()
            if self.device.c2c:
                k, p, i, j = np.nonzero(npair)  # C order: the order apply_pulses takes them in
                c = self.config
                flat = ((k * self.pairs + p) * c.rows + i + row0) * c.cols + j + col0
                xi = noise.normals(key, flat)
        self.devices.apply_pulses(npair, window=(slice(None), slice(None), rs, cs), xi=xi,
                                  scale=scale)
        self._gdiff[:, rs, cs] = self._conductance_difference(rs, cs)

    def reset_pairs(self, mask) -> int:
        """One RESET (depression) pulse to both devices of every pair selected by
        ``mask`` (K, rows, cols) bool: the refresh's reset (:mod:`insitu.golden.refresh`).
        Returns the RESET pulses sent."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (self.instances, self.rows, self.cols):
            raise ValueError(f"mask must be a bool array of shape "
                             f"{(self.instances, self.rows, self.cols)}")
        if self.pairs != 2:
            raise ValueError("reset_pairs needs the differential mapping")
        npair = -np.repeat(mask[:, None].astype(np.int64), 2, axis=1)
        self._move_devices(npair, 0, 0)
        sent = 2 * int(mask.sum())
        self.stats.reset_pulses += sent
        return sent

    def _next_burst_key(self) -> np.uint64:
        """Key of the next pulse burst that moves at least one device (counts it)."""
        key = noise.burst_key(self._c2c_base, self.c2c_bursts)
        self.c2c_bursts += 1
        return key

    def _apply_kernel(self, n, row0, col0, nnz: int, total: int, scale: float = 1.0) -> None:
        dv = self.devices
        key = self._next_burst_key() if nnz else np.uint64(0)
        self._apply_counts(self._kernel, dv.g, dv.up, dv.down, dv.g_lo, dv.g_hi,
                              np.ascontiguousarray(n, np.int64), row0, col0,
                              self._pair_sign_flat, self.device.c2c, key, self._stuck,
                              self._stuck_value, self._gdiff, self.g_ref, scale,
                              self.device.gamma_up, self.device.gamma_down, *self._exp_shape,
                              self._table)
        self.stats.pulses += total * self.pairs

    # -- write-verify ----------------------------------------------------------------
    def read_device_codes(self, rows, cols, read_code: int | None = None,
                          device: int | None = None) -> np.ndarray:
        """Single-device reads (row i at ``read_code``, column j converted, TIA at
        ``program_bound``) for index arrays ``rows``, ``cols`` of shape (K, m).

        ``device`` ``None`` reads the weight (the pair's difference, or the device
        against its reference); ``0`` or ``1`` reads that device of a differential
        pair alone (its own line; the refresh's saturation check)."""
        pp, c = self.periphery, self.config
        code = self.dac_max if read_code is None else read_code
        kk = np.arange(self.instances)[:, None]
        v = np.full(rows.shape, code * pp.v_read / self.dac_max)
        if pp.dac_gain_mismatch or pp.dac_offset_mismatch:
            v = v * self.dac_rows.gain[kk, rows] + self.dac_rows.offset[kk, rows]
        if device is None:
            gsel = self._gdiff
        else:
            check_int("device", device, 0, self.pairs - 1)
            gsel = self.devices.g[:, device]
        cur = v * gsel[kk, rows, cols]
        lsb = self.adc_max / (pp.program_bound * pp.v_read * self.g_unit)
        base = cur * lsb
        if pp.adc_gain_mismatch or pp.adc_offset_mismatch:
            base = base * self.adc_cols.gain[kk, cols] + self.adc_cols.offset[kk, cols]
        rn = self.device.read_noise * (self.device.g_max - self.device.g_min)
        m = rows.shape[1]
        self.stats.conversions += m * self.instances * c.adc_average
        if rn or pp.adc_noise:
            sig = np.sqrt((rn * lsb) ** 2 * self.pairs * (v * v) + pp.adc_noise**2)
            draws = self.rng.standard_normal((self.instances, m, c.adc_average, c.adcs))
            noise = np.take_along_axis(draws, (cols % c.adcs)[:, :, None, None], axis=3)[..., 0]
            q = np.clip(np.floor(base[:, :, None] + sig[:, :, None] * noise + 0.5),
                        -self.adc_max, self.adc_max).astype(np.int64)
            return self.refs[0].average(q.transpose(2, 0, 1))
        return np.clip(np.floor(base + 0.5), -self.adc_max, self.adc_max).astype(np.int64)

    def _program_masked(self, t, row0, col0, tolerance, shift, mask):
        return self._program(t, row0, col0, tolerance, shift, active=mask)

    def _program(self, t, row0, col0, tolerance, shift, active=None):
        c, pp = self.config, self.periphery
        K, nr, nc = t.shape
        target = np.clip(np.floor(t / pp.program_bound * self.adc_max + 0.5),
                         -self.adc_max, self.adc_max).astype(np.int64)
        rr, cc = np.meshgrid(np.arange(row0, row0 + nr), np.arange(col0, col0 + nc), indexing="ij")
        active = np.ones((K, nr, nc), dtype=bool) if active is None else active.copy()
        reads = pulses = iters = 0
        for it in range(c.max_program_iters):
            if not active.any():
                break
            iters = it + 1
            # every instance reads the same number of devices: pad with inactive ones masked out
            m = int(active.reshape(K, -1).sum(axis=1).max())
            order = np.argsort(~active.reshape(K, -1), axis=1, kind="stable")[:, :m]
            valid = np.take_along_axis(active.reshape(K, -1), order, axis=1)
            rows = rr.ravel()[order]
            cols = cc.ravel()[order]
            codes = self.read_device_codes(rows, cols)
            tg = np.take_along_axis(target.reshape(K, -1), order, axis=1)
            steps = program_steps(tg, codes, tolerance=tolerance, shift=shift,
                                  count_max=c.count_max)
            steps = np.where(valid, steps, 0)
            reads += int(valid.sum())
            done = valid & (steps == 0)
            a = active.reshape(K, -1)
            np.put_along_axis(a, order, np.take_along_axis(a, order, axis=1) & ~done, axis=1)
            n = np.zeros((K, nr * nc), dtype=np.int64)
            np.put_along_axis(n, order, steps, axis=1)
            pulses += int(np.abs(n).sum())
            if np.any(n):
                self.apply_counts(n.reshape(K, nr, nc), row0, col0)
        self.stats.program_reads += reads
        self.stats.program_pulses += pulses
        return {"reads": reads, "pulses": pulses, "iterations": iters,
                "unconverged": int(active.sum())}

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "g": self.devices.g.copy(),
            "rng": self.rng.bit_generator.state,
            "c2c_key": int(self._c2c_base),
            "c2c_bursts": self.c2c_bursts,
            "refs": [r.state_dict() for r in self.refs],
            "stats": self.stats.to_dict(),
        }

    def load_state_dict(self, d: dict) -> None:
        self.devices.load_state_dict({"g": d["g"]})
        self.rng.bit_generator.state = d["rng"]
        if "c2c_key" in d:
            self._c2c_base = np.uint64(d["c2c_key"])
        self.c2c_bursts = int(d.get("c2c_bursts", 0))
        for r, s in zip(self.refs, d["refs"]):
            r.load_state_dict(s)
        self.stats = BackendStats(**d["stats"])
        self._gdiff = self._conductance_difference()
