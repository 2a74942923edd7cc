"""The command line: help everywhere, one clear line for every bad argument."""

import json
import subprocess
import sys

import pytest

from insitu.cli import build_parser, main
from insitu.golden.fit import DATA_DIR


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "insitu.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_every_command_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"demo", "fit"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("args, word", [
    (["demo", "--epochs", "0"], "--epochs must be an integer in [1, 1000]"),
    (["demo", "--lr", "-1"], "--lr must be in (0.0, 10.0]"),
    (["fit", "/nonexistent.csv"], "does not exist"),
])
def test_bad_arguments_give_one_line(args, word):
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], r.stderr


def test_argparse_errors_exit_2():
    r = run_cli("demo", "--device", "unobtainium")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_demo_writes_results_and_plot(tmp_path):
    r = run_cli("demo", "--epochs", "1", "--device", "ecram_organic", "--out", str(tmp_path),
                "--no-progress")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["runs"]["ecram_organic"]["final_test_acc"] > 50
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "float backprop" in r.stdout


def test_fit_command(tmp_path):
    out = tmp_path / "dev.json"
    r = run_cli("fit", str(DATA_DIR / "rram_like.csv"), "--family", "power", "-o", str(out))
    assert r.returncode == 0, r.stderr
    from insitu.golden.presets import get_device

    dev = get_device(str(out))
    assert dev.family == "power" and dev.gamma_up == pytest.approx(2.0, rel=0.05)


CSV_HEADER = "pulse,polarity,conductance_us\n"


@pytest.mark.parametrize("args, word", [
    (["build", "--board", "nope"], "invalid choice: 'nope'"),
    (["build", "--board", "ulx3s", "--rows", "x"], "invalid int value: 'x'"),
    (["build", "--board", "ulx3s", "--rows", "0"], "rows must be an integer in [1, 256]"),
    (["build", "--board", "icebreaker", "--cols", "300"], "cols must be an integer in [1, 256]"),
    (["board", "nope", "--port", "/dev/null"], "invalid choice: 'nope'"),
    (["board", "ping"], "--port"),
    (["board", "ping", "--port", "/nonexistent/tty"], "cannot open serial port /nonexistent/tty"),
    (["cosim", "--samples", "x"], "--samples must be an integer"),
    (["train", "--epochs", "x"], "epochs"),
])
def test_bad_command_input_gives_one_line(args, word):
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], r.stderr


@pytest.mark.parametrize("text, word", [
    ("", "expected a header 'pulse,polarity,conductance_us'"),
    ("a,b\n1,2\n", "expected a header 'pulse,polarity,conductance_us'"),
    (CSV_HEADER + "1,1,abc\n", ":2: expected pulse,polarity,conductance"),
    (CSV_HEADER + "1,3,2.0\n2,1,2.1\n", ":2: polarity must be -1, 0 or +1, got 3"),
    (CSV_HEADER + "1,1\n", ":2: expected pulse,polarity,conductance"),
])
def test_fit_malformed_csv_gives_one_line(tmp_path, text, word):
    csv = tmp_path / "curve.csv"
    csv.write_text(text)
    r = run_cli("fit", str(csv), "--family", "power")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], r.stderr
