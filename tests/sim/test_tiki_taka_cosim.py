"""A short c-TTv2 run through the generated Verilog: the Tiki-Taka family uses only
forward reads (one-hot transfer reads included), rank-1 updates and write-verify, so
RtlBackend and GoldenBackend must agree exactly, read for read and pulse for pulse."""

from __future__ import annotations

from insitu.sim import runner, training


def test_cttv2_training_identical(sim, tmp_path):
    params = training.with_data({"model": "iris", "seed": 0, "device": "rram_oxide",
                                 "samples": 12, "algorithm": "cttv2", "dither": True})
    cfg = training.controller_config(params)
    assert cfg.cols == 22  # C (8 + 3 columns) and A beside it
    bld = runner.build(runner.Design(cfg, host="stream", uart_divisor=8), sim)
    rtl = runner.run(bld, {"task": "train", **params}, test_dir=tmp_path)
    gold = training.golden_run(params)
    assert training.compare(gold, rtl) == []
    # one transfer read per layer and sample on top of 2 forward + 1 transpose read
    assert len(rtl["reads"]) >= 5 * 12
    assert rtl["stats"]["program_reads"] > 0
