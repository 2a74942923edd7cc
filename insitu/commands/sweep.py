"""``insitu sweep``: a grid of training runs on a Dask cluster (local by default).

Examples::

    insitu sweep grid.toml                       # a LocalCluster of 2 worker processes
    insitu sweep grid.toml --workers 4 --out results/sweep
    insitu sweep grid.toml --scheduler tcp://127.0.0.1:8786   # an existing cluster

The grid file format is in :mod:`insitu.sweep`. Finished cells are stored one JSON each under
``--out/cells``; running the same command again after a kill redoes only the missing cells.
"""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of training runs (devices x algorithms x periphery x seeds) on Dask",
        description="Run every cell of a TOML grid (a list value is an axis, a scalar is fixed) "
        "as one training run on a Dask cluster; cells are stored as they finish, so a killed "
        "sweep resumes; ends with a table (CSV, JSON) and a heatmap (PNG).",
    )
    p.add_argument("grid", metavar="GRID.toml", help="the grid file")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a running Dask scheduler (default: start a LocalCluster)")
    p.add_argument("--workers", default="2", metavar="N",
                   help="worker processes of the LocalCluster (default 2)")
    p.add_argument("--out", default="results/sweep", metavar="DIR",
                   help="results folder (default results/sweep)")
    p.add_argument("--timeout", default="10", metavar="SECONDS",
                   help="how long to wait for --scheduler to answer (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from insitu import sweep
    from insitu.golden.validate import check_float, check_int

    try:
        workers = check_int("--workers", int(args.workers), 1, 256)
    except (TypeError, ValueError):
        raise ValueError(f"--workers must be an integer in [1, 256], got {args.workers!r}") from None
    try:
        timeout = check_float("--timeout", float(args.timeout), 0.0, 3600.0, lo_open=True)
    except (TypeError, ValueError):
        raise ValueError(f"--timeout must be a number in (0, 3600], got {args.timeout!r}") from None
    grid = sweep.load_grid(args.grid)
    n = len(grid.cells())
    where = args.scheduler or f"a LocalCluster of {workers} workers"
    print(f"sweep: {n} cells ({' x '.join(f'{len(v)} {k}' for k, v in grid.axes.items()) or 'one'})"
          f" on {where}, results in {args.out}", flush=True)
    res = sweep.run_sweep(grid, args.out, scheduler=args.scheduler, workers=workers,
                          progress=not args.no_progress, timeout_s=timeout)
    for cell, reason in res.failed:
        print(f"  failed: {cell}: {reason}", file=sys.stderr)
    rows_axis, cols_axis = grid.plot
    rv, cv, mean, std = sweep.summary_over(res, rows_axis, cols_axis)
    if rows_axis or cols_axis:
        print(f"final test accuracy (%), rows {rows_axis}, columns {cols_axis}:")
        for i, a in enumerate(rv):
            cells = "  ".join(f"{mean[i, j]:6.1f} ±{std[i, j]:4.1f}" for j in range(len(cv)))
            print(f"  {sweep._label(a):>16}  {cells}")
    print(f"{len(res.records)}/{n} cells finished ({res.ran} now, {res.reused} from an earlier "
          f"run, {len(res.failed)} failed) in {res.seconds:.1f} s: {args.out}/sweep.csv, "
          f"sweep.json, sweep.png")
    return 1 if res.failed else 0
