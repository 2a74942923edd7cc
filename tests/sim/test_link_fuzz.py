"""The short link fuzz (``benchmarks/link_fuzz.py`` runs the long one): random and corrupted
frames in batches on the stream port and the UART pins, every response, the conversions and
the arrays checked against the reference; and the fuzz seen failing on a planted fault."""

from __future__ import annotations

import pytest
from conftest import build_for
from insitu.sim import runner

BASE = {"task": "fuzz", "device": "ecram_organic", "seed": 3}


@pytest.mark.parametrize("host,frames", [("stream", 400), ("uart", 150)])
def test_short_fuzz_finds_nothing(host, frames, tmp_path):
    res = runner.run(build_for("verilator", host), {**BASE, "frames": frames, "fuzz_seed": 7},
                     test_dir=tmp_path)
    assert res["frames"] >= frames
    assert (res["hangs"], res["missing_responses"], res["state_mismatches"]) == (0, 0, 0), res
    assert {"OK", "BAD_CRC", "BAD_OPCODE", "BAD_LENGTH", "BAD_ARG"} <= set(res["statuses"])


def test_fuzz_counts_a_planted_difference(tmp_path):
    """The reference counts every error twice: the periodic STATUS reads differ."""
    res = runner.run(build_for("verilator"), {**BASE, "frames": 300, "fuzz_seed": 7,
                                              "plant": "error_count"}, test_dir=tmp_path)
    assert res["state_mismatches"] > 0 and res["hangs"] == 0
    assert "response byte" in res["first_differences"][0]
