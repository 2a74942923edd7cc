"""The Tiki-Taka family: a fast array A takes the gradient pulses, a slow array C
(the weights) receives A's content by a periodic transfer.

Gokmen and Haensch, Front. Neurosci. 14:103 (2020) (TTv1); Gokmen, Front. Artif.
Intell. 4:699148 (2021) (TTv2, a digital buffer ``H`` between A and C); Rasch,
Carta, Fagbohungbe, Gokmen, Nat. Commun. 15:7133 (2024) (chopped TTv2, c-TTv2,
and AGAD). The equations are those of the leading simulator (IBM aihwkit,
REFERENCES.md, *The Tiki-Taka family as the leading simulator implements it*),
with ``W = C`` (its default ``gamma = 0``).

On the crossbar
---------------
A and C are two windows of one array: each layer's C is the network's usual
window (:class:`~insitu.golden.nn.CrossbarMLP`), its A the same rows at the
column offset ``sum(fan_out)`` (:func:`transfer_config` doubles the columns).
Per sample:

1. forward and transpose reads through C, errors from one forward pass;
2. *fast update*: the usual rank-1 pulse update of A,
   ``A -= fast_lr [c . h, c_bias] delta^T`` (row signs flipped by the choppers ``c``);
3. every ``transfer_every`` samples, per layer, the next row ``k`` of A (the
   simulator's "column": the weights of input ``k``) is read by a forward read
   of the one-hot code vector ``e_k`` through the ADC, exactly as the controller
   would; the ADC codes ``a`` are what the digital side sees;
4. the read goes to C:

   ``ttv1``   a pulsed rank-1 update ``C += transfer_lr v e_k^T`` (update management
              and dither as any update; no buffer);
   ``ttv2``   ``H_k += a``; where ``|H_kj| >= threshold`` one pulse of ``sign(H_kj)``
              to ``C_kj`` (one row update command), then ``H_kj`` is forgotten
              (``forget_buffer``) or reduced by the threshold;
   ``cttv2``  as ``ttv2`` with ``H_k += c_k a``; after each read of row ``k`` its
              chopper flips with probability ``chop_prob``;
   ``agad``   as ``cttv2`` with ``H_k += c_k (a - P_ref_k)``, ``P`` a running mean
              of the reads of row ``k`` (rate ``2**-beta_shift``), ``P_ref_k`` the
              value of ``P_k`` at the last flip of ``c_k``; the chopper flips every
              ``n_s = max(ceil(1 / chop_prob), 2)`` reads of the row. No reference
              conductance (symmetry point) of A is needed.

Digital state (the controller's, on the host for now)
-----------------------------------------------------
``H`` and ``P``, ``P_ref`` are int64 fixed-point numbers of ADC codes with
``FRAC_BITS`` fraction bits; the threshold is the integer
``round(buffer_granularity * pulse_dw / (transfer_lr * code_lsb) * 2**FRAC_BITS)``
(``code_lsb``: the weight of one ADC code of a full-scale one-hot read), so
``transfer_lr`` and ``buffer_granularity`` fold into one integer compare. The
choppers are +-1 per row; their flips draw from the step's own
``numpy.random.Generator`` (saved with the state). On an exact (float) backend
the same arithmetic runs on floats.

Defaults (:func:`default_settings`)
-----------------------------------
Derived from the device's nominal states ``n = (g_max - g_min) / dw_min`` and
the run's learning rate ``lr``, no per-device tuning; see that function.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import numpy as np

from ..backends import GoldenBackend, IdealBackend
from ..config import ControllerConfig
from ..nn import LayerWindow, layout_config
from ..validate import check_choice, check_float, check_int
from ._common import backprop_deltas, pulse_row, rank1_update, read_row

VARIANTS = ("ttv1", "ttv2", "cttv2", "agad")
#: fraction bits of the digital buffer H and AGAD's running means (units of ADC codes)
FRAC_BITS = 8
#: device states per row read of A per layer and sample (:func:`default_settings`)
STATES_PER_ROW_READ = 2000


def transfer_config(sizes, base: ControllerConfig | None = None) -> ControllerConfig:
    """The layout of :func:`~insitu.golden.nn.layout_config` with twice the columns:
    C windows in ``[0, sum(fan_out))``, A windows at the same offsets after them."""
    cfg = layout_config(sizes, base)
    cols = 2 * cfg.cols
    if cols > 256:
        raise ValueError(f"the Tiki-Taka layout of layers {tuple(sizes)} needs {cols} columns; "
                         f"at most 256 fit one array")
    return ControllerConfig(**{**cfg.to_dict(), "cols": cols})


def make_transfer_backend(kind: str, sizes, device, *, seed: int = 0, instances: int = 1,
                          periphery=None, config: ControllerConfig | None = None,
                          mapping: str = "differential"):
    """A golden or ideal backend laid out by :func:`transfer_config`."""
    check_choice("backend", kind, ("golden", "ideal"))
    cfg = transfer_config(sizes, config)
    cls = GoldenBackend if kind == "golden" else IdealBackend
    return cls(cfg, device, periphery, instances=instances, seed=seed, mapping=mapping)


@dataclass(frozen=True)
class TransferSettings:
    """Hyper-parameters of a Tiki-Taka step (see the module docstring).

    Parameters
    ----------
    fast_lr: learning rate of the fast update of A, ``(0, 100]``.
    transfer_every: samples between two row reads of A per layer, ``[1, 10**6]``.
    transfer_lr: weight of a read in the buffer (or of the TTv1 transfer), ``(0, 100]``.
    buffer_granularity: buffer threshold in pulses of C, ``[0.01, 1000]``.
    chop_prob: chopper flip probability per read (``cttv2``), or ``1 / n_s`` (``agad``),
        ``[0, 1]``; ``ttv1`` and ``ttv2`` have no choppers.
    beta_shift: AGAD's running-mean rate ``2**-beta_shift``, ``[0, 16]``.
    forget_buffer: reset ``H_kj`` after a transfer (else subtract what was sent).
    max_pulses: pulses one buffer element may send to C per read, ``[1, 255]`` (the
        simulator's 1; more lets a fine-grained C keep up); capped at ``count_max``.
    rows_per_transfer: rows of A read per layer at each transfer, ``[1, 256]``.
    """

    fast_lr: float
    transfer_every: int = 1
    transfer_lr: float = 1.0
    buffer_granularity: float = 1.0
    chop_prob: float = 0.0
    beta_shift: int = 0
    forget_buffer: bool = True
    max_pulses: int = 1
    rows_per_transfer: int = 1

    def __post_init__(self):
        check_float("fast_lr", self.fast_lr, 0.0, 100.0, lo_open=True)
        check_int("transfer_every", self.transfer_every, 1, 10**6)
        check_float("transfer_lr", self.transfer_lr, 0.0, 100.0, lo_open=True)
        check_float("buffer_granularity", self.buffer_granularity, 0.01, 1000.0)
        check_float("chop_prob", self.chop_prob, 0.0, 1.0)
        check_int("beta_shift", self.beta_shift, 0, 16)
        check_int("max_pulses", self.max_pulses, 1, 255)
        check_int("rows_per_transfer", self.rows_per_transfer, 1, 256)


def default_settings(variant: str, device, lr: float, count_max: int = 7,
                     **overrides) -> TransferSettings:
    """Settings derived from the device and the run's learning rate.

    Rule (no per-device constant; the device enters through its nominal step):

    * the buffer threshold is one nominal step of C (``buffer_granularity = 1``,
      ``transfer_lr = 1``): the integer threshold is ``pulse_dw / code_lsb``
      ADC codes, ``pulse_dw = 2 dw_min / (g_max - g_min)``, so a coarse device
      (few states) transfers rarely and a fine one often;
    * up to ``count_max`` pulses per element and read (``max_pulses``), so a
      fine-grained C keeps up with A;
    * ``fast_lr = lr``: A integrates the gradient at the run's rate;
    * ``transfer_every = 1``; ``rows_per_transfer = ceil(n / STATES_PER_ROW_READ)`` rows
      per layer and sample (one row up to 2000 states): a row of C moves at most
      ``max_pulses`` steps per read, so a finer device is read more often to keep the
      same speed in weight units;
    * choppers (``cttv2``, ``agad``): ``chop_prob = 0.01``, the leading
      simulator's preset value (AGAD: a chopper period of ``n_s = 100`` reads of a
      row); AGAD's running mean at rate ``1/2``.

    Measured on digits with ``rram_oxide`` (per-sample 64-32-10, lr 0.1): 4 epochs
    over ``chop_prob`` 0.1 / 0.03 and ``fast_lr`` 0.1 / 0.3 / 1, then 10 epochs over
    ``chop_prob`` 0.03 / 0.01, ``fast_lr`` 0.05 / 0.1 / 0.3, ``transfer_lr`` 0.5,
    ``max_pulses`` 1, two rows per transfer, ``beta_shift`` 3, no forgetting: these
    defaults were the best or within the spread of one seed; none is device-specific.
    The rows per transfer (10 epochs, 2 draws, AGAD): ``reram_es`` (1480 states) 96.3 %
    with one row per sample, 94.2 % with two; ``ecram_mo`` (7090 states) 82.9 % with one,
    95.8 % with four, 95.4 % with eight.
    """
    check_choice("variant", variant, VARIANTS)
    rows = min(max(1, math.ceil(device.states / STATES_PER_ROW_READ)), 256)
    d = {"fast_lr": lr, "transfer_every": 1, "rows_per_transfer": rows, "buffer_granularity": 1.0, "transfer_lr": 1.0,
         "forget_buffer": True, "max_pulses": count_max,
         "chop_prob": 0.01 if variant in ("cttv2", "agad") else 0.0,
         "beta_shift": 1 if variant == "agad" else 0}
    d.update(overrides)
    return TransferSettings(**d)


def fast_view(net):
    """A copy of ``net`` (same backend) whose layer windows are the A windows."""
    off = sum(lw.fan_out for lw in net.layers)
    cfg = net.backend.config
    if cfg.cols < 2 * off:
        raise ValueError(f"the array has {cfg.cols} columns; Tiki-Taka needs {2 * off} "
                         f"(build the backend with make_transfer_backend)")
    view = copy.copy(net)
    view.layers = [LayerWindow(lw.fan_in, lw.fan_out, lw.col0 + off) for lw in net.layers]
    view.capped_updates = 0
    return view


class TikiTaka:
    """A Tiki-Taka step: ``Trainer(step=TikiTaka(net, variant="cttv2", lr=0.1))``.

    Parameters
    ----------
    net: the network on a backend from :func:`make_transfer_backend`; its
        windows are C. A is zeroed by write-verify here.
    variant: ``ttv1``, ``ttv2``, ``cttv2`` or ``agad``.
    lr: the run's learning rate (for the defaults).
    settings: a :class:`TransferSettings`; default :func:`default_settings`.
    seed: seeds the chopper flips.

    The trainer's per-call ``lr`` is not used: the rates are the settings'
    (``fast_lr``, ``transfer_lr``), fixed at construction.

    Attributes
    ----------
    H, P, P_ref: per layer (K, fan_in + 1, fan_out) fixed-point digital state.
    chop: per layer (K, fan_in + 1) choppers in {+1, -1}.
    counters: ``transfer_reads``, ``buffer_ops`` (buffer element updates),
        ``transfer_updates`` (update commands into C), ``samples``.
    """

    def __init__(self, net, *, variant: str = "cttv2", lr: float = 0.1,
                 settings: TransferSettings | None = None, seed: int = 0):
        self.variant = check_choice("variant", variant, VARIANTS)
        self.settings = settings or default_settings(variant, net.backend.device, lr,
                                                     net.backend.config.count_max)
        check_int("seed", seed, 0, 2**63 - 1)
        self.fast = fast_view(net)
        self.rng = np.random.default_rng(seed)
        for lw in self.fast.layers:
            net.backend.program(np.zeros((lw.rows, lw.fan_out)), 0, lw.col0)
        s = self.settings
        self._dtype = float if net.exact else np.int64
        one = 1 << FRAC_BITS
        code_lsb = net.backend.codes_to_weighted_sum(1.0, 1.0)
        t = s.buffer_granularity * net.backend.pulse_dw / (s.transfer_lr * code_lsb) * one
        self.threshold = t if net.exact else max(1, int(round(t)))
        self.max_pulses = min(s.max_pulses, net.backend.config.count_max)
        self.n_s = max(math.ceil(1.0 / s.chop_prob), 2) if s.chop_prob > 0 else 0
        K = net.K
        self.H = [np.zeros((K, lw.rows, lw.fan_out), dtype=self._dtype) for lw in net.layers]
        self.P = [np.zeros_like(h) for h in self.H]
        self.P_ref = [np.zeros_like(h) for h in self.H]
        self.chop = [np.ones((K, lw.rows), dtype=np.int64) for lw in net.layers]
        self.reads_of_row = [np.zeros(lw.rows, dtype=np.int64) for lw in net.layers]
        self.next_row = [0] * len(net.layers)
        self.counters = {"transfer_reads": 0, "buffer_ops": 0, "transfer_updates": 0,
                         "samples": 0}

    @property
    def chopped(self) -> bool:
        return self.variant in ("cttv2", "agad")

    def __call__(self, net, x, t, lr: float) -> None:
        hs = net.forward(x)
        L = len(net.layers)
        deltas = backprop_deltas(net, hs, t)
        fl = self.settings.fast_lr
        for l in range(L):
            xb = np.concatenate([hs[l], np.ones((hs[l].shape[0], 1))], axis=1)
            if self.chopped:
                xb = xb * self.chop[l]
            rank1_update(self.fast, l, xb, deltas[l], fl)
        self.counters["samples"] += 1
        if self.counters["samples"] % self.settings.transfer_every == 0:
            for l in range(L):
                for _ in range(min(self.settings.rows_per_transfer, net.layers[l].rows)):
                    self.transfer(net, l)

    def transfer(self, net, l: int) -> None:
        """Read the next row of layer ``l``'s A and move it towards C."""
        lw, fw = net.layers[l], self.fast.layers[l]
        k = self.next_row[l]
        self.next_row[l] = (k + 1) % lw.rows
        codes, v = read_row(net, k, fw.col0, fw.fan_out)
        self.counters["transfer_reads"] += 1
        s = self.settings
        if self.variant == "ttv1":
            e = np.zeros((net.K, lw.rows))
            e[:, k] = 1.0
            # A holds device units of C already (its fast update is divided by alpha_l)
            rank1_update(net, l, e, -v, s.transfer_lr * net.alpha[l])
            self.counters["transfer_updates"] += 1
            return
        a = codes * (1 << FRAC_BITS) if not net.exact else codes * float(1 << FRAC_BITS)
        a = a.astype(self._dtype)
        if self.variant == "agad":
            p = self.P[l][:, k, :]
            sig = a - self.P_ref[l][:, k, :]
            if net.exact:
                p += (a - p) / float(1 << s.beta_shift)
            else:
                p += (a - p) >> s.beta_shift
        else:
            sig = a
        c = self.chop[l][:, k:k + 1] if self.chopped else 1
        h = self.H[l][:, k, :]
        h += c * sig
        self.counters["buffer_ops"] += lw.fan_out
        due = np.abs(h) >= self.threshold
        if np.any(due):
            n = np.trunc(h / self.threshold) if net.exact else np.sign(h) * (np.abs(h) // self.threshold)
            n = np.clip(n, -self.max_pulses, self.max_pulses).astype(np.int64)
            if s.forget_buffer:
                h[due] = 0
            else:
                h -= (n * self.threshold).astype(self._dtype)
            pulse_row(net, k, lw.col0, n)
            self.counters["transfer_updates"] += 1
        if self.variant == "cttv2":
            flip = self.rng.random(net.K) < s.chop_prob
            self.chop[l][flip, k] *= -1
        elif self.variant == "agad":
            self.reads_of_row[l][k] += 1
            if self.reads_of_row[l][k] % self.n_s == 0:
                self.chop[l][:, k] *= -1
                self.P_ref[l][:, k, :] = self.P[l][:, k, :]

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "H": [h.copy() for h in self.H], "P": [p.copy() for p in self.P],
            "P_ref": [p.copy() for p in self.P_ref], "chop": [c.copy() for c in self.chop],
            "reads_of_row": [r.copy() for r in self.reads_of_row],
            "next_row": list(self.next_row), "rng": self.rng.bit_generator.state,
            "counters": dict(self.counters), "fast_capped": self.fast.capped_updates,
        }

    def load_state_dict(self, d: dict) -> None:
        self.H = [np.array(h, dtype=self._dtype) for h in d["H"]]
        self.P = [np.array(p, dtype=self._dtype) for p in d["P"]]
        self.P_ref = [np.array(p, dtype=self._dtype) for p in d["P_ref"]]
        self.chop = [np.array(c, dtype=np.int64) for c in d["chop"]]
        self.reads_of_row = [np.array(r, dtype=np.int64) for r in d["reads_of_row"]]
        self.next_row = [int(k) for k in d["next_row"]]
        self.rng.bit_generator.state = d["rng"]
        self.counters = {k: int(v) for k, v in d["counters"].items()}
        self.fast.capped_updates = int(d["fast_capped"])

    def __repr__(self) -> str:
        return f"TikiTaka(variant={self.variant!r}, {asdict(self.settings)})"
