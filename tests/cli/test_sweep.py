"""``insitu sweep`` on a Dask LocalCluster: cells, table, plot, kill-and-resume, dead workers,
bad grid files and a scheduler that does not answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from insitu import sweep
from insitu.cli import main

GRID = """
dataset = "iris"
epochs = 1
hidden = 4
device = ["ecram_organic", "rram_oxide"]
algo = ["pgd", "backprop"]
seed = [0, 1]

[plot]
rows = "algo"
cols = "device"
"""


def write(tmp_path, text, name="grid.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_cells_and_ids(tmp_path):
    grid = sweep.load_grid(write(tmp_path, GRID))
    cells = grid.cells()
    assert len(cells) == 8 and grid.plot == ("algo", "device")
    assert cells[0] == {"dataset": "iris", "epochs": 1, "hidden": 4, "device": "ecram_organic",
                        "algo": "pgd", "seed": 0}
    ids = {sweep.cell_id(c) for c in cells}
    assert len(ids) == 8 and sweep.cell_id(dict(reversed(cells[0].items()))) in ids


def test_sweep_on_two_workers_then_resumes_from_files(tmp_path):
    grid = sweep.load_grid(write(tmp_path, GRID))
    out = tmp_path / "out"
    res = sweep.run_sweep(grid, out, workers=2, progress=False)
    assert (res.ran, res.reused, res.failed) == (8, 0, [])
    assert len({r["worker_pid"] for r in res.records}) == 2  # both workers ran cells
    assert len(list((out / "cells").glob("*.json"))) == 8
    table = json.loads((out / "sweep.json").read_text())
    assert table["finished"] == 8 and len(table["rows"]) == 8
    header = (out / "sweep.csv").read_text().splitlines()[0]
    assert header == ("device,algo,dataset,seed,hidden,epochs,final_test_acc,last3_test_acc,"
                      "pulses,program_reads,seconds,id")
    assert (out / "sweep.png").stat().st_size > 5000
    # the same cell gives the same result in-process (seeded)
    first = res.records[0]
    assert sweep.run_cell(first["cell"])["test_acc"] == first["test_acc"]
    # nothing left to do: no cluster is started, the table is rebuilt from the files
    again = sweep.run_sweep(grid, out, workers=2, progress=False)
    assert (again.ran, again.reused) == (0, 8)
    assert [r["test_acc"] for r in again.records] == [r["test_acc"] for r in res.records]


def test_killed_sweep_resumes_where_it_stopped(tmp_path):
    path = write(tmp_path, GRID.replace("seed = [0, 1]", "seed = [0, 1, 2]"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "insitu.cli", "sweep", str(path), "--out",
                             str(out), "--workers", "1", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and len(list((out / "cells").glob("*.json"))) < 2:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers
        proc.wait()
    finished = len(list((out / "cells").glob("*.json")))
    assert 2 <= finished < 12
    res = sweep.run_sweep(sweep.load_grid(path), out, workers=2, progress=False)
    assert res.reused == finished and res.ran == 12 - finished and not res.failed
    assert len(res.records) == 12


def test_dead_worker_loses_at_most_its_cell(tmp_path):
    grid = sweep.load_grid(write(tmp_path, GRID))
    out = tmp_path / "out"
    killed = []

    def kill_a_worker(rec):
        if not killed:
            killed.append(rec["worker_pid"])
            os.kill(rec["worker_pid"], signal.SIGKILL)

    res = sweep.run_sweep(grid, out, workers=2, progress=False, on_result=kill_a_worker)
    assert killed and len(res.records) + len(res.failed) == 8
    again = sweep.run_sweep(grid, out, workers=2, progress=False)
    assert again.ran == len(res.failed) and len(again.records) == 8


def test_scheduler_that_does_not_answer_fails_in_one_line(tmp_path):
    grid = sweep.load_grid(write(tmp_path, GRID))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"Dask scheduler tcp://127\.0\.0\.1:9 did not answer "
                                         r"within 1 s"):
        sweep.run_sweep(grid, tmp_path / "out", scheduler="tcp://127.0.0.1:9", timeout_s=1,
                        progress=False)
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("text, word", [
    (GRID + "\nfoo = 1\n", "unknown key 'foo'"),
    ("seed = []\n", "axis 'seed' is empty"),
    ('device = ["ecram_organic", "unobtainium"]\n', "device must be one of"),
    ("adc_bits = [10, 40]\n", "adc_bits must be an integer in [2, 24], got 40"),
    ("epochs = 0\n", "epochs must be an integer in [1, 1000]"),
    ('algo = ["pgd", "sgd2"]\n', "algo must be one of"),
    ("lr = -1.0\n", "lr must be"),
    ('mismatch = "yes"\n', "mismatch must be true or false"),
    ("seed = [0, 0]\n", "axis 'seed' repeats a value"),
    ('seed = [0, 1]\n[plot]\nrows = "device"\n', "[plot] rows = 'device' is not an axis"),
    ("seed = [0\n", "not valid TOML"),
])
def test_bad_grid_fails_before_anything_runs(tmp_path, text, word, capsys):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as e:
        sweep.load_grid(path)
    assert word in str(e.value) and "\n" not in str(e.value)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, word", [
    (["--workers", "0"], "--workers must be an integer in [1, 256]"),
    (["--workers", "x"], "--workers must be an integer in [1, 256]"),
    (["--timeout", "-1"], "--timeout must be"),
])
def test_bad_options_one_line(tmp_path, args, word, capsys):
    assert main(["sweep", str(write(tmp_path, GRID)), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0]
