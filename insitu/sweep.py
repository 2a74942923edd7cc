"""Sweeps: a grid of training runs (devices x algorithms x periphery x seeds) on Dask.

A grid file is TOML. Every key is a run option; a list is an axis of the grid, a scalar is
fixed for every cell; an optional ``[plot]`` table names the two axes of the heatmap::

    dataset = "iris"
    epochs = 3
    device = ["ecram_organic", "rram_oxide", "my_device.json"]
    algo = ["pgd", "backprop"]
    adc_bits = [6, 10]
    seed = [0, 1, 2]

    [plot]
    rows = "algo"
    cols = "device"

Each cell is one :func:`insitu.golden.algorithms.runs.build` run of ``epochs`` epochs. The
cells run on a Dask ``distributed`` cluster: a ``LocalCluster`` of ``workers`` processes (one
thread each) by default, or an existing scheduler given by its address. The driver stores each
finished cell as it arrives (``cells/<id>.json``, written atomically), so a killed sweep, or one
whose worker died, redoes only the cells that have no file yet. At the end it writes the table
(``sweep.csv``, ``sweep.json``) and ``sweep.png`` (mean accuracy over two axes, error bars over
seeds).

Everything in the grid is checked before anything runs (:func:`load_grid`): an unknown key, an
empty axis, a value outside its range or an unknown preset is one ``ValueError`` naming the key
and what is allowed.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: option keys of a cell (those of ``RunOptions`` a sweep may vary) and ``epochs``
OPTION_KEYS = ("device", "algo", "dataset", "lr", "dac_bits", "adc_bits", "mismatch", "seed",
               "hidden", "instances", "backend")
KEYS = (*OPTION_KEYS, "epochs")
EPOCHS_MAX = 1000
DEFAULT_CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Grid:
    """A parsed, checked grid: the fixed options, the axes in file order, the plot axes."""

    fixed: dict
    axes: dict  # name -> list of values (each list non-empty)
    plot: tuple  # (rows axis or None, cols axis or None)
    source: str = ""

    def cells(self) -> list[dict]:
        """Every cell's options (fixed + one value per axis), in a fixed order."""
        names = list(self.axes)
        out = []
        for values in itertools.product(*(self.axes[n] for n in names)):
            out.append({**self.fixed, **dict(zip(names, values))})
        return out


def cell_id(cell: dict) -> str:
    """A stable name of a cell from its options (the same cell has the same id in every run)."""
    text = json.dumps(cell, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resolve_device(value, base: Path):
    if isinstance(value, str) and value.endswith(".json"):
        path = Path(value)
        return str((path if path.is_absolute() else base / path).resolve())
    return value


def run_options(cell: dict):
    """The ``RunOptions`` of a cell (validated); ``epochs`` is the sweep's, not the run's."""
    from insitu.golden.algorithms.runs import RunOptions

    return RunOptions(**{k: v for k, v in cell.items() if k in OPTION_KEYS}).validate()


def check_cell(cell: dict, where: str) -> None:
    epochs = cell.get("epochs", 1)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or not 1 <= epochs <= EPOCHS_MAX:
        raise ValueError(f"{where}: epochs must be an integer in [1, {EPOCHS_MAX}], got {epochs!r}")
    for key in ("mismatch",):
        if key in cell and not isinstance(cell[key], bool):
            raise ValueError(f"{where}: {key} must be true or false, got {cell[key]!r}")
    try:
        run_options(cell)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: {e}") from None


def load_grid(path: str | Path) -> Grid:
    """Parse and check a grid file; raises ValueError (one line) naming what is wrong."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"grid file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    plot = data.pop("plot", {})
    if not isinstance(plot, dict):
        raise ValueError(f"{path}: [plot] must be a table with keys rows, cols")
    fixed, axes = {}, {}
    for key, value in data.items():
        if key not in KEYS:
            raise ValueError(f"{path}: unknown key {key!r}; allowed: {', '.join(KEYS)}, [plot]")
        if isinstance(value, dict):
            raise ValueError(f"{path}: {key} must be a value or a list of values, not a table")
        if isinstance(value, list):
            if not value:
                raise ValueError(f"{path}: axis {key!r} is empty; give at least one value")
            if len(set(map(json.dumps, value))) != len(value):
                raise ValueError(f"{path}: axis {key!r} repeats a value: {value}")
            axes[key] = [_resolve_device(v, path.parent) if key == "device" else v for v in value]
        else:
            fixed[key] = _resolve_device(value, path.parent) if key == "device" else value
    fixed.setdefault("epochs", 1)
    for k in plot:
        if k not in ("rows", "cols"):
            raise ValueError(f"{path}: unknown key {k!r} in [plot]; allowed: rows, cols")
    names = list(axes)
    rows = plot.get("rows", names[0] if names else None)
    cols = plot.get("cols", next((n for n in names if n not in (rows, "seed")), None))
    for k, v in (("rows", rows), ("cols", cols)):
        if v is not None and v not in axes:
            raise ValueError(f"{path}: [plot] {k} = {v!r} is not an axis of the grid; axes: "
                             f"{', '.join(names) or 'none'}")
    if rows is not None and rows == cols:
        raise ValueError(f"{path}: [plot] rows and cols must be different axes, both {rows!r}")
    grid = Grid(fixed, axes, (rows, cols), str(path))
    for cell in grid.cells():
        axis_values = ", ".join(f"{k}={cell[k]!r}" for k in axes)
        check_cell(cell, f"{path} ({axis_values})" if axes else str(path))
    return grid


def run_cell(cell: dict) -> dict:
    """Train one cell (runs on a worker); returns its result record."""
    from insitu.golden.algorithms.runs import build

    t0 = time.perf_counter()
    opts = run_options(cell)
    trainer, _step = build(opts)
    h = trainer.run(int(cell.get("epochs", 1)), progress=False)
    stats = trainer.net.backend.stats
    return {
        "id": cell_id(cell),
        "cell": cell,
        "test_acc": h.test_acc,
        "final_test_acc": h.test_acc[-1],
        "last3_test_acc": float(np.mean(h.test_acc[-3:])),
        "pulses": int(stats.pulses),
        "program_reads": int(stats.program_reads),
        "seconds": time.perf_counter() - t0,
        "worker_pid": os.getpid(),
    }


@dataclass
class SweepResult:
    grid: Grid
    records: list  # one per finished cell, in grid order
    ran: int  # cells run now
    reused: int  # cells found finished from an earlier run
    failed: list = field(default_factory=list)  # (cell, one-line reason)
    seconds: float = 0.0  # wall time of the cells run now (cluster start-up excluded)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _connect(scheduler: str | None, workers: int, timeout_s: float):
    """A Dask client: to ``scheduler`` (within ``timeout_s``) or to a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False), None
        except (OSError, TimeoutError) as e:
            raise ValueError(f"Dask scheduler {scheduler} did not answer within {timeout_s:g} s "
                             f"({type(e).__name__})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40)
    return Client(cluster, set_as_default=False), cluster


def run_sweep(grid: Grid, out: str | Path, *, scheduler: str | None = None, workers: int = 2,
              progress: bool = True, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
              on_result=None) -> SweepResult:
    """Run every cell of ``grid`` that ``out/cells`` does not hold yet; write the table and plot.

    ``on_result(record)`` is called in the driver as each cell finishes (after its file is
    written).
    """
    from tqdm import tqdm

    from insitu.golden.validate import check_int

    check_int("workers", workers, 1, 256)
    out = Path(out)
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "grid.json", json.dumps({"source": grid.source, "fixed": grid.fixed,
                                                 "axes": grid.axes, "plot": grid.plot}, indent=1))
    cells = grid.cells()
    done = {}
    for cell in cells:
        f = cells_dir / f"{cell_id(cell)}.json"
        if f.exists():
            try:
                done[cell_id(cell)] = json.loads(f.read_text())
            except json.JSONDecodeError:
                f.unlink()  # a torn file from a kill mid-write: redo the cell
    todo = [c for c in cells if cell_id(c) not in done]
    result = SweepResult(grid, [], ran=0, reused=len(done))
    if todo:
        from distributed import as_completed

        client, cluster = _connect(scheduler, workers, timeout_s)
        try:
            t0 = time.perf_counter()
            futures = {client.submit(run_cell, c, pure=False): c for c in todo}
            with tqdm(total=len(cells), initial=len(done), desc="sweep", unit="cell",
                      disable=not progress) as bar:
                for fut in as_completed(list(futures), loop=client.loop):
                    cell = futures[fut]
                    try:
                        rec = fut.result()
                    except Exception as e:  # a cell's error or a dead worker: lose only it
                        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
                        result.failed.append((cell, f"{type(e).__name__}: {reason}"))
                    else:
                        _write_atomic(cells_dir / f"{rec['id']}.json", json.dumps(rec))
                        done[rec["id"]] = rec
                        result.ran += 1
                        if on_result is not None:
                            on_result(rec)
                    bar.update(1)
            result.seconds = time.perf_counter() - t0
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    result.records = [done[cell_id(c)] for c in cells if cell_id(c) in done]
    write_table(result, out)
    if result.records:
        plot(result, out / "sweep.png")
    return result


def table_rows(result: SweepResult) -> list[dict]:
    keys = [k for k in KEYS if any(k in r["cell"] for r in result.records)]
    rows = []
    for r in result.records:
        row = {k: r["cell"].get(k) for k in keys}
        row.update(final_test_acc=round(r["final_test_acc"], 3),
                   last3_test_acc=round(r["last3_test_acc"], 3), pulses=r["pulses"],
                   program_reads=r["program_reads"], seconds=round(r["seconds"], 2), id=r["id"])
        rows.append(row)
    return rows


def write_table(result: SweepResult, out: Path) -> None:
    rows = table_rows(result)
    summary = {"cells": len(result.grid.cells()), "finished": len(result.records),
               "ran": result.ran, "reused": result.reused,
               "failed": [{"cell": c, "reason": r} for c, r in result.failed],
               "seconds": round(result.seconds, 2), "rows": rows}
    _write_atomic(out / "sweep.json", json.dumps(summary, indent=1))
    if rows:
        with open(out / "sweep.csv.tmp", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        os.replace(out / "sweep.csv.tmp", out / "sweep.csv")


def _label(v) -> str:
    if isinstance(v, str) and v.endswith(".json"):
        return Path(v).stem
    return str(v)


def summary_over(result: SweepResult, rows_axis, cols_axis):
    """Mean and standard deviation of the final accuracy per (row value, col value), over all
    other axes (seeds, ...); NaN where no cell finished."""
    axes = result.grid.axes
    rv = axes[rows_axis] if rows_axis else [None]
    cv = axes[cols_axis] if cols_axis else [None]
    mean = np.full((len(rv), len(cv)), np.nan)
    std = np.full((len(rv), len(cv)), np.nan)
    for i, a in enumerate(rv):
        for j, b in enumerate(cv):
            accs = [r["final_test_acc"] for r in result.records
                    if (rows_axis is None or r["cell"][rows_axis] == a)
                    and (cols_axis is None or r["cell"][cols_axis] == b)]
            if accs:
                mean[i, j], std[i, j] = np.mean(accs), np.std(accs)
    return rv, cv, mean, std


def plot(result: SweepResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows_axis, cols_axis = result.grid.plot
    rv, cv, mean, std = summary_over(result, rows_axis, cols_axis)
    fixed = ", ".join(f"{k}={_label(v)}" for k, v in result.grid.fixed.items())
    others = [a for a in result.grid.axes if a not in (rows_axis, cols_axis)]
    over = f"mean ± std over {', '.join(others)}" if others else "one cell each"
    if rows_axis is not None and cols_axis is not None:
        fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(cv), 1.4 + 0.6 * len(rv)))
        im = ax.imshow(mean, cmap="viridis", vmin=0, vmax=100, aspect="auto")
        for i in range(len(rv)):
            for j in range(len(cv)):
                text = "-" if np.isnan(mean[i, j]) else f"{mean[i, j]:.1f}\n±{std[i, j]:.1f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if np.nan_to_num(mean[i, j]) < 60 else "black")
        ax.set_xticks(range(len(cv)), [_label(v) for v in cv], rotation=20, ha="right")
        ax.set_yticks(range(len(rv)), [_label(v) for v in rv])
        ax.set_xlabel(cols_axis)
        ax.set_ylabel(rows_axis)
        fig.colorbar(im, ax=ax, label="final test accuracy (%)")
    else:
        axis = rows_axis or cols_axis
        values = rv if rows_axis else cv
        m = mean[:, 0] if rows_axis else mean[0]
        s = std[:, 0] if rows_axis else std[0]
        fig, ax = plt.subplots(figsize=(1.5 + 1.0 * len(values), 3.2))
        ax.bar(range(len(values)), m, yerr=s, capsize=4, color="#4a7")
        ax.set_xticks(range(len(values)), [_label(v) for v in values], rotation=20, ha="right")
        ax.set_xlabel(axis or "")
        ax.set_ylabel("final test accuracy (%)")
        ax.set_ylim(0, 100)
    ax.set_title(f"{fixed}\n{over}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
