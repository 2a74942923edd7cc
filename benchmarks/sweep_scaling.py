"""Sweep scaling: the same 16-cell grid on a LocalCluster of 1 and of 2 worker processes.

16 cells (2 devices x 2 algorithms x 4 seeds) of the 64-32-10 digits network, ``--epochs``
epochs each. Each sweep's wall time counts from the first cell submitted to the last one stored
(cluster start-up excluded; each run has its own fresh results folder, so nothing is reused).
``speedup`` = time on 1 worker / time on 2 workers (target >= 1.7 on 2 idle cores).

Usage: python benchmarks/sweep_scaling.py [--epochs 4]
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from insitu import sweep

GRID = """
dataset = "digits"
epochs = {epochs}
device = ["ecram_organic", "rram_oxide"]
algo = ["pgd", "backprop"]
seed = [0, 1, 2, 3]
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=4, help="epochs per cell (default 4)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.toml"
        path.write_text(GRID.format(epochs=args.epochs))
        grid = sweep.load_grid(path)
        seconds, accs = {}, {}
        for workers in (1, 2):
            res = sweep.run_sweep(grid, Path(tmp) / f"w{workers}", workers=workers,
                                  progress=False)
            assert res.ran == len(grid.cells()) and not res.failed, res.failed
            seconds[workers] = res.seconds
            accs[workers] = [r["final_test_acc"] for r in res.records]
            print(f"{workers} worker(s): {res.seconds:.1f} s for {res.ran} cells", flush=True)
    out = {"cells": len(grid.cells()), "epochs": args.epochs, "cpus": os.cpu_count(),
           "seconds_1_worker": round(seconds[1], 2), "seconds_2_workers": round(seconds[2], 2),
           "speedup": round(seconds[1] / seconds[2], 3),
           "same_results": accs[1] == accs[2]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
