"""A short spiking run through the generated Verilog, neurons in the analog front-end.

Three samples of chip-in-the-loop surrogate-gradient training (5-6-3 on Yin-Yang,
8 time steps, neuron spread 30 %, readout noise; metal-oxide RRAM: read noise on the
column currents, cycle-to-cycle noise on the pulses) plus two classified samples, on
RtlBackend with the golden neuron stage between the simulated columns and the
converters, against GoldenBackend with the same stage attached: identical readout
words (membrane codes and spike flags) of every read, identical pulse bursts
(write-verify steps and the per-time-step rank-1 updates), identical final
conductances, on Verilator and Icarus. The controller resets the neurons before every
sample (NEURON_CONTROL: the analog port's ``neuron.reset`` line, which the front-end
watches) and selects the neuron reads (``neuron.read``); the host never touches the
front-end's neurons.
"""

from __future__ import annotations

from conftest import build_for
from insitu.sim import runner, snn_training, training


def _params(bld, **kw):
    cfg = bld.design.config
    return snn_training.with_snn_data({"array": [cfg.rows, cfg.cols], **kw})


def test_spiking_run_identical(sim, tmp_path):
    bld = build_for(sim)  # the iris design's 9 x 11 array holds the 5-6-3 network
    params = _params(bld, device="rram_oxide", hidden=6, steps=8)
    assert snn_training.snn_config(params) == bld.design.config
    rtl = runner.run(bld, {"task": "snn", **params}, test_dir=tmp_path)
    gold = snn_training.golden_snn_run(params)
    assert training.compare(gold, rtl) == []
    assert rtl["predictions"] == gold["predictions"] and rtl["losses"] == gold["losses"]
    steps = params["steps"] * 2 * (params["samples"] + params["eval"])
    assert len(rtl["reads"]) == steps and rtl["neuron_reads"] == steps  # every read: neurons
    # one controller reset strobe per sample, seen on the port's neuron.reset line
    assert rtl["neuron_resets"] == params["samples"] + params["eval"]
    windows = snn_training.stage_for(params, bld.design.config).windows
    assert snn_training.spikes_in(rtl["reads"], windows) > 0  # spikes and resets compared
    assert rtl["pulse_updates"] > 0  # per-time-step write-back compared
    print({k: rtl[k] for k in ("cycles", "wall_s", "wakes")})
    # the comparison is a checker: a golden chip with another neuron draw differs at a read
    other = snn_training.golden_snn_run({**params, "sigma_d": 0.31})
    diff = training.compare(other, rtl)
    assert diff and "forward ADC read" in diff[0]
    if sim == "verilator":  # the planted fault, once (cheap on Verilator)
        # the reset line not wired to the neurons: the second sample starts from the first
        # one's membranes, and the co-simulation leaves the golden run
        unwired = runner.run(bld, {"task": "snn", **params, "neuron_reset_wired": False},
                             test_dir=tmp_path / "unwired")
        assert unwired["neuron_resets"] == rtl["neuron_resets"]
        diff = training.compare(gold, unwired)
        assert diff and "forward ADC read" in diff[0]


def test_cli_spiking_cosim_bad_input_one_line(capsys):
    from insitu import cli

    assert cli.main(["cosim", "--snn", "--samples", "5000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--samples must be an integer in [1, 1000]" in err[0]


def test_bad_spiking_run_params():
    import pytest

    for kw, name in (({"steps": 0}, "steps"), ({"sigma_d": 2.0}, "sigma_d"),
                     ({"hidden": 0}, "hidden"), ({"lr": 0.0}, "lr")):
        with pytest.raises(ValueError, match=name):
            snn_training.check_snn_params(kw)
    with pytest.raises(ValueError, match="smaller than"):
        snn_training.snn_config(snn_training.with_snn_data({"array": [4, 4]}))
