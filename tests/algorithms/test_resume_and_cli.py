import json

import numpy as np
import pytest
from insitu.golden.algorithms.runs import ALGOS, RunOptions, build
from insitu.golden.train import _from_jsonable, _jsonable

from insitu import cli


def _run(opts, stop_after=None, resume_from=None, epochs=2):
    tr, step = build(opts)
    if resume_from is not None:
        tr.load_state_dict(resume_from["trainer"])
        if hasattr(step, "load_state_dict"):
            step.load_state_dict(_from_jsonable(resume_from["algorithm"]))
    tr.run(epochs, progress=False, stop_after=stop_after)
    saved = json.loads(json.dumps({
        "trainer": tr.state_dict(),
        "algorithm": _jsonable(step.state_dict()) if hasattr(step, "state_dict") else None,
    }))
    return tr, saved


@pytest.mark.parametrize("algo", ALGOS)
def test_killed_and_resumed_run_equals_uninterrupted(algo):
    opts = RunOptions(algo=algo, dataset="iris", device="ecram_organic", seed=5,
                      program_every=7)
    full, _ = _run(opts)
    _, saved = _run(opts, stop_after=170)  # mid-way through epoch 2
    resumed, _ = _run(opts, resume_from=saved)
    np.testing.assert_array_equal(full.net.backend.read_weights(),
                                  resumed.net.backend.read_weights())
    assert full.history.test_acc == resumed.history.test_acc
    assert full.net.backend.stats.to_dict() == resumed.net.backend.stats.to_dict()


def test_fixed_seed_runs_are_identical_and_seeds_differ():
    a, _ = _run(RunOptions(algo="pgd", dataset="iris", seed=1), epochs=1)
    b, _ = _run(RunOptions(algo="pgd", dataset="iris", seed=1), epochs=1)
    c, _ = _run(RunOptions(algo="pgd", dataset="iris", seed=2), epochs=1)
    np.testing.assert_array_equal(a.net.backend.read_weights(), b.net.backend.read_weights())
    assert not np.array_equal(a.net.backend.read_weights(), c.net.backend.read_weights())


def test_cli_resume_equals_uninterrupted(tmp_path, capsys):
    full = tmp_path / "full.json"
    part = tmp_path / "part.json"
    base = ["train", "--algo", "pgd", "--dataset", "iris", "--epochs", "2", "--no-progress"]
    assert cli.main(base + ["--save", str(full)]) == 0
    assert cli.main(base + ["--save", str(part), "--stop-after", "150"]) == 0
    assert cli.main(["train", "--save", str(part), "--resume", "--epochs", "2",
                     "--no-progress"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["epochs"] == 2
    f, p = json.loads(full.read_text()), json.loads(part.read_text())
    assert f["results"]["test_acc"] == p["results"]["test_acc"]
    assert f["trainer"]["backend"] == p["trainer"]["backend"]


@pytest.mark.parametrize("argv, needle", [
    (["--algo", "sgd"], "algo must be one of"),
    (["--dataset", "mnist"], "dataset must be one of"),
    (["--device", "nope"], "device must be one of"),
    (["--epochs", "x"], "--epochs must be an integer"),
    (["--lr", "-1"], "lr must be"),
    (["--seed", "1.5"], "--seed must be an integer"),
    (["--algo", "pgd", "--dataset", "braille"], "braille"),
    (["--resume"], "--resume needs --save"),
])
def test_cli_bad_options_give_one_line_and_exit_2(argv, needle, capsys):
    assert cli.main(["train", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("insitu train: error:") and needle in err[0]


def test_cli_resume_rejects_changed_options(tmp_path, capsys):
    run = tmp_path / "r.json"
    assert cli.main(["train", "--dataset", "iris", "--epochs", "1", "--save", str(run),
                     "--no-progress"]) == 0
    assert cli.main(["train", "--save", str(run), "--resume", "--algo", "backprop",
                     "--no-progress"]) == 2
    assert "differs from the saved run" in capsys.readouterr().err


def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    for opt in ("--algo", "--device", "--dataset", "--epochs", "--lr", "--seed", "--save",
                "--resume", "--stop-after", "--instances", "--hidden", "--mismatch"):
        assert opt in out


def test_cli_entry_point_exit_code_and_single_line():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "insitu.cli", "train", "--algo", "nope"],
                       check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    want = f"insitu train: error: algo must be one of {', '.join(ALGOS)}; got 'nope'"
    assert r.stderr.strip().splitlines() == [want]
