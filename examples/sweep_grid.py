"""A sweep: devices x algorithms x ADC bits x seeds on a local Dask cluster, then the table.

    python examples/sweep_grid.py                    # 2 workers, 1 epoch per cell
    python examples/sweep_grid.py --epochs 5 --workers 2 --out results/my_sweep

The same as writing the grid below into ``grid.toml`` and running ``insitu sweep grid.toml``.
Running it again after a kill redoes only the cells that have no result file yet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from insitu import sweep

GRID = """
dataset = "iris"
epochs = {epochs}
device = ["ecram_organic", "rram_oxide"]
algo = ["pgd", "backprop"]
adc_bits = [6, 10]
seed = [0, 1]

[plot]
rows = "algo"
cols = "device"
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="results/sweep_grid")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid.toml").write_text(GRID.format(epochs=args.epochs))
    grid = sweep.load_grid(out / "grid.toml")
    res = sweep.run_sweep(grid, out, workers=args.workers)
    for row in sweep.table_rows(res):
        print(f"  {row['device']:>14} {row['algo']:>9} adc {row['adc_bits']:>2} bits "
              f"seed {row['seed']}: {row['final_test_acc']:5.1f}%")
    print(f"{len(res.records)} cells: {out / 'sweep.csv'}, {out / 'sweep.png'}")
    return 0 if not res.failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
