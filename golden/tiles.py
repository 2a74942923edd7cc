"""Many tiles: a network's layers on several arrays, each with its own periphery and mismatch.

One array holds at most 256 x 256 lines, so a layer with more than 255 inputs
(or a network wider than 256 columns) does not fit on one. Real chips reach
larger networks with many *tiles* (NeuRRAM: 48 cores of 256 x 256), each an
array with its own DACs, TIAs and ADCs, its own device draw and its own
converter mismatch. :class:`TiledBackend` models that: it is a backend whose
*virtual* array has the layout of :func:`insitu.golden.nn.layout_shape`
(layers side by side, bias row last), placed block by block on a list of tile
backends (one :class:`~insitu.golden.backends.GoldenBackend` each, or
:class:`~insitu.golden.backends.IdealBackend` for a float reference).
:class:`~insitu.golden.nn.CrossbarMLP` and every algorithm run on it unchanged:
it offers the same ``forward`` / ``backward`` / ``update`` / ``program`` /
``read_weights`` calls on virtual line numbers.

Placement (:func:`place_layers`)
--------------------------------
Layer ``l`` is a block of ``fan_in + 1`` rows by ``fan_out`` columns. A block
taller than a tile is split into ``ceil(rows / tile_rows)`` row chunks, one
wider than a tile into ``ceil(cols / tile_cols)`` column chunks, of balanced
sizes (129 + 128 rows, not 256 + 1, so every chunk's partial sum uses its ADC's
range alike). Chunks go, layer by layer and row chunk by row chunk, to the first
tile with enough free columns, at row 0 and the next free column: chunks share a
tile side by side as layers share one array (a read converts only its own
columns, an update drives only its own lines).

Partial sums (where, at what precision)
---------------------------------------
A read of a window drives every chunk that holds part of it with its slice of
the codes (the digital scale of the whole vector is common to all chunks), and
each tile converts its own lines with its own ADCs. The controller's digital
domain then adds the chunks' **ADC codes** of the same output line as integers:
no rounding, no saturation beyond each tile's own ADC; a sum over ``m`` chunks
needs ``adc_bits + ceil(log2 m)`` bits. Because all tiles share the periphery
parameters (the same ``out_bound`` and ``adc_max``), the summed code times the
usual ``out_bound / adc_max`` and the input's digital scale is the weighted sum.
The quantisation error grows with the chunk count: at most ``m / 2`` LSB of
rounding, plus each tile's noise. Updates are split the same way: each chunk's
tile receives the rank-1 command for its lines (its own pulse counts, its own
LFSR dither); all tiles update in parallel, so the slots of an update are the
maximum over tiles.

Tiles must agree on everything that gives codes their meaning: the controller
parameters except ``rows``, ``cols`` and the LFSR ``seed``, the periphery
parameters, the device parameters, the mapping, the instance count and the
engine. Otherwise construction raises a ``ValueError``, as it does when the
network does not fit the tiles given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from math import ceil

import numpy as np

from .backends import Backend, BackendStats, GoldenBackend, IdealBackend
from .config import ControllerConfig
from .devices import DeviceParams
from .nn import layout_shape
from .periphery import PeripheryParams
from .validate import check_choice, check_int

#: controller parameters a tile may have of its own (the rest must agree over tiles)
PER_TILE_CONFIG = ("rows", "cols", "seed")


@dataclass(frozen=True)
class Block:
    """A rectangle of the virtual array on one tile.

    ``row0``/``col0`` are virtual lines, ``tile_row0``/``tile_col0`` the tile's own.
    """

    tile: int
    row0: int
    col0: int
    rows: int
    cols: int
    tile_row0: int
    tile_col0: int


def _chunks(n: int, limit: int) -> list[tuple[int, int]]:
    """Balanced split of ``n`` lines into ceil(n / limit) chunks: (start, length)."""
    parts = ceil(n / limit)
    base, extra = divmod(n, parts)
    out, s = [], 0
    for p in range(parts):
        ln = base + (1 if p < extra else 0)
        out.append((s, ln))
        s += ln
    return out


def place_layers(sizes, tile_rows: int, tile_cols: int, tiles: int | None = None) -> list[Block]:
    """Blocks of an MLP's virtual layout on tiles of ``tile_rows x tile_cols``.

    ``tiles`` is the number of tiles available (``None``: as many as needed).
    Raises ``ValueError`` when the network needs more tiles than given.
    """
    sizes = [int(s) for s in sizes]
    layout_shape(sizes, max_size=65535)  # validates the sizes
    check_int("tile_rows", tile_rows, 1, 256)
    check_int("tile_cols", tile_cols, 1, 256)
    if tiles is not None:
        check_int("tiles", tiles, 1, 4096)
    free = []  # next free column of each tile in use
    blocks = []
    c0 = 0
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        for r0, nr in _chunks(fi + 1, tile_rows):
            for cc, nc in _chunks(fo, tile_cols):
                t = next((k for k, f in enumerate(free) if f + nc <= tile_cols), None)
                if t is None:
                    free.append(0)
                    t = len(free) - 1
                blocks.append(Block(t, r0, c0 + cc, nr, nc, 0, free[t]))
                free[t] += nc
        c0 += fo
    if tiles is not None and len(free) > tiles:
        raise ValueError(f"tiles: layers {tuple(sizes)} need {len(free)} tiles of "
                         f"{tile_rows}x{tile_cols}, got {tiles}")
    return blocks


def _check_tiles(tiles) -> None:
    """ValueError unless all tiles agree on what gives codes their meaning."""
    first = tiles[0]
    if not isinstance(first, Backend):
        raise ValueError("tiles must be backends (GoldenBackend or IdealBackend)")
    ref = {f.name: getattr(first.config, f.name) for f in fields(ControllerConfig)
           if f.name not in PER_TILE_CONFIG}
    for k, t in enumerate(tiles[1:], start=1):
        if type(t) is not type(first):
            raise ValueError(f"tiles: tile {k} is a {type(t).__name__}, tile 0 a "
                             f"{type(first).__name__}; all tiles must be of one kind")
        for name, v in ref.items():
            if getattr(t.config, name) != v:
                raise ValueError(f"tiles: tile {k} has config {name}={getattr(t.config, name)}, "
                                 f"tile 0 has {v}; tiles must share the converter settings")
        if (t.config.rows, t.config.cols) != (first.config.rows, first.config.cols):
            raise ValueError(f"tiles: tile {k} is {t.config.rows}x{t.config.cols}, tile 0 "
                             f"{first.config.rows}x{first.config.cols}; tiles must be one size")
        if t.periphery != first.periphery:
            raise ValueError(f"tiles: tile {k} has other periphery parameters than tile 0 "
                             f"(mismatched periphery)")
        if t.device != first.device:
            raise ValueError(f"tiles: tile {k} has other device parameters than tile 0")
        for name in ("instances", "mapping"):
            if getattr(t, name) != getattr(first, name):
                raise ValueError(f"tiles: tile {k} has {name}={getattr(t, name)}, tile 0 has "
                                 f"{getattr(first, name)}")
        if getattr(t, "engine", None) != getattr(first, "engine", None):
            raise ValueError(f"tiles: tile {k} runs engine {t.engine}, tile 0 {first.engine}")


class TiledBackend(Backend):
    """A backend whose virtual array is an MLP's layout placed on several tiles.

    Parameters
    ----------
    tiles: the tile backends, all of one kind, size, periphery and device
        (see the module docstring); each keeps its own device draw, mismatch,
        random stream and LFSRs.
    sizes: the layer sizes the virtual array holds (as for
        :class:`~insitu.golden.nn.CrossbarMLP`).

    Attributes
    ----------
    blocks: the :class:`Block` placement of the layers.
    rows, cols: the virtual array's lines (may exceed 256).
    """

    def __init__(self, tiles, sizes):
        tiles = list(tiles)
        if not tiles:
            raise ValueError("tiles must hold at least one backend")
        _check_tiles(tiles)
        t0 = tiles[0]
        super().__init__(t0.config, t0.device, t0.periphery, instances=t0.instances,
                         mapping=t0.mapping)
        self.exact = t0.exact
        self.tiles = tiles
        self.sizes = tuple(int(s) for s in sizes)
        self.rows, self.cols = layout_shape(self.sizes, max_size=65535)
        self.blocks = place_layers(self.sizes, t0.config.rows, t0.config.cols, len(tiles))
        if getattr(t0, "engine", None) is not None:
            self.engine = t0.engine
        self._mapped = np.zeros((self.rows, self.cols), dtype=bool)
        for b in self.blocks:
            self._mapped[b.row0:b.row0 + b.rows, b.col0:b.col0 + b.cols] = True

    @classmethod
    def create(cls, sizes, device: DeviceParams, periphery: PeripheryParams | None = None, *,
               tile_rows: int = 256, tile_cols: int = 256, tiles: int | None = None,
               config: ControllerConfig | None = None, kind: str = "golden",
               instances: int = 1, seed: int = 0, mapping: str = "differential",
               engine: str = "auto", threads: bool = False) -> TiledBackend:
        """Tiles of ``tile_rows x tile_cols`` for an MLP of ``sizes``.

        ``tiles`` fixes how many tiles there are (``None``: as many as the placement
        needs). ``config`` gives the shared converter settings (rows, cols replaced);
        tile ``t`` gets the LFSR seed ``config.seed + t`` (mod 2**32) and a backend
        seed drawn from ``numpy.random.SeedSequence([seed, t])``.
        """
        check_choice("kind", kind, ("golden", "ideal"))
        check_int("seed", seed, 0, 2**63 - 1)
        blocks = place_layers(sizes, tile_rows, tile_cols, tiles)
        n = tiles if tiles is not None else 1 + max(b.tile for b in blocks)
        base = (config or ControllerConfig()).to_dict()
        out = []
        for t in range(n):
            d = dict(base, rows=tile_rows, cols=tile_cols,
                     seed=(base["seed"] + t) % 2**32)
            d["adcs"] = min(d["adcs"], max(tile_rows, tile_cols))
            cfg = ControllerConfig(**d)
            state = np.random.SeedSequence([seed, t]).generate_state(1, np.uint64)[0]
            s = int(state >> np.uint64(1))
            if kind == "golden":
                out.append(GoldenBackend(cfg, device, periphery, instances=instances, seed=s,
                                         mapping=mapping, engine=engine, threads=threads))
            else:
                out.append(IdealBackend(cfg, device, periphery, instances=instances, seed=s,
                                        mapping=mapping))
        return cls(out, sizes)

    # -- stats: the tiles' -----------------------------------------------------------
    @property
    def stats(self) -> BackendStats:
        """The tiles' counters summed (a read of a window is one read per tile it touches)."""
        total = BackendStats()
        for t in getattr(self, "tiles", ()):
            for k, v in t.stats.to_dict().items():
                setattr(total, k, getattr(total, k) + v)
        return total

    @stats.setter
    def stats(self, value: BackendStats) -> None:
        if any(value.to_dict().values()):
            raise ValueError("a tiled backend's stats are its tiles': set tiles[k].stats")

    # -- reads: partial sums added digitally -------------------------------------------
    def _read(self, x, l0, o0, n, transpose):
        nx = x.shape[1]
        out = np.zeros((self.instances, n), dtype=float if self.exact else np.int64)
        for b in self.blocks:
            if transpose:  # columns driven, rows converted
                d0, dn, dt, q0, qn, qt = b.col0, b.cols, b.tile_col0, b.row0, b.rows, b.tile_row0
            else:
                d0, dn, dt, q0, qn, qt = b.row0, b.rows, b.tile_row0, b.col0, b.cols, b.tile_col0
            lo, hi = max(l0, d0), min(l0 + nx, d0 + dn)
            olo, ohi = max(o0, q0), min(o0 + n, q0 + qn)
            if lo >= hi or olo >= ohi:
                continue
            codes = self.tiles[b.tile]._read(x[:, lo - l0:hi - l0], dt + lo - d0, qt + olo - q0,
                                             ohi - olo, transpose)
            out[:, olo - o0:ohi - o0] += codes  # the controller's digital partial sum
        return out

    # -- updates: one command per chunk, tiles in parallel --------------------------------
    def _update(self, x, d, mode, row_gain, col_gain, dither, row0, col0):
        nr, nc = x.shape[1], d.shape[1]
        slots = 0
        for b in self.blocks:
            rlo, rhi = max(row0, b.row0), min(row0 + nr, b.row0 + b.rows)
            clo, chi = max(col0, b.col0), min(col0 + nc, b.col0 + b.cols)
            if rlo >= rhi or clo >= chi:
                continue
            s = self.tiles[b.tile]._update(
                x[:, rlo - row0:rhi - row0], d[:, clo - col0:chi - col0], mode, row_gain,
                col_gain, dither, b.tile_row0 + rlo - b.row0, b.tile_col0 + clo - b.col0)
            slots = max(slots, s)
        return slots

    # -- write-verify and direct read-out ---------------------------------------------------
    def _program(self, t, row0, col0, tolerance, shift):
        nr, nc = t.shape[1], t.shape[2]
        mapped = self._mapped[row0:row0 + nr, col0:col0 + nc]
        if np.any(t[:, ~mapped] != 0):
            raise ValueError("target: nonzero weights outside the layers' blocks (no devices "
                             "there in a tiled array)")
        total = {"reads": 0, "pulses": 0, "iterations": 0, "unconverged": 0}
        for b in self.blocks:
            rlo, rhi = max(row0, b.row0), min(row0 + nr, b.row0 + b.rows)
            clo, chi = max(col0, b.col0), min(col0 + nc, b.col0 + b.cols)
            if rlo >= rhi or clo >= chi:
                continue
            r = self.tiles[b.tile]._program(
                np.ascontiguousarray(t[:, rlo - row0:rhi - row0, clo - col0:chi - col0]),
                b.tile_row0 + rlo - b.row0, b.tile_col0 + clo - b.col0, tolerance, shift)
            for k in ("reads", "pulses", "unconverged"):
                total[k] += r[k]
            total["iterations"] = max(total["iterations"], r["iterations"])
        return total

    def read_weights(self) -> np.ndarray:
        """Weights (K, rows, cols) of the virtual array (0 where no block lies)."""
        w = np.zeros((self.instances, self.rows, self.cols))
        tw = [t.read_weights() for t in self.tiles]
        for b in self.blocks:
            w[:, b.row0:b.row0 + b.rows, b.col0:b.col0 + b.cols] = \
                tw[b.tile][:, b.tile_row0:b.tile_row0 + b.rows, b.tile_col0:b.tile_col0 + b.cols]
        return w

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"tiles": [t.state_dict() for t in self.tiles]}

    def load_state_dict(self, d: dict) -> None:
        if len(d.get("tiles", ())) != len(self.tiles):
            raise ValueError(f"saved state holds {len(d.get('tiles', ()))} tiles, "
                             f"this backend {len(self.tiles)}")
        for t, s in zip(self.tiles, d["tiles"]):
            t.load_state_dict(s)
